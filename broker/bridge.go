package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Remote naming policies: how a forwarded local topic is named on Kafka.
const (
	RemoteNamePrefix   = "prefix"   // <site>.<topic>, e.g. fra.rebookings
	RemoteNameIdentity = "identity" // <topic>
)

// SASL mechanisms the bridge speaks.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Headers of the bridge. On Kafka records the bridge writes HeaderOrigin,
// HeaderOriginTopic and HeaderOriginOffset; on local entries mirrored from
// Kafka it writes the Kafka-* provenance headers and keeps every Kafka
// header under HeaderKafkaHeaderPrefix.
const (
	HeaderOrigin            = "apron-origin"          // Kafka: the site that produced the record
	HeaderOriginTopic       = "apron-topic"           // Kafka: the local topic it came from
	HeaderOriginOffset      = "apron-offset"          // Kafka: its offset in that local topic
	HeaderKafkaTopic        = app.LogHeaderKafkaTopic // local: the Kafka topic it came from
	HeaderKafkaPartition    = "Kafka-Partition"       // local
	HeaderKafkaOffset       = "Kafka-Offset"          // local
	HeaderKafkaTimestamp    = "Kafka-Timestamp"       // local: record timestamp, RFC 3339
	HeaderKafkaKey          = "Kafka-Key"             // local: the record key
	HeaderKafkaHeaderPrefix = "Kafka-Header-"         // local: one per Kafka header
	HeaderKafkaBinary       = "Kafka-Binary-Mode"     // local: "true" when converted from ce_ headers
	bridgeHeartbeatTopic    = "heartbeats"            // remote name via RemoteName
	bridgeEventSource       = "apron/bridge"          // source of dead letters the bridge writes
	bridgeContentType       = "application/cloudevents+json"
)

// BridgeConfig configures the mirror between the local log and a central
// Kafka cluster.
type BridgeConfig struct {
	Brokers []string // seed brokers, host:port
	Site    string   // this site's name, e.g. "fra"; lower case letters, digits, '-' and '_'

	// Inbound maps a Kafka topic to the local topic its records are
	// mirrored into, e.g. "flights" -> app.TopicFlights.
	Inbound map[string]string
	// Outbound lists the local topics forwarded to Kafka.
	Outbound []string
	// RemoteNaming is RemoteNamePrefix (default) or RemoteNameIdentity.
	RemoteNaming string
	// RemoteName overrides RemoteNaming when set.
	RemoteName func(site, topic string) string

	Group string // consumer group id, default "apron-<site>"

	TLS         bool   // dial with TLS; implied by any of the three files
	TLSCAFile   string // PEM bundle of the CAs that sign the brokers' certificates
	TLSCertFile string // client certificate, for mutual TLS
	TLSKeyFile  string

	SASLMechanism string // "", SASLPlain, SASLScramSHA256 or SASLScramSHA512
	SASLUser      string
	SASLPassword  string

	// AutoCreateTopics asks the cluster to create missing topics (it
	// must allow it too). Off by default: central usually owns topics.
	AutoCreateTopics bool

	HeartbeatInterval time.Duration // default 10s; negative disables heartbeats
	MaxPollRecords    int           // inbound records per batch, default 2000
	// MaxEventBytes refuses (to the dead letters) inbound events larger
	// than this; default and ceiling 7 MiB, under the log's message limit.
	MaxEventBytes int
	MaxInFlight   int           // outbound messages per batch, default 2000 (JetStream MaxAckPending)
	RetryMin      time.Duration // backoff, default 250ms
	RetryMax      time.Duration // default 30s
}

// DefaultBridgeConfig returns the defaults for site, with the four state
// topics inbound and rebookings and audit (erasures done) outbound.
func DefaultBridgeConfig(site string) BridgeConfig {
	return BridgeConfig{
		Site: site,
		Inbound: map[string]string{
			"flights":    app.TopicFlights,
			"bookings":   app.TopicBookings,
			"passengers": app.TopicPassengers,
			"documents":  app.TopicDocuments,
		},
		Outbound:          []string{app.TopicRebookings, app.TopicAudit},
		RemoteNaming:      RemoteNamePrefix,
		HeartbeatInterval: 10 * time.Second,
	}
}

var siteName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate reports the first invalid field as an EINVALID error.
func (c *BridgeConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return app.Errorf(app.EINVALID, "bridge.brokers: at least one host:port is required")
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil {
			return app.Errorf(app.EINVALID, "bridge.brokers: %q is not host:port", b)
		} else if _, err := strconv.Atoi(port); err != nil {
			return app.Errorf(app.EINVALID, "bridge.brokers: port of %q is not a number", b)
		}
	}
	if !siteName.MatchString(c.Site) {
		return app.Errorf(app.EINVALID, "bridge.site: %q must be 1-64 lower case letters, digits, '-' or '_'", c.Site)
	}
	if len(c.Inbound) == 0 && len(c.Outbound) == 0 {
		return app.Errorf(app.EINVALID, "bridge.inbound: nothing to mirror: set bridge.inbound or bridge.outbound")
	}
	for remote, local := range c.Inbound {
		if remote == "" {
			return app.Errorf(app.EINVALID, "bridge.inbound: empty Kafka topic name")
		}
		if !app.IsTopic(local) || local == app.TopicDeadLetter {
			return app.Errorf(app.EINVALID, "bridge.inbound: Kafka topic %q maps to %q, which is not a local topic that takes events", remote, local)
		}
	}
	seen := map[string]bool{}
	for _, t := range c.Outbound {
		if !app.IsTopic(t) {
			return app.Errorf(app.EINVALID, "bridge.outbound: %q is not a local topic", t)
		}
		if seen[t] {
			return app.Errorf(app.EINVALID, "bridge.outbound: %q is listed twice", t)
		}
		seen[t] = true
	}
	switch c.RemoteNaming {
	case "", RemoteNamePrefix, RemoteNameIdentity:
	default:
		return app.Errorf(app.EINVALID, "bridge.remote_naming: must be %q or %q, got %q", RemoteNamePrefix, RemoteNameIdentity, c.RemoteNaming)
	}
	if c.RemoteName == nil && c.RemoteNaming == RemoteNameIdentity {
		for _, t := range c.Outbound {
			if _, ok := c.Inbound[t]; ok {
				return app.Errorf(app.EINVALID, "bridge.remote_naming: %q is both read from and written to Kafka topic %q", t, t)
			}
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return app.Errorf(app.EINVALID, "bridge.tls_cert and bridge.tls_key: set both or neither")
	}
	switch c.SASLMechanism {
	case "":
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASLUser == "" || c.SASLPassword == "" {
			return app.Errorf(app.EINVALID, "bridge.sasl_user and bridge.sasl_password: required with bridge.sasl_mechanism %s", c.SASLMechanism)
		}
	default:
		return app.Errorf(app.EINVALID, "bridge.sasl_mechanism: must be %s, %s or %s, got %q", SASLPlain, SASLScramSHA256, SASLScramSHA512, c.SASLMechanism)
	}
	if c.MaxPollRecords < 0 || c.MaxPollRecords > MaxRequestEvents {
		// A poll is appended as one request: at most MaxRequestEvents.
		return app.Errorf(app.EINVALID, "bridge.max_poll_records: must be between 0 (default) and %d, got %d", MaxRequestEvents, c.MaxPollRecords)
	}
	if c.MaxInFlight < 0 || c.MaxInFlight > 10000 {
		return app.Errorf(app.EINVALID, "bridge.max_in_flight: must be between 0 (default) and 10000")
	}
	if c.RetryMin < 0 || c.RetryMax < 0 || (c.RetryMax > 0 && c.RetryMin > c.RetryMax) {
		return app.Errorf(app.EINVALID, "bridge.retry_min and bridge.retry_max: must be positive with min <= max")
	}
	return nil
}

// remote returns the Kafka topic that local topic is forwarded to.
func (c *BridgeConfig) remote(topic string) string {
	if c.RemoteName != nil {
		return c.RemoteName(c.Site, topic)
	}
	if c.RemoteNaming == RemoteNameIdentity {
		return topic
	}
	return c.Site + "." + topic
}

func (c *BridgeConfig) withDefaults() BridgeConfig {
	d := *c
	if d.RemoteNaming == "" {
		d.RemoteNaming = RemoteNamePrefix
	}
	if d.Group == "" {
		d.Group = "apron-" + d.Site
	}
	if d.HeartbeatInterval == 0 {
		d.HeartbeatInterval = 10 * time.Second
	}
	// Each batch pays fixed costs one after the other (a fetch, Kafka's
	// acknowledgement, a local fsync, an offset commit): at 500 a batch
	// outbound fell behind the local appends it follows (0.69-0.82 of
	// their rate, p50 0.4-0.6 s) and at 2000 keeps up with them (0.97-0.98,
	// p50 0.1 s); inbound gained 15-38% (`apron bench bridge`, decision
	// 0007).
	if d.MaxPollRecords == 0 {
		d.MaxPollRecords = 2000
	}
	if d.MaxInFlight == 0 {
		d.MaxInFlight = 2000
	}
	if d.RetryMin == 0 {
		d.RetryMin = 250 * time.Millisecond
	}
	if d.RetryMax == 0 {
		d.RetryMax = 30 * time.Second
	}
	if d.RetryMin > d.RetryMax {
		d.RetryMin = d.RetryMax
	}
	return d
}

// kafkaOpts returns the connection options shared by every client.
func (c *BridgeConfig) kafkaOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID("apron-" + c.Site),
	}
	if c.TLS || c.TLSCAFile != "" || c.TLSCertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, app.Errorf(app.EINVALID, "bridge.tls_ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, app.Errorf(app.EINVALID, "bridge.tls_ca: %s holds no PEM certificate", c.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		if c.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
			if err != nil {
				return nil, app.Errorf(app.EINVALID, "bridge.tls_cert: %v", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	var mech sasl.Mechanism
	switch c.SASLMechanism {
	case SASLPlain:
		mech = plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()
	case SASLScramSHA256:
		mech = scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()
	case SASLScramSHA512:
		mech = scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	if c.AutoCreateTopics {
		opts = append(opts, kgo.AllowAutoTopicCreation())
	}
	return opts, nil
}

// BridgeStatus is the state of the bridge, for the console and /metrics.
type BridgeStatus struct {
	Site          string              `json:"site"`
	Brokers       []string            `json:"brokers"`
	Connected     bool                `json:"connected"`
	Since         time.Time           `json:"since,omitzero"` // when Connected last changed
	LastError     string              `json:"last_error,omitempty"`
	LastErrorTime time.Time           `json:"last_error_time,omitzero"`
	Heartbeats    uint64              `json:"heartbeats"`
	Inbound       []BridgeTopicStatus `json:"inbound"`
	Outbound      []BridgeTopicStatus `json:"outbound"`
}

// BridgeTopicStatus is the state of one mirrored topic in one direction.
type BridgeTopicStatus struct {
	Local       string `json:"local"`
	Remote      string `json:"remote"`
	Records     uint64 `json:"records"`      // mirrored (inbound: appended, duplicates included)
	Bytes       uint64 `json:"bytes"`        // payload bytes mirrored
	DeadLetters uint64 `json:"dead_letters"` // inbound: refused records sent to the deadletter topic
	// Skipped counts records not mirrored: they came from the other side
	// (loop prevention), inbound tombstones, or, outbound after a restart,
	// entries Kafka already held.
	Skipped uint64 `json:"skipped"`
	// Backlog is what waits to be mirrored: outbound, the local entries
	// not yet acknowledged by Kafka; inbound, unknown (-1) unless the
	// cluster reported the group's lag.
	Backlog int64 `json:"backlog"`
	// LastRecord is the timestamp of the last record mirrored (inbound:
	// the Kafka record time; outbound: the local stored time).
	LastRecord    time.Time `json:"last_record,omitzero"`
	LastRecordAge float64   `json:"last_record_age_seconds"`
	// LatencySeconds is the replication latency of the last record:
	// inbound, append time minus Kafka record time; outbound, Kafka
	// acknowledgement time minus local stored time.
	LatencySeconds float64 `json:"latency_seconds"`
}

// topicCounters are a BridgeTopicStatus in the making; guarded by Bridge.mu.
type topicCounters struct {
	local, remote        string
	records, bytes       uint64
	deadLetters, skipped uint64
	lastRecord           time.Time
	latency              time.Duration
}

// Bridge mirrors Kafka topics into the local log (inbound) and local topics
// to Kafka (outbound). Set Config and Broker, then Open. The node runs on
// when the cluster is unreachable: the loops retry with backoff, the local
// log buffers what waits to go out, and Status says so.
type Bridge struct {
	Config BridgeConfig
	Broker *Broker
	Logger *slog.Logger
	Now    func() time.Time
	// Validator checks inbound events (default: app.DefaultValidator).
	Validator *app.Validator

	cfg      BridgeConfig // Config with defaults
	baseOpts []kgo.Opt    // connection options shared by every client
	consumer *kgo.Client  // consumer group; nil without inbound topics
	producer *kgo.Client  // idempotent producer for outbound and heartbeats

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu           sync.Mutex
	connected    bool
	since        time.Time
	lastErr      string
	lastErrTime  time.Time
	heartbeats   uint64
	inbound      map[string]*topicCounters // by Kafka topic
	outbound     map[string]*topicCounters // by local topic
	outConsumers map[string]outboundConsumer
}

// NewBridge returns a bridge over b with the given config.
func NewBridge(cfg BridgeConfig, b *Broker) *Bridge {
	return &Bridge{Config: cfg, Broker: b, Logger: slog.Default(), Now: time.Now}
}

// Open validates the config, creates the Kafka clients and starts the
// loops. It does not wait for the cluster: an unreachable cluster is not
// an error here. Errors: EINVALID for a bad config.
func (br *Bridge) Open() error {
	if err := br.Config.Validate(); err != nil {
		return err
	}
	if br.Broker == nil || br.Broker.js == nil {
		return app.Errorf(app.EINVALID, "bridge: the local log must be open first")
	}
	if br.Logger == nil {
		br.Logger = slog.Default()
	}
	if br.Validator == nil {
		br.Validator = app.DefaultValidator()
	}
	if br.Now == nil {
		br.Now = time.Now
	}
	br.Logger = br.Logger.With("subsystem", "bridge")
	br.cfg = br.Config.withDefaults()
	base, err := br.cfg.kafkaOpts()
	if err != nil {
		return err
	}
	br.baseOpts = base
	br.inbound = map[string]*topicCounters{}
	br.outbound = map[string]*topicCounters{}
	br.outConsumers = map[string]outboundConsumer{}
	br.since = br.Now()

	if len(br.cfg.Inbound) > 0 {
		remotes := make([]string, 0, len(br.cfg.Inbound))
		for remote, local := range br.cfg.Inbound {
			remotes = append(remotes, remote)
			br.inbound[remote] = &topicCounters{local: local, remote: remote}
		}
		sort.Strings(remotes)
		opts := append(append([]kgo.Opt(nil), base...),
			kgo.ConsumerGroup(br.cfg.Group),
			// A static member: the site's one consumer of its group,
			// restarted after a crash (or taken over by another node of
			// its cluster), takes its place back at once instead of
			// waiting out the dead member's session in a rebalance.
			kgo.InstanceID(br.cfg.Group),
			kgo.ConsumeTopics(remotes...),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(time.Second),
		)
		if br.consumer, err = kgo.NewClient(opts...); err != nil {
			return app.Errorf(app.EINVALID, "bridge: kafka consumer: %v", err)
		}
	}
	opts := append(append([]kgo.Opt(nil), base...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		// Records wait for the cluster as long as it takes: failing one
		// and producing it again is what makes duplicates.
		kgo.UnknownTopicRetries(-1),
		kgo.MaxBufferedRecords(4*br.cfg.MaxInFlight+64),
	)
	if br.producer, err = kgo.NewClient(opts...); err != nil {
		if br.consumer != nil {
			br.consumer.Close()
		}
		return app.Errorf(app.EINVALID, "bridge: kafka producer: %v", err)
	}
	for _, t := range br.cfg.Outbound {
		br.outbound[t] = &topicCounters{local: t, remote: br.cfg.remote(t)}
	}

	br.ctx, br.cancel = context.WithCancel(context.Background())
	if br.consumer != nil {
		br.wg.Add(1)
		go br.inboundLoop()
	}
	for _, t := range br.cfg.Outbound {
		br.wg.Add(1)
		go br.outboundLoop(t)
	}
	br.wg.Add(1)
	go br.monitorLoop()
	br.Logger.Info("bridge open", "brokers", br.cfg.Brokers, "site", br.cfg.Site, "group", br.cfg.Group,
		"inbound", len(br.cfg.Inbound), "outbound", br.cfg.Outbound)
	return nil
}

// Close stops the loops and the Kafka clients. Offsets of records already
// appended locally are committed before the consumer leaves its group.
func (br *Bridge) Close(ctx context.Context) error {
	if br.cancel == nil {
		return nil
	}
	br.cancel()
	done := make(chan struct{})
	go func() { br.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// The clients are closed all the same once the loops end: a
		// consumer left in its group would fence the next bridge that
		// joins with the same instance id.
		go func() {
			<-done
			br.closeClients(context.Background())
		}()
		return ctx.Err()
	}
	br.closeClients(ctx)
	return nil
}

// closeClients closes the Kafka consumer and producer after the loops
// have ended.
func (br *Bridge) closeClients(ctx context.Context) {
	if br.consumer != nil {
		br.closeConsumer(ctx)
	}
	if br.producer != nil {
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = br.producer.Flush(fctx)
		cancel()
		br.producer.Close()
	}
}

// consumerCloseWait bounds the wait for the consumer to leave its group.
const consumerCloseWait = 5 * time.Second

// closeConsumer closes the Kafka consumer, waiting at most
// consumerCloseWait (and never past ctx). Closing waits for a join in
// progress to end, which the coordinator can hold for a session timeout
// (45 s by default); an unbounded wait held the node's shutdown past its
// deadline. Returning early loses nothing: the offsets were committed
// when the loop ended, and the client ends with its join or the process.
func (br *Bridge) closeConsumer(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		br.consumer.CloseAllowingRebalance()
		close(done)
	}()
	wctx, cancel := context.WithTimeout(ctx, consumerCloseWait)
	defer cancel()
	select {
	case <-done:
	case <-wctx.Done():
		br.Logger.Warn("kafka consumer still closing: its group join has not ended", "group", br.cfg.Group, "waited", consumerCloseWait)
	}
}

// monitorLoop pings the cluster, records the link state and produces a
// heartbeat while connected.
func (br *Bridge) monitorLoop() {
	defer br.wg.Done()
	interval := br.cfg.HeartbeatInterval
	if interval < 0 {
		interval = 10 * time.Second
	}
	bo := app.NewBackoff(br.cfg.RetryMin, min(br.cfg.RetryMax, interval))
	for {
		ctx, cancel := context.WithTimeout(br.ctx, 5*time.Second)
		err := br.producer.Ping(ctx)
		cancel()
		wait := interval
		if err != nil {
			if br.ctx.Err() != nil {
				return
			}
			br.setDisconnected(fmt.Errorf("ping: %w", err))
			wait = bo.Next()
		} else {
			bo.Reset()
			br.setConnected()
			if br.cfg.HeartbeatInterval > 0 {
				br.heartbeat()
			}
		}
		select {
		case <-br.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (br *Bridge) heartbeat() {
	now := br.Now().UTC()
	value := fmt.Appendf(nil, `{"site":%q,"time":%q}`, br.cfg.Site, now.Format(time.RFC3339Nano))
	rec := &kgo.Record{
		Topic:     br.cfg.remote(bridgeHeartbeatTopic),
		Key:       []byte(br.cfg.Site),
		Value:     value,
		Timestamp: now,
		Headers:   []kgo.RecordHeader{{Key: HeaderOrigin, Value: []byte(br.cfg.Site)}},
	}
	br.producer.Produce(br.ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil {
			if br.ctx.Err() == nil {
				br.Logger.Debug("heartbeat", "err", err)
			}
			return
		}
		br.mu.Lock()
		br.heartbeats++
		br.mu.Unlock()
	})
}

func (br *Bridge) setConnected() {
	br.mu.Lock()
	defer br.mu.Unlock()
	if !br.connected {
		br.connected = true
		br.since = br.Now()
		br.Logger.Info("kafka connected", "brokers", br.cfg.Brokers)
	}
}

func (br *Bridge) setDisconnected(err error) {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.recordErrLocked(err)
	if br.connected {
		br.connected = false
		br.since = br.Now()
		br.Logger.Warn("kafka disconnected", "err", err)
	}
}

// recordErr keeps err as the last error without touching the link state.
func (br *Bridge) recordErr(err error) {
	br.mu.Lock()
	defer br.mu.Unlock()
	br.recordErrLocked(err)
}

func (br *Bridge) recordErrLocked(err error) {
	br.lastErr = err.Error()
	br.lastErrTime = br.Now()
}

// sleep waits d or until the bridge closes; it reports whether to go on.
func (br *Bridge) sleep(d time.Duration) bool {
	select {
	case <-br.ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// Status returns the bridge's state. The outbound backlog comes from the
// local log; the inbound backlog from the cluster when it answers within
// a second, else -1.
func (br *Bridge) Status(ctx context.Context) BridgeStatus { return br.status(ctx, true) }

// Summary is Status without the inbound lag, which costs a round trip to
// the cluster: for the banner every console page shows.
func (br *Bridge) Summary(ctx context.Context) BridgeStatus { return br.status(ctx, false) }

func (br *Bridge) status(ctx context.Context, withLag bool) BridgeStatus {
	br.mu.Lock()
	st := BridgeStatus{
		Site: br.cfg.Site, Brokers: br.cfg.Brokers, Connected: br.connected, Since: br.since,
		LastError: br.lastErr, LastErrorTime: br.lastErrTime, Heartbeats: br.heartbeats,
		Inbound: []BridgeTopicStatus{}, Outbound: []BridgeTopicStatus{},
	}
	now := br.Now()
	for _, c := range br.inbound {
		st.Inbound = append(st.Inbound, c.status(now))
	}
	for _, c := range br.outbound {
		st.Outbound = append(st.Outbound, c.status(now))
	}
	cons := make(map[string]outboundConsumer, len(br.outConsumers))
	for k, v := range br.outConsumers {
		cons[k] = v
	}
	connected := br.connected
	br.mu.Unlock()
	sort.Slice(st.Inbound, func(i, j int) bool { return st.Inbound[i].Remote < st.Inbound[j].Remote })
	sort.Slice(st.Outbound, func(i, j int) bool { return st.Outbound[i].Local < st.Outbound[j].Local })
	for i := range st.Outbound {
		st.Outbound[i].Backlog = -1
		if c, ok := cons[st.Outbound[i].Local]; ok {
			if n, err := c.backlog(ctx); err == nil {
				st.Outbound[i].Backlog = int64(n)
			}
		}
	}
	lags := map[string]int64{}
	if withLag && connected && br.consumer != nil {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		lags = br.inboundLag(lctx)
		cancel()
	}
	for i := range st.Inbound {
		st.Inbound[i].Backlog = -1
		if n, ok := lags[st.Inbound[i].Remote]; ok {
			st.Inbound[i].Backlog = n
		}
	}
	return st
}

func (c *topicCounters) status(now time.Time) BridgeTopicStatus {
	s := BridgeTopicStatus{
		Local: c.local, Remote: c.remote, Records: c.records, Bytes: c.bytes,
		DeadLetters: c.deadLetters, Skipped: c.skipped, LastRecord: c.lastRecord,
		LatencySeconds: c.latency.Seconds(),
	}
	if !c.lastRecord.IsZero() {
		s.LastRecordAge = max(0, now.Sub(c.lastRecord).Seconds())
	}
	return s
}
