package node

import (
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/inference"
)

// Config is the node's whole configuration. Values come from defaults, then
// a JSON file (--config or APRON_CONFIG), then APRON_* environment
// variables, then flags; later sources win.
type Config struct {
	Data     string `json:"data"`      // one directory holds everything
	HTTP     string `json:"http"`      // console and API listen address
	Hub      string `json:"hub"`       // IATA code of this site
	TimeZone string `json:"time_zone"` // IANA zone of the site, for the console
	LogLevel string `json:"log_level"`
	MaxBody  int64  `json:"max_body_bytes"`
	TLSCert  string `json:"tls_cert"` // console and API over HTTPS when both are set
	TLSKey   string `json:"tls_key"`

	// MaxFutureSkew is how far ahead of this node's clock an event's time
	// may be; later ones are refused (a future time would win over every
	// real update of its key).
	MaxFutureSkew Duration `json:"max_future_skew"`

	// FreshnessBound is the age beyond which a stage lags: answers that
	// draw on it warn, and the console shows a banner.
	FreshnessBound Duration `json:"freshness_bound"`

	NATS struct {
		Addr            string   `json:"addr"`
		User            string   `json:"user"`
		Password        string   `json:"password"`
		Token           string   `json:"token"`
		TLSCert         string   `json:"tls_cert"`
		TLSKey          string   `json:"tls_key"`
		Sync            string   `json:"sync"`
		SyncInterval    Duration `json:"sync_interval"`
		DuplicateWindow Duration `json:"duplicate_window"`
		HistoryWindow   Duration `json:"history_window"`
		MaxBytes        int64    `json:"max_bytes"`
		// MinFree is the disk space (bytes) the log leaves free: below it
		// ingest answers 507 until space returns. 0 turns the check off.
		MinFree int64 `json:"min_free"`
	} `json:"nats"`

	Ollama struct {
		URL        string   `json:"url"`         // empty: no model; proposals keep the rules' choice
		ChatModel  string   `json:"chat_model"`  // ranks and explains proposals
		EmbedModel string   `json:"embed_model"` // embeds documents for retrieval
		Timeout    Duration `json:"timeout"`     // per model call
		MaxTokens  int      `json:"max_tokens"`  // per answer
		// AskTimeout bounds a staff question: retrieval, queueing and the
		// model's summary. The first answer never waits for the model.
		AskTimeout Duration `json:"ask_timeout"`
		// Serve: apron starts and supervises `ollama serve` on URL's
		// host:port (a loopback URL with a port) instead of using an
		// external server; see docs/decisions/0010-supervised-ollama.md.
		Serve     bool   `json:"serve"`
		Binary    string `json:"binary"`     // the ollama executable, a path or a name in PATH
		ModelsDir string `json:"models_dir"` // OLLAMA_MODELS; default DATA/ollama/models
	} `json:"ollama"`

	// Cluster makes this node one of several sharing one replicated log
	// (docs/decisions/0024); empty name: a single node.
	Cluster struct {
		Name       string   `json:"name"`        // the same on every node
		Listen     string   `json:"listen"`      // this node's route listener, host:port
		Peers      []string `json:"peers"`       // the nodes' route listeners, host:port
		Node       string   `json:"node"`        // this node's name, unique (default from listen)
		SecretFile string   `json:"secret_file"` // the shared secret, the same file on every node
		LeaseTTL   Duration `json:"lease_ttl"`   // the singleton lease without renewal
	} `json:"cluster"`

	Kafka struct {
		Brokers          []string `json:"brokers"` // empty: the bridge is off
		Site             string   `json:"site"`    // default: the hub in lower case
		Naming           string   `json:"naming"`  // prefix (fra.rebookings) or identity
		Group            string   `json:"group"`
		TLSCA            string   `json:"tls_ca"`
		TLSCert          string   `json:"tls_cert"`
		TLSKey           string   `json:"tls_key"`
		SASLMechanism    string   `json:"sasl_mechanism"`
		SASLUser         string   `json:"sasl_user"`
		SASLPassword     string   `json:"sasl_password"`
		AutoCreateTopics bool     `json:"auto_create_topics"`
		MaxEventBytes    int      `json:"max_event_bytes"` // larger inbound events go to the dead letters
	} `json:"kafka"`

	Index struct {
		// Quantize: "binary" scans 1-bit vectors first and rescores the best
		// k*oversample with the float vectors; "none" searches exactly.
		Quantize   string `json:"quantize"`
		Oversample int    `json:"oversample"`
		// Shards splits the vectors of a new embedding model into this many
		// partitions searched in parallel (0: the CPUs, at most 4).
		Shards int `json:"shards"`
	} `json:"index"`

	// Rebooking holds the rules of rebooking options (app.RebookRules);
	// docs/decisions/0005-rebooking-options.md says how they apply.
	Rebooking struct {
		MCT               Duration            `json:"mct"`                 // minimum connection time where no airport says otherwise
		MCTByAirport      map[string]Duration `json:"mct_by_airport"`      // per-airport minimum connection time
		WCHRExtra         Duration            `json:"wchr_extra"`          // added for wheelchair passengers
		MCTWCHRByAirport  map[string]Duration `json:"mct_wchr_by_airport"` // an airport's own minimum for wheelchair passengers
		MaxConnection     Duration            `json:"max_connection"`
		Window            Duration            `json:"window"`          // how long after the earliest time an option may leave
		Lead              Duration            `json:"lead"`            // an option leaves at least this long after planning
		BoardingMargin    Duration            `json:"boarding_margin"` // boarding closes this long before departure
		CabinSubstitution bool                `json:"cabin_substitution"`
	} `json:"rebooking"`

	Demo struct {
		Seed       uint64  `json:"seed"`
		Speed      float64 `json:"speed"`
		Departures int     `json:"departures"`
		// NewPassword gives a resumed demo's admin a new password (a
		// first start always prints one).
		NewPassword bool `json:"new_password"`
	} `json:"demo"`
}

// Duration is a time.Duration that reads "90s" or "2h" from JSON.
type Duration time.Duration

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// DefaultConfig returns defaults that work out of the box on one machine.
func DefaultConfig() Config {
	var c Config
	c.Data = "data"
	c.HTTP = "127.0.0.1:8080"
	c.Hub = "FRA"
	c.TimeZone = "Europe/Berlin"
	c.LogLevel = "info"
	c.MaxBody = 16 << 20
	c.MaxFutureSkew = Duration(5 * time.Minute)
	c.FreshnessBound = Duration(30 * time.Second)
	bc := broker.DefaultConfig()
	c.NATS.Addr = bc.ClientAddr
	c.NATS.Sync = bc.Sync
	c.NATS.SyncInterval = Duration(bc.SyncInterval)
	c.NATS.DuplicateWindow = Duration(bc.DuplicateWindow)
	c.NATS.HistoryWindow = Duration(bc.HistoryWindow)
	c.NATS.MinFree = bc.MinFree
	c.Cluster.LeaseTTL = Duration(5 * time.Second)
	c.Ollama.URL = "http://127.0.0.1:11434"
	c.Ollama.ChatModel = "gemma3:270m"
	c.Ollama.EmbedModel = "all-minilm:l6-v2"
	c.Ollama.Timeout = Duration(60 * time.Second)
	c.Ollama.AskTimeout = Duration(20 * time.Second)
	c.Ollama.MaxTokens = 320
	c.Index.Quantize = "none"
	c.Index.Oversample = 8
	c.Ollama.Binary = "ollama"
	r := app.DefaultRebookRules()
	c.Rebooking.MCT, c.Rebooking.WCHRExtra = Duration(r.DefaultMCT), Duration(r.WCHRExtra)
	c.Rebooking.MaxConnection, c.Rebooking.Window = Duration(r.MaxConnection), Duration(r.Window)
	c.Rebooking.Lead, c.Rebooking.BoardingMargin = Duration(r.Lead), Duration(r.BoardingMargin)
	c.Demo.Seed = 1
	c.Demo.Speed = 60
	c.Demo.Departures = 300
	return c
}

// Validator returns the event validator of this node's ingest paths: the
// contract's schemas and the max_future_skew on the wall clock.
func (c *Config) Validator() *app.Validator {
	return app.DefaultValidator().WithFutureSkew(time.Duration(c.MaxFutureSkew), time.Now, "max_future_skew")
}

// Validate reports the first invalid field by name.
func (c *Config) Validate() error {
	if c.Data == "" {
		return app.Errorf(app.EINVALID, "data: must not be empty")
	}
	if c.HTTP == "" || !strings.Contains(c.HTTP, ":") {
		return app.Errorf(app.EINVALID, "http: must be host:port, got %q", c.HTTP)
	}
	if len(c.Hub) != 3 || strings.ToUpper(c.Hub) != c.Hub {
		return app.Errorf(app.EINVALID, "hub: must be a three-letter IATA code in capitals, got %q", c.Hub)
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil {
		return app.Errorf(app.EINVALID, "time_zone: %v", err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return app.Errorf(app.EINVALID, "log_level: must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.Index.Quantize != "none" && c.Index.Quantize != "binary" {
		return app.Errorf(app.EINVALID, "index.quantize: must be none or binary, got %q", c.Index.Quantize)
	}
	if c.Index.Oversample < 1 || c.Index.Oversample > 100 {
		return app.Errorf(app.EINVALID, "index.oversample: must be between 1 and 100, got %d", c.Index.Oversample)
	}
	if c.Index.Shards < 0 || c.Index.Shards > 16 {
		return app.Errorf(app.EINVALID, "index.shards: must be between 0 (one per CPU) and 16, got %d", c.Index.Shards)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return app.Errorf(app.EINVALID, "tls_cert and tls_key: set both or neither")
	}
	if c.MaxBody < 1024 {
		return app.Errorf(app.EINVALID, "max_body_bytes: must be at least 1024, got %d", c.MaxBody)
	}
	if c.MaxFutureSkew < Duration(time.Second) {
		return app.Errorf(app.EINVALID, "max_future_skew: must be at least 1s, got %s", time.Duration(c.MaxFutureSkew))
	}
	if c.FreshnessBound < Duration(time.Second) {
		return app.Errorf(app.EINVALID, "freshness_bound: must be at least 1s, got %s", time.Duration(c.FreshnessBound))
	}
	if c.Ollama.URL != "" && !strings.HasPrefix(c.Ollama.URL, "http://") && !strings.HasPrefix(c.Ollama.URL, "https://") {
		return app.Errorf(app.EINVALID, "ollama.url: must be an http:// or https:// URL, got %q", c.Ollama.URL)
	}
	if c.Ollama.MaxTokens < 16 || c.Ollama.MaxTokens > 4096 {
		return app.Errorf(app.EINVALID, "ollama.max_tokens: must be between 16 and 4096, got %d", c.Ollama.MaxTokens)
	}
	if c.Ollama.AskTimeout <= 0 || time.Duration(c.Ollama.AskTimeout) > 10*time.Minute {
		return app.Errorf(app.EINVALID, "ollama.ask_timeout: must be between 1s and 10m, got %s", time.Duration(c.Ollama.AskTimeout))
	}
	if c.Ollama.Serve {
		if c.Ollama.URL == "" {
			return app.Errorf(app.EINVALID, "ollama.url: must be set when ollama.serve is on; apron serves on its host:port")
		}
		if _, err := inference.ServeAddr(c.Ollama.URL); err != nil {
			return app.Errorf(app.EINVALID, "ollama.url: with ollama.serve, %s", app.ErrorMessage(err))
		}
		if c.Ollama.Binary == "" {
			return app.Errorf(app.EINVALID, "ollama.binary: must not be empty when ollama.serve is on")
		}
		if _, err := exec.LookPath(c.Ollama.Binary); err != nil {
			return app.Errorf(app.EINVALID, "ollama.binary: %q is not an executable file (give a path, or put ollama in PATH)", c.Ollama.Binary)
		}
	}
	if err := c.RebookRules().Validate(); err != nil {
		return err
	}
	if c.Demo.Speed <= 0 {
		return app.Errorf(app.EINVALID, "demo.speed: must be positive, got %v", c.Demo.Speed)
	}
	bc := c.BrokerConfig()
	if err := bc.Validate(); err != nil {
		return err
	}
	if len(c.Kafka.Brokers) > 0 {
		kc := c.BridgeConfig()
		if err := kc.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// RebookRules derives the rebooking rules.
func (c *Config) RebookRules() app.RebookRules {
	r := app.RebookRules{DefaultMCT: time.Duration(c.Rebooking.MCT), WCHRExtra: time.Duration(c.Rebooking.WCHRExtra),
		MaxConnection: time.Duration(c.Rebooking.MaxConnection), Window: time.Duration(c.Rebooking.Window), Lead: time.Duration(c.Rebooking.Lead),
		BoardingMargin: time.Duration(c.Rebooking.BoardingMargin), CabinSubstitution: c.Rebooking.CabinSubstitution}
	durations := func(m map[string]Duration) map[string]time.Duration {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]time.Duration, len(m))
		for k, v := range m {
			out[k] = time.Duration(v)
		}
		return out
	}
	r.MinConnection, r.MinConnectionWCHR = durations(c.Rebooking.MCTByAirport), durations(c.Rebooking.MCTWCHRByAirport)
	return r
}

// BridgeConfig derives the Kafka bridge's configuration.
func (c *Config) BridgeConfig() broker.BridgeConfig {
	site := c.Kafka.Site
	if site == "" {
		site = strings.ToLower(c.Hub)
	}
	kc := broker.DefaultBridgeConfig(site)
	kc.Brokers = c.Kafka.Brokers
	if c.Kafka.Naming != "" {
		kc.RemoteNaming = c.Kafka.Naming
	}
	kc.Group = c.Kafka.Group
	kc.TLSCAFile, kc.TLSCertFile, kc.TLSKeyFile = c.Kafka.TLSCA, c.Kafka.TLSCert, c.Kafka.TLSKey
	kc.SASLMechanism, kc.SASLUser, kc.SASLPassword = c.Kafka.SASLMechanism, c.Kafka.SASLUser, c.Kafka.SASLPassword
	kc.AutoCreateTopics = c.Kafka.AutoCreateTopics
	kc.MaxEventBytes = c.Kafka.MaxEventBytes
	return kc
}

// BrokerConfig derives the log's configuration.
func (c *Config) BrokerConfig() broker.Config {
	bc := broker.DefaultConfig()
	bc.Dir = filepath.Join(c.Data, "log")
	bc.CredentialsFile = filepath.Join(c.Data, "nats-credentials.json")
	bc.ClientAddr = c.NATS.Addr
	bc.ClientUser, bc.ClientPassword, bc.ClientToken = c.NATS.User, c.NATS.Password, c.NATS.Token
	bc.TLSCert, bc.TLSKey = c.NATS.TLSCert, c.NATS.TLSKey
	bc.Sync = c.NATS.Sync
	bc.SyncInterval = time.Duration(c.NATS.SyncInterval)
	bc.DuplicateWindow = time.Duration(c.NATS.DuplicateWindow)
	bc.HistoryWindow = time.Duration(c.NATS.HistoryWindow)
	bc.MaxBytes = c.NATS.MaxBytes
	bc.MinFree = c.NATS.MinFree
	bc.Cluster = broker.ClusterConfig{Name: c.Cluster.Name, Listen: c.Cluster.Listen, Peers: c.Cluster.Peers,
		Node: c.Cluster.Node, SecretFile: c.Cluster.SecretFile, LeaseTTL: time.Duration(c.Cluster.LeaseTTL)}
	return bc
}

// OllamaServer derives the supervised Ollama server; use it only when
// ollama.serve is on. Its output goes to DATA/ollama/serve.log.
func (c *Config) OllamaServer(logger *slog.Logger) *inference.Server {
	models := c.Ollama.ModelsDir
	if models == "" {
		models = filepath.Join(c.Data, "ollama", "models")
	}
	return &inference.Server{Binary: c.Ollama.Binary, URL: c.Ollama.URL, ModelsDir: models,
		LogPath: filepath.Join(c.Data, "ollama", "serve.log"), Logger: logger}
}

// StatePath is the state store's database file.
func (c *Config) StatePath() string { return filepath.Join(c.Data, "state.db") }

// LoadConfig applies file, environment and flags over the defaults. args
// are the subcommand's arguments.
func LoadConfig(name string, args []string) (Config, *flag.FlagSet, error) {
	return LoadConfigWithFlags(name, args, nil)
}

// LoadConfigWithFlags is LoadConfig for a command that has flags of its
// own: extra defines them on the flag set before it is parsed.
func LoadConfigWithFlags(name string, args []string, extra func(*flag.FlagSet)) (Config, *flag.FlagSet, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	configPath := fs.String("config", os.Getenv("APRON_CONFIG"), "JSON config file (env APRON_CONFIG)")
	// Parse once to find --config; flags are applied after file and env.
	// The defaults shown by -h are the built-in ones; a file or the
	// environment may change them, and a flag given wins over both.
	data := fs.String("data", c.Data, "data directory (env APRON_DATA)")
	httpAddr := fs.String("http", c.HTTP, "console and API address (env APRON_HTTP)")
	natsAddr := fs.String("nats", c.NATS.Addr, "NATS client address, empty to disable (env APRON_NATS)")
	hub := fs.String("hub", c.Hub, "IATA code of this site (env APRON_HUB)")
	tz := fs.String("tz", c.TimeZone, "IANA time zone of this site (env APRON_TZ)")
	logLevel := fs.String("log-level", c.LogLevel, "debug, info, warn or error (env APRON_LOG_LEVEL)")
	syncMode := fs.String("sync", c.NATS.Sync, "log durability: always (fsync each write) or interval (env APRON_SYNC)")
	seed := fs.Uint64("seed", c.Demo.Seed, "demo: simulation seed")
	speed := fs.Float64("speed", c.Demo.Speed, "demo: simulated seconds per real second")
	deps := fs.Int("departures", c.Demo.Departures, "demo: departures (and arrivals) of the simulated day")
	newPassword := fs.Bool("new-password", c.Demo.NewPassword, "demo: give the admin of a resumed day a new password")
	kafka := fs.String("kafka", strings.Join(c.Kafka.Brokers, ","), "central Kafka brokers, comma-separated; empty: bridge off (env APRON_KAFKA_BROKERS)")
	cluster := fs.String("cluster", c.Cluster.Name, "cluster name, the same on every node; empty: a single node (env APRON_CLUSTER)")
	peers := fs.String("peers", "", "the cluster's route addresses host:port, comma-separated (env APRON_CLUSTER_PEERS)")
	clusterListen := fs.String("cluster-listen", "", "this node's route address host:port (env APRON_CLUSTER_LISTEN)")
	nodeName := fs.String("node", "", "this node's name in the cluster (default from --cluster-listen; env APRON_NODE)")
	secretFile := fs.String("cluster-secret", "", "file with the cluster's shared secret, the same on every node (env APRON_CLUSTER_SECRET_FILE)")
	if err := fs.Parse(args); err != nil {
		return c, fs, err
	}
	if *configPath != "" {
		if err := c.applyFile(*configPath); err != nil {
			return c, fs, err
		}
	}
	if err := c.applyEnv(); err != nil {
		return c, fs, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["data"] {
		c.Data = *data
	}
	if set["http"] {
		c.HTTP = *httpAddr
	}
	if set["nats"] {
		c.NATS.Addr = *natsAddr
	}
	if set["hub"] {
		c.Hub = *hub
	}
	if set["tz"] {
		c.TimeZone = *tz
	}
	if set["log-level"] {
		c.LogLevel = *logLevel
	}
	if set["sync"] {
		c.NATS.Sync = *syncMode
	}
	if set["seed"] {
		c.Demo.Seed = *seed
	}
	if set["speed"] {
		c.Demo.Speed = *speed
	}
	if set["departures"] {
		c.Demo.Departures = *deps
	}
	if set["new-password"] {
		c.Demo.NewPassword = *newPassword
	}
	if set["kafka"] {
		c.Kafka.Brokers = splitList(*kafka)
	}
	if set["cluster"] {
		c.Cluster.Name = *cluster
	}
	if set["peers"] {
		c.Cluster.Peers = splitList(*peers)
	}
	if set["cluster-listen"] {
		c.Cluster.Listen = *clusterListen
	}
	if set["node"] {
		c.Cluster.Node = *nodeName
	}
	if set["cluster-secret"] {
		c.Cluster.SecretFile = *secretFile
	}
	if err := c.Validate(); err != nil {
		return c, fs, err
	}
	return c, fs, nil
}

// applyFile decodes the JSON file at path over c; unknown fields are errors.
func (c *Config) applyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return app.Errorf(app.EINVALID, "config: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return app.Errorf(app.EINVALID, "config %s: %v", path, err)
	}
	return nil
}

// applyEnv applies the APRON_* environment variables that are set over c.
func (c *Config) applyEnv() error {
	env := func(key string, dst *string) {
		if v, ok := os.LookupEnv(key); ok {
			*dst = v
		}
	}
	env("APRON_DATA", &c.Data)
	env("APRON_HTTP", &c.HTTP)
	env("APRON_NATS", &c.NATS.Addr)
	env("APRON_HUB", &c.Hub)
	env("APRON_TZ", &c.TimeZone)
	env("APRON_LOG_LEVEL", &c.LogLevel)
	env("APRON_SYNC", &c.NATS.Sync)
	env("APRON_NATS_USER", &c.NATS.User)
	env("APRON_NATS_PASSWORD", &c.NATS.Password)
	env("APRON_NATS_TOKEN", &c.NATS.Token)
	env("APRON_TLS_CERT", &c.TLSCert)
	env("APRON_TLS_KEY", &c.TLSKey)
	env("APRON_OLLAMA_URL", &c.Ollama.URL)
	env("APRON_CHAT_MODEL", &c.Ollama.ChatModel)
	env("APRON_EMBED_MODEL", &c.Ollama.EmbedModel)
	env("APRON_INDEX_QUANTIZE", &c.Index.Quantize)
	env("APRON_OLLAMA_BIN", &c.Ollama.Binary)
	env("APRON_OLLAMA_MODELS", &c.Ollama.ModelsDir)
	if v, ok := os.LookupEnv("APRON_OLLAMA_SERVE"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return app.Errorf(app.EINVALID, "APRON_OLLAMA_SERVE: want true or false, got %q", v)
		}
		c.Ollama.Serve = b
	}
	env("APRON_KAFKA_SASL_USER", &c.Kafka.SASLUser)
	env("APRON_KAFKA_SASL_PASSWORD", &c.Kafka.SASLPassword)
	env("APRON_CLUSTER", &c.Cluster.Name)
	env("APRON_CLUSTER_LISTEN", &c.Cluster.Listen)
	env("APRON_NODE", &c.Cluster.Node)
	env("APRON_CLUSTER_SECRET_FILE", &c.Cluster.SecretFile)
	if v, ok := os.LookupEnv("APRON_CLUSTER_PEERS"); ok {
		c.Cluster.Peers = splitList(v)
	}
	if v, ok := os.LookupEnv("APRON_KAFKA_BROKERS"); ok {
		c.Kafka.Brokers = splitList(v)
	}
	if v, ok := os.LookupEnv("APRON_MAX_BODY_BYTES"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return app.Errorf(app.EINVALID, "APRON_MAX_BODY_BYTES: %v", err)
		}
		c.MaxBody = n
	}
	return nil
}

// NewLogger returns the text logger on standard error at level (log_level:
// debug, info, warn or error; anything else is info).
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func (c Config) String() string {
	return fmt.Sprintf("data=%s http=%s nats=%s hub=%s sync=%s cluster=%s", c.Data, c.HTTP, c.NATS.Addr, c.Hub, c.NATS.Sync, c.Cluster.Name)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
