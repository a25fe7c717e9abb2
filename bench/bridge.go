package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/node"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BridgeConfig sizes `apron bench bridge`.
type BridgeConfig struct {
	Dir     string
	Records int    // records each way per round, about 1 KB each
	Rounds  int    // timed rounds; the order of the runs alternates
	Kafka   string // a running broker's address; empty starts one with scripts/kafka.sh
}

// BridgeResult is what the bridge benchmark measured, kept whole so that
// a test can check it against what Kafka itself recorded.
type BridgeResult struct {
	Addr   string
	Rounds []BridgeRound
}

// BridgeRound is one round: Kafka's own producer beside the bridge both ways.
type BridgeRound struct {
	Ceiling  PerfResult
	Outbound BridgeRun
	Inbound  BridgeRun
}

// PerfResult is Kafka's ProducerPerformance as it reports itself: the
// rate and the latency from send to acknowledgement of its steady state,
// the records after its warm-up.
type PerfResult struct {
	Records       int
	Rate          float64
	P50, P95, P99 time.Duration
}

// BridgeRun is one direction of one round. Outbound times run from the
// local append to Kafka's log-append time of the record; inbound times
// from Kafka's log-append time to the local fsync. KafkaTime holds the
// Kafka time used for each event id, Sent the local time it is timed from.
type BridgeRun struct {
	Records   int
	Start     time.Time // before the first record was sent
	Last      time.Time // when the last record was in its destination log
	Appended  time.Time // outbound: when the last local append was acknowledged
	Latency   []time.Duration
	KafkaTime map[string]time.Time
	Sent      map[string]time.Time
}

// Rate is records per second from Start to Last.
func (r BridgeRun) Rate() float64 { return float64(r.Records) / r.Last.Sub(r.Start).Seconds() }

// Topics of the bench, created with log-append time so that every record's
// timestamp is the broker's, taken when the record was appended.
var bridgeBenchTopics = []string{"fra.rebookings", "flights", "perf"}

// Bridge measures the bridge against a real Kafka started by
// scripts/kafka.sh and prints the report: records per second each way
// for 1 KB records and their latency, beside Kafka's own
// ProducerPerformance against the same broker in the same run.
func Bridge(ctx context.Context, dir string, out io.Writer, n int) error {
	load := WatchLoad()
	res, err := RunBridge(ctx, BridgeConfig{Dir: dir, Records: n, Rounds: 2})
	if err != nil {
		return err
	}
	res.Report(out)
	fmt.Fprintln(out, load.Report())
	return nil
}

// RunBridge runs one warm-up round and cfg.Rounds timed rounds; even
// rounds run Kafka's producer first, odd rounds last.
func RunBridge(ctx context.Context, cfg BridgeConfig) (*BridgeResult, error) {
	addr := cfg.Kafka
	if addr == "" {
		kdir := filepath.Join(cfg.Dir, "kafka")
		var err error
		if addr, err = startKafka(kdir); err != nil {
			return nil, err
		}
		defer func() { _ = exec.Command("scripts/kafka.sh", "stop", kdir).Run() }()
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer client.Close()
	if err := createLogAppendTopics(ctx, client, bridgeBenchTopics...); err != nil {
		return nil, err
	}
	edge, err := openBridgeNode(ctx, cfg.Dir, addr)
	if err != nil {
		return nil, err
	}
	defer func() { _ = edge.Close(context.Background()) }()
	b := &bridgeBench{edge: edge, client: client, addr: addr, pad: strings.Repeat("x", 760)} // about 1 KB an event
	if b.payloads, err = b.writePayloads(cfg.Dir); err != nil {
		return nil, err
	}
	res := &BridgeResult{Addr: addr}
	for r := -1; r < cfg.Rounds; r++ {
		n := cfg.Records
		if r < 0 {
			n = max(cfg.Records/10, 100) // the warm-up round, not reported
		}
		round, err := b.round(ctx, r, n)
		if err != nil {
			return nil, fmt.Errorf("round %d: %w", r+1, err)
		}
		if r >= 0 {
			res.Rounds = append(res.Rounds, round)
		}
	}
	return res, nil
}

// Report prints every round and the ratios of its runs to the ceiling.
func (res *BridgeResult) Report(out io.Writer) {
	fmt.Fprintf(out, "apron bench bridge: Kafka at %s, topics with message.timestamp.type=LogAppendTime, a warm-up round first\n", res.Addr)
	for i, r := range res.Rounds {
		order := "Kafka's producer first"
		if i%2 == 1 {
			order = "Kafka's producer last"
		}
		fmt.Fprintf(out, "\nround %d (%s), %d records of about 1 KB each way\n", i+1, order, r.Outbound.Records)
		fmt.Fprintf(out, "%-50s %10s   %s\n", "run", "records/s", "latency")
		c := r.Ceiling
		fmt.Fprintf(out, "%-50s %10.0f   p50 %-8s p95 %-8s p99 %-8s (n=%d, its own figures)\n", "Kafka ProducerPerformance, the bridge's settings", c.Rate, c.P50, c.P95, c.P99, c.Records)
		fmt.Fprintf(out, "%-50s %10.0f   (the outbound run's appends, batches of 1000, fsync each)\n", "local appends to the outbound topic",
			float64(r.Outbound.Records)/r.Outbound.Appended.Sub(r.Outbound.Start).Seconds())
		fmt.Fprintf(out, "%-50s %10.0f   %s\n", "bridge outbound: local log -> Kafka log append", r.Outbound.Rate(), Summarize(r.Outbound.Latency))
		fmt.Fprintf(out, "%-50s %10.0f   %s\n", "bridge inbound: Kafka log append -> local fsync", r.Inbound.Rate(), Summarize(r.Inbound.Latency))
		fmt.Fprintf(out, "outbound / ceiling %.2f, inbound / ceiling %.2f\n", r.Outbound.Rate()/c.Rate, r.Inbound.Rate()/c.Rate)
	}
	fmt.Fprintf(out, "\nEach run sends a burst, so latency includes the wait behind it. Outbound is timed from the local append\n"+
		"(its group commit included) to Kafka's log-append time; inbound from Kafka's log-append time to the local store.\n"+
		"The ceiling is the tool's steady state after as many records of warm-up, sending the outbound run's events\n"+
		"with the bridge producer's settings (%s).\n", strings.Join(ceilingProps, " "))
}

// bridgeBench is the node and the Kafka client of one benchmark.
type bridgeBench struct {
	edge     *node.Main
	client   *kgo.Client
	addr     string
	pad      string
	payloads string // a file of outbound-like events, one a line, for Kafka's producer tool
}

// round runs the three runs of round r (-1 is the warm-up) with n records.
func (b *bridgeBench) round(ctx context.Context, r, n int) (BridgeRound, error) {
	var out BridgeRound
	tag := fmt.Sprintf("r%d", r+1)
	runs := []func() error{
		func() (err error) { out.Ceiling, err = kafkaCeiling(b.addr, n, b.payloads); return err },
		func() (err error) { out.Outbound, err = b.outbound(ctx, n, tag); return err },
		func() (err error) { out.Inbound, err = b.inbound(ctx, n, tag); return err },
	}
	if r%2 != 0 {
		runs[0], runs[2] = runs[2], runs[0]
	}
	for _, run := range runs {
		if err := run(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// createLogAppendTopics creates topics whose record timestamps are the
// broker's append time; topics that exist are switched to it.
func createLogAppendTopics(ctx context.Context, client *kgo.Client, topics ...string) error {
	adm := kadm.NewClient(client)
	logAppend := "LogAppendTime"
	cfg := map[string]*string{"message.timestamp.type": &logAppend}
	created, err := adm.CreateTopics(ctx, -1, -1, cfg, topics...)
	if err != nil {
		return fmt.Errorf("create bench topics: %w", err)
	}
	for _, t := range created.Sorted() {
		if t.Err == nil {
			continue
		}
		if !errors.Is(t.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Topic, t.Err)
		}
		alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: &logAppend}}
		if _, err := adm.AlterTopicConfigs(ctx, alter, t.Topic); err != nil {
			return fmt.Errorf("set log-append time on %s: %w", t.Topic, err)
		}
	}
	return nil
}

// startKafka starts a broker in kdir with scripts/kafka.sh and returns
// its address; the caller stops it with `scripts/kafka.sh stop kdir`.
func startKafka(kdir string) (string, error) {
	cmd := exec.Command("scripts/kafka.sh", "start", kdir)
	cmd.Env = append(os.Environ(), "KAFKA_PORT=0", "KAFKA_CONTROLLER_PORT=0")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("start kafka (run from the repository root): %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// perfSteady is ProducerPerformance's summary of the records after its
// warm-up: "N steady state records sent, R records/sec (…), A ms avg
// latency, M ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th."
var perfSteady = regexp.MustCompile(`(\d+) steady state records sent, ([0-9.]+) records/sec.* (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th`)

// ceilingProps are the bridge producer's settings (franz-go's defaults
// and the bridge's linger), so that the ceiling batches, compresses and
// waits as the bridge does: with the tool's own defaults (16 KB batches,
// no compression, no warm-up) it reached an eighth to a twelfth of what
// the same broker took (decision 0007).
var ceilingProps = []string{"acks=all", "enable.idempotence=true", "max.in.flight.requests.per.connection=1",
	"batch.size=1000012", "linger.ms=5", "compression.type=snappy"}

// kafkaCeiling runs Kafka's own producer tool against the bench's perf
// topic with the bridge's payloads and producer settings: n records of
// warm-up (a new JVM and a cold topic), then n timed.
func kafkaCeiling(addr string, n int, payloads string) (PerfResult, error) {
	args := []string{"perf", "--topic", "perf", "--num-records", fmt.Sprint(2 * n), "--warmup-records", fmt.Sprint(n),
		"--payload-file", payloads, "--throughput", "-1", "--producer-props", "bootstrap.servers=" + addr}
	perf, err := exec.Command("scripts/kafka.sh", append(args, ceilingProps...)...).Output()
	if err != nil {
		return PerfResult{}, fmt.Errorf("ProducerPerformance: %w", err)
	}
	return parsePerfSteady(string(perf))
}

func parsePerfSteady(perf string) (PerfResult, error) {
	m := perfSteady.FindAllStringSubmatch(perf, -1)
	if len(m) == 0 {
		return PerfResult{}, fmt.Errorf("ProducerPerformance printed no steady-state summary: %s", perf)
	}
	last := m[len(m)-1]
	num := func(i int) float64 { f, _ := strconv.ParseFloat(last[i], 64); return f }
	ms := func(i int) time.Duration { return time.Duration(num(i)) * time.Millisecond }
	return PerfResult{Records: int(num(1)), Rate: num(2), P50: ms(3), P95: ms(4), P99: ms(5)}, nil
}

// writePayloads writes 1,000 events of the outbound run's shape and size
// to a file in dir, one a line, for Kafka's producer tool.
func (b *bridgeBench) writePayloads(dir string) (string, error) {
	var buf strings.Builder
	for i := 0; i < 1000; i++ {
		e, err := b.rebooking("bench-perf-", i)
		if err != nil {
			return "", err
		}
		buf.Write(e.Raw)
		buf.WriteByte('\n')
	}
	path := filepath.Join(dir, "perf-payloads.ndjson")
	return path, os.WriteFile(path, []byte(buf.String()), 0o600)
}

// rebooking is the i-th outbound event of about 1 KB, its id prefix+i.
func (b *bridgeBench) rebooking(prefix string, i int) (*app.Event, error) {
	loc := fmt.Sprintf("B%05d", i%50000)
	return app.NewEvent(fmt.Sprintf("%s%d", prefix, i), "apron/bench", app.TypeRebookingExecuted, loc, time.Now(),
		map[string]any{"proposal_id": fmt.Sprint(i), "locator": loc, "note": b.pad})
}

func openBridgeNode(ctx context.Context, dir, addr string) (*node.Main, error) {
	cfg := node.DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.NATS.Addr, cfg.Ollama.URL = filepath.Join(dir, "node"), "127.0.0.1:0", "", ""
	cfg.Kafka.Brokers = []string{addr}
	cfg.Kafka.AutoCreateTopics = true
	edge := node.NewMain(cfg, slog.New(slog.DiscardHandler))
	edge.Demo = true
	if err := edge.Open(ctx); err != nil {
		return nil, fmt.Errorf("open the node: %w", err)
	}
	return edge, nil
}

// outbound appends n local rebookings in batches of 1000 and reads them
// back from fra.rebookings with Kafka's log-append times.
func (b *bridgeBench) outbound(ctx context.Context, n int, tag string) (BridgeRun, error) {
	prefix := "bench-out-" + tag + "-"
	var evs []*app.Event
	for i := 0; i < n; i++ {
		e, err := b.rebooking(prefix, i)
		if err != nil {
			return BridgeRun{}, err
		}
		evs = append(evs, e)
	}
	run := BridgeRun{Records: n, Start: time.Now(), Sent: map[string]time.Time{}, KafkaTime: map[string]time.Time{}}
	for i := 0; i < len(evs); i += 1000 {
		batch := evs[i:min(i+1000, len(evs))]
		sent := time.Now() // the latency includes the local group commit
		for _, e := range batch {
			run.Sent[e.ID] = sent
		}
		if _, err := b.edge.Broker.Append(ctx, app.TopicRebookings, batch); err != nil {
			return BridgeRun{}, fmt.Errorf("append rebookings: %w", err)
		}
	}
	run.Appended = time.Now()
	err := ReadKafkaTimes(ctx, b.addr, "fra.rebookings", prefix, n, run.KafkaTime)
	if err != nil {
		return BridgeRun{}, err
	}
	for id, kt := range run.KafkaTime {
		run.Latency = append(run.Latency, kt.Sub(run.Sent[id]))
		if kt.After(run.Last) {
			run.Last = kt
		}
	}
	return run, nil
}

// ReadKafkaTimes reads topic from its start until want records whose
// event id (the ce_id header, or the id in the value) begins with prefix
// have arrived, and records each one's
// timestamp by id. It refuses records whose timestamp is not the
// broker's log-append time.
func ReadKafkaTimes(ctx context.Context, addr, topic, prefix string, want int, into map[string]time.Time) error {
	c, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Minute)
	found := 0
	for found < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %d of %d records after 5 minutes", topic, found, want)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := c.PollFetches(pctx)
		cancel()
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			id := recordHeader(r, "ce_id")
			if e, err := app.ParseTrusted(r.Value); id == "" && err == nil {
				id = e.ID
			}
			if !strings.HasPrefix(id, prefix) {
				return
			}
			if r.Attrs.TimestampType() != 1 {
				bad = fmt.Errorf("%s: record %s carries its producer's time, not Kafka's log-append time", topic, id)
			}
			if _, dup := into[id]; !dup {
				found++
			}
			into[id] = r.Timestamp
		})
		if bad != nil {
			return bad
		}
	}
	return nil
}

func recordHeader(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// inbound produces n central flights to Kafka and reads them from the
// local log, timing each from Kafka's log-append time (the bridge keeps
// it in the Kafka-Timestamp header) to its local store.
func (b *bridgeBench) inbound(ctx context.Context, n int, tag string) (BridgeRun, error) {
	head, err := b.edge.Broker.Topic(ctx, app.TopicFlights)
	if err != nil {
		return BridgeRun{}, fmt.Errorf("local flights topic: %w", err)
	}
	reader, err := b.edge.Broker.NewReader(ctx, app.TopicFlights, head.LastOffset+1)
	if err != nil {
		return BridgeRun{}, fmt.Errorf("read local flights: %w", err)
	}
	defer reader.Close()
	run := BridgeRun{Records: n, Start: time.Now(), KafkaTime: map[string]time.Time{}, Sent: map[string]time.Time{}}
	for _, e := range FlightEvents(n, "in-"+tag) {
		raw := strings.Replace(string(e.Raw), `"data":{`, `"data":{"note":"`+b.pad[:500]+`",`, 1)
		b.client.Produce(ctx, &kgo.Record{Topic: "flights", Key: []byte(e.Subject), Value: []byte(raw)}, nil)
	}
	if err := b.client.Flush(ctx); err != nil {
		return BridgeRun{}, fmt.Errorf("produce flights: %w", err)
	}
	for got := 0; got < n; {
		if time.Since(run.Start) > 5*time.Minute {
			return BridgeRun{}, fmt.Errorf("inbound: %d of %d after 5 minutes", got, n)
		}
		es, err := reader.Next(ctx, 1000, time.Second)
		if err != nil {
			return BridgeRun{}, fmt.Errorf("read local flights: %w", err)
		}
		for _, le := range es {
			got++
			if err := run.addInbound(le); err != nil {
				return BridgeRun{}, err
			}
		}
	}
	return run, nil
}

// addInbound times one local entry from the Kafka time the bridge kept.
func (r *BridgeRun) addInbound(le app.LogEntry) error {
	ts := le.Headers[broker.HeaderKafkaTimestamp]
	if len(ts) == 0 {
		return fmt.Errorf("inbound entry %d has no %s header", le.Offset, broker.HeaderKafkaTimestamp)
	}
	kt, err := time.Parse(time.RFC3339Nano, ts[0])
	if err != nil {
		return fmt.Errorf("inbound entry %d: %s: %w", le.Offset, broker.HeaderKafkaTimestamp, err)
	}
	id := fmt.Sprint(le.Offset)
	if e, err := app.ParseTrusted(le.Data); err == nil {
		id = e.ID
	}
	r.KafkaTime[id], r.Sent[id] = kt, kt
	r.Latency = append(r.Latency, le.Stored.Sub(kt))
	if le.Stored.After(r.Last) {
		r.Last = le.Stored
	}
	return nil
}
