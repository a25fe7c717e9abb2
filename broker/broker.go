// Package broker owns NATS: an embedded nats-server with JetStream used as a
// Kafka-style log (topics, keys, offsets, replay, dead letters), and the
// bridge to a central Kafka cluster.
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sync modes of the log's file store.
const (
	SyncAlways   = "always"   // fsync every write before acknowledging it
	SyncInterval = "interval" // fsync in the background every SyncInterval
)

// Headers apron sets on every stored event.
const (
	HeaderEventType = app.LogHeaderEventType
	HeaderEventTime = app.LogHeaderEventTime
)

// Config configures the embedded log.
type Config struct {
	Dir string // JetStream store directory

	// ClientAddr is host:port of the NATS client listener; "" disables it.
	ClientAddr string
	// ClientUser/ClientPassword or ClientToken authenticate external NATS
	// clients. Required when ClientAddr is not a loopback address.
	ClientUser     string
	ClientPassword string
	ClientToken    string
	// CredentialsFile holds the site applications' NATS user, created on
	// first start (default: Dir/nats-credentials.json).
	CredentialsFile string
	TLSCert         string
	TLSKey          string

	Sync         string        // SyncAlways (default) or SyncInterval
	SyncInterval time.Duration // only with SyncInterval

	DuplicateWindow time.Duration // de-duplication by CloudEvents id
	HistoryWindow   time.Duration // state topics: superseded events are kept this long (0 = forever)
	EventTopicAge   time.Duration // rebookings, assist, deadletter: retention (0 = forever)
	MaxBytes        int64         // per topic, 0 = unlimited
	MaxStore        int64         // all topics together on disk, 0 = as the disk allows
	MaxBatch        int           // events per group commit, at most MaxRequestEvents
	// MinFree is the space appends leave free on the log's disk (for the
	// state store, and to recover); below it they are refused with
	// ENOSPACE. 0 turns the check off.
	MinFree int64
	// RecoverInterval is how often a log that cannot write checks whether
	// space has returned.
	RecoverInterval time.Duration

	// Cluster makes this node one of a cluster; the zero value is a
	// single node.
	Cluster ClusterConfig
	// ClusterWait is how long Open waits for the cluster's quorum
	// (default 2m).
	ClusterWait time.Duration
}

// DefaultConfig returns the defaults used by `apron serve`.
func DefaultConfig() Config {
	return Config{
		ClientAddr:      "127.0.0.1:4222",
		Sync:            SyncAlways,
		SyncInterval:    2 * time.Minute,
		DuplicateWindow: 2 * time.Hour,
		HistoryWindow:   7 * 24 * time.Hour,
		EventTopicAge:   30 * 24 * time.Hour,
		MaxBatch:        4000,
		MinFree:         64 << 20,
		RecoverInterval: time.Second,
		ClusterWait:     2 * time.Minute,
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	if c.Dir == "" {
		return app.Errorf(app.EINVALID, "nats.dir: must not be empty")
	}
	switch c.Sync {
	case SyncAlways:
	case SyncInterval:
		if c.SyncInterval <= 0 {
			return app.Errorf(app.EINVALID, "nats.sync_interval: must be positive when nats.sync is %q", SyncInterval)
		}
	default:
		return app.Errorf(app.EINVALID, "nats.sync: must be %q or %q, got %q", SyncAlways, SyncInterval, c.Sync)
	}
	if c.ClientAddr != "" {
		host, port, err := net.SplitHostPort(c.ClientAddr)
		if err != nil {
			return app.Errorf(app.EINVALID, "nats.addr: %q is not host:port: %v", c.ClientAddr, err)
		}
		if _, err := strconv.Atoi(port); err != nil {
			return app.Errorf(app.EINVALID, "nats.addr: port %q is not a number", port)
		}
		if !isLoopback(host) && c.ClientToken == "" && (c.ClientUser == "" || c.ClientPassword == "") {
			return app.Errorf(app.EINVALID, "nats.addr: %q is not a loopback address, so nats.user and nats.password (or nats.token) are required", c.ClientAddr)
		}
		if (c.TLSCert == "") != (c.TLSKey == "") {
			return app.Errorf(app.EINVALID, "nats.tls_cert and nats.tls_key: set both or neither")
		}
	}
	if c.DuplicateWindow < time.Second {
		return app.Errorf(app.EINVALID, "nats.duplicate_window: must be at least 1s")
	}
	if c.HistoryWindow < 0 {
		return app.Errorf(app.EINVALID, "nats.history_window: must not be negative")
	}
	if c.MinFree < 0 {
		return app.Errorf(app.EINVALID, "nats.min_free: must not be negative, got %d", c.MinFree)
	}
	if c.RecoverInterval < 0 {
		return app.Errorf(app.EINVALID, "nats.recover_interval: must not be negative")
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxRequestEvents {
		return app.Errorf(app.EINVALID, "nats.max_batch: must be between 1 and %d, got %d", MaxRequestEvents, c.MaxBatch)
	}
	return c.Cluster.Validate()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Broker is the embedded log. Set Config and Logger, then Open.
type Broker struct {
	Config Config
	Logger *slog.Logger
	Now    func() time.Time

	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// appends parents every commit's wait for the log; FailAppendsAt
	// ends it before the node's shutdown deadline.
	appends     context.Context
	stopAppends context.CancelFunc

	mu         sync.Mutex
	committers map[string]*committer
	tails      map[string]*tail // this node's latest commits per topic; none in a cluster
	sealKey    []byte
	macs       sync.Pool // keyed HMACs of sealKey, set once at open
	creds      Credentials
	storage    storage
}

func (b *Broker) credentialsFile() string {
	if b.Config.CredentialsFile != "" {
		return b.Config.CredentialsFile
	}
	return filepath.Join(b.Config.Dir, "nats-credentials.json")
}

// AppCredentials returns the site applications' NATS user (empty when the
// client port is off).
func (b *Broker) AppCredentials() Credentials { return b.creds }

// New returns a Broker with the given config.
func New(cfg Config) *Broker {
	return &Broker{Config: cfg, Logger: slog.Default(), Now: time.Now}
}

// Open starts the embedded server, connects in-process and creates or
// updates the topics.
func (b *Broker) Open() error {
	internalPass, err := b.prepare()
	if err != nil {
		return err
	}
	if err := b.start(internalPass); err != nil {
		return err
	}
	wait := 30 * time.Second
	if b.Config.Cluster.Clustered() {
		wait = b.Config.ClusterWait
	}
	if err := b.createTopics(wait); err != nil {
		return err
	}
	if b.Config.HistoryWindow > 0 && !b.Config.Cluster.Clustered() {
		b.wg.Add(1)
		go b.compactLoop()
	}
	b.wg.Add(1)
	go b.recoverLoop()
	b.Logger.Info("log open", "dir", b.Config.Dir, "sync", b.Config.Sync, "client_url", b.ClientURL(),
		"cluster", b.Config.Cluster.Name, "node", b.Config.Cluster.NodeName(), "replicas", b.Config.Cluster.Replicas())
	return nil
}

// ClusterLogMarker reports whether the log in dir was written by a node
// of a cluster, and the file that says so (the JetStream meta group's
// store, which a single node never writes).
func ClusterLogMarker(dir string) (string, bool) {
	meta := filepath.Join(dir, "jetstream", "$SYS", "_js_", "_meta_")
	_, err := os.Stat(meta)
	return meta, err == nil
}

// refuseClusterLogAlone refuses to open, as a single node, a log that a
// cluster node wrote: the server would not recover its replicated topics
// and would create empty single-replica topics beside their data.
func (b *Broker) refuseClusterLogAlone() error {
	if b.Config.Cluster.Clustered() {
		return nil
	}
	if meta, ok := ClusterLogMarker(b.Config.Dir); ok {
		return app.Errorf(app.EINVALID, "log %s belongs to a node of a cluster (%s exists): it opens only with its cluster settings "+
			"(cluster.name, cluster.peers, cluster.secret_file), not as a single node", b.Config.Dir, meta)
	}
	return nil
}

// prepare checks the config, creates the log's directory and loads its
// seal key; it returns the in-process connection's password, made anew at
// every start.
func (b *Broker) prepare() (string, error) {
	if err := b.Config.Validate(); err != nil {
		return "", err
	}
	b.Logger = b.Logger.With("subsystem", "broker")
	if b.Config.RecoverInterval == 0 {
		b.Config.RecoverInterval = time.Second
	}
	if err := os.MkdirAll(b.Config.Dir, 0o750); err != nil {
		return "", fmt.Errorf("create log dir: %w", err)
	}
	if err := b.refuseClusterLogAlone(); err != nil {
		return "", err
	}
	internalPass, err := randomToken()
	if err != nil {
		return "", err
	}
	// A cluster node's seal key is derived from the cluster's secret
	// (serverOptions): a random key of its own in the log's directory would
	// be unused, and a backup would carry it as if it mattered.
	if !b.Config.Cluster.Clustered() {
		if b.sealKey, err = loadSealKey(b.Config.Dir); err != nil {
			return "", err
		}
	}
	return internalPass, nil
}

// start runs the embedded server and connects to it in-process.
func (b *Broker) start(internalPass string) error {
	opts, err := b.serverOptions(internalPass)
	if err != nil {
		return err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("new nats server: %w", err)
	}
	srv.SetLoggerV2(&natsLogger{l: b.Logger, onWriteError: b.noteWriteError}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return app.Errorf(app.EUNAVAILABLE, "nats server not ready after 30s (is %s in use?)", b.Config.ClientAddr)
	}
	b.srv = srv
	copts := []nats.Option{nats.InProcessServer(srv), nats.Name("apron"), nats.MaxReconnects(-1), nats.UserInfo("apron-internal", internalPass)}
	nc, err := nats.Connect("", copts...)
	if err != nil {
		srv.Shutdown()
		return fmt.Errorf("connect in-process: %w", err)
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.appends, b.stopAppends = context.WithCancel(b.ctx)
	b.committers = map[string]*committer{}
	b.tails = map[string]*tail{}
	return nil
}

// tailOf returns topic's tail, nil until a reader asked for it (or in a
// cluster, where the appends are spread over the nodes and each reads
// through its consumers: decision 0031).
func (b *Broker) tailOf(topic string) *tail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tails[topic]
}

// readerTail returns topic's tail for a new reader, made on first use;
// nil in a cluster.
func (b *Broker) readerTail(topic string) *tail {
	if b.Config.Cluster.Clustered() {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tails[topic]
	if !ok {
		cfg := b.streamConfig(topic)
		t = newTail(cfg.MaxBytes, cfg.MaxAge)
		b.tails[topic] = t
	}
	return t
}

// forgetTails empties every tail (the log restarted and may have lost
// what it had not made durable).
func (b *Broker) forgetTails() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.tails {
		t.clear()
	}
}

// FailAppendsAt makes every append still waiting for the log at t fail
// (EUNAVAILABLE, "may or may not be stored") and every later one fail at
// once. A node shutting down while its cluster has no quorum answers its
// callers, and its stages stop, within its shutdown deadline instead of
// each waiting out the log's 30 s for a quorum that is not coming back.
func (b *Broker) FailAppendsAt(t time.Time) {
	if b.stopAppends == nil {
		return
	}
	time.AfterFunc(time.Until(t), b.stopAppends)
}

// serverOptions are the embedded server's options: JetStream on the log's
// directory, the client listener (or none) and its users.
func (b *Broker) serverOptions(internalPass string) (*server.Options, error) {
	opts := &server.Options{
		JetStream:             true,
		StoreDir:              b.Config.Dir,
		NoSigs:                true,
		NoLog:                 true,
		SyncAlways:            b.Config.Sync == SyncAlways,
		SyncInterval:          b.Config.SyncInterval,
		MaxPayload:            maxPayload,
		JetStreamMaxMemory:    jetStreamMaxMemory,
		JetStreamMaxStore:     b.maxStore(),
		DisableShortFirstPing: true,
	}
	// A request is stored as one atomic batch, however many events it has.
	opts.JetStreamLimits.MaxBatchSize = MaxRequestEvents
	switch {
	case b.Config.ClientAddr == "" && b.Config.Cluster.Clustered():
		// The server's DontListen turns off the route listener too, and
		// a node without routes never reaches its quorum: a clustered
		// node without a client address listens on a random loopback port
		// (its users still need their passwords).
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	case b.Config.ClientAddr == "":
		opts.DontListen = true
	default:
		host, port, _ := net.SplitHostPort(b.Config.ClientAddr)
		opts.Host = host
		opts.Port, _ = strconv.Atoi(port)
		if opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	secret, err := b.clusterOptions(opts)
	if err != nil {
		return nil, err
	}
	// A cluster's nodes trust each other's seals: the key comes from the
	// shared secret instead of the node's own file.
	if secret != nil {
		b.sealKey = derive(secret, "seal")
	}
	users, err := b.users(internalPass, secret)
	if err != nil {
		return nil, err
	}
	opts.Users = users
	if b.Config.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(b.Config.TLSCert, b.Config.TLSKey)
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "nats.tls_cert: %v", err)
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		opts.TLS = true
		opts.AllowNonTLS = false
		opts.TLSHandshakeFirst = false
	}
	return opts, nil
}

// users are the NATS port's users. The port always needs credentials: the
// in-process connection uses a password made at every start, site
// applications the app user of the credentials file (made on first start)
// or the configured nats.user / nats.token. Only the node administers the
// log.
func (b *Broker) users(internalPass string, secret []byte) ([]*server.User, error) {
	users := []*server.User{{Username: "apron-internal", Password: internalPass}}
	if b.Config.ClientAddr == "" {
		return users, nil
	}
	var err error
	if b.creds, err = loadCredentials(b.credentialsFile(), appPassword(secret)); err != nil {
		return nil, err
	}
	users = append(users, &server.User{Username: b.creds.User, Password: b.creds.Password, Permissions: appPermissions()})
	if b.Config.ClientUser != "" {
		users = append(users, &server.User{Username: b.Config.ClientUser, Password: b.Config.ClientPassword, Permissions: appPermissions()})
	}
	if b.Config.ClientToken != "" {
		// nats-server does not combine token and user auth; a token
		// becomes the password of a user named "token".
		users = append(users, &server.User{Username: "token", Password: b.Config.ClientToken, Permissions: appPermissions()})
	}
	return users, nil
}

func (b *Broker) streamConfig(topic string) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:               topic,
		Subjects:           []string{topic + ".>"},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Discard:            jetstream.DiscardOld,
		Duplicates:         b.Config.DuplicateWindow,
		AllowDirect:        true,
		AllowAtomicPublish: true,
		MaxBytes:           -1,
		MaxMsgs:            -1,
		MaxMsgsPerSubject:  -1,
		Replicas:           b.Config.Cluster.Replicas(),
	}
	if b.Config.MaxBytes > 0 {
		cfg.MaxBytes = b.Config.MaxBytes
	}
	if !app.KeptForever(topic) {
		cfg.MaxAge = b.Config.EventTopicAge
	}
	return cfg
}

// Close stops the committers, drains the connection and shuts the server down.
func (b *Broker) Close(ctx context.Context) error {
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	if b.nc != nil {
		_ = b.nc.Drain()
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		done := make(chan struct{})
		go func() { b.srv.WaitForShutdown(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// ClientURL returns the URL external NATS clients connect to, or "".
func (b *Broker) ClientURL() string {
	if b.srv == nil || b.Config.ClientAddr == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// JetStream exposes the in-process JetStream context to other adapters in
// this package (the bridge) and to tests.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Server exposes the embedded nats-server to tests (a test stops it to
// take a node out of its cluster as a crash would).
func (b *Broker) Server() *server.Server { return b.srv }

// Conn exposes the in-process NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.nc }

func randomToken() (string, error) {
	var buf [24]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(buf[:]), nil
}

// jetStreamMaxMemory bounds the server's memory streams (apron has none;
// atomic batches are staged there).
const jetStreamMaxMemory = 256 << 20

// natsLogger routes nats-server logs into slog, and its reports of failed
// writes to onWriteError: the server does not answer a publish whose store
// failed, so its log line is the first (and only) news of it.
type natsLogger struct {
	l            *slog.Logger
	onWriteError func(msg string)
}

func (n *natsLogger) Noticef(format string, v ...any) { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Warnf(format string, v ...any) {
	n.report(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (n *natsLogger) Fatalf(format string, v ...any) {
	n.report(slog.LevelError, fmt.Sprintf(format, v...))
}
func (n *natsLogger) Errorf(format string, v ...any) {
	n.report(slog.LevelError, fmt.Sprintf(format, v...))
}

func (n *natsLogger) report(level slog.Level, msg string) {
	n.l.Log(context.Background(), level, msg)
	if n.onWriteError != nil && isWriteErrorReport(msg) {
		n.onWriteError(msg)
	}
}
func (n *natsLogger) Debugf(format string, v ...any) {}
func (n *natsLogger) Tracef(format string, v ...any) {}
