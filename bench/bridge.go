package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Bridge measures the bridge against a real Kafka started by
// scripts/kafka.sh: records per second each way for 1 KB records and the
// replication latency, beside Kafka's own ProducerPerformance against the
// same broker in the same run as the ceiling.
func Bridge(ctx context.Context, dir string, out io.Writer, n int) error {
	kdir := filepath.Join(dir, "kafka")
	addr, err := startKafka(kdir)
	if err != nil {
		return err
	}
	defer func() { _ = exec.Command("scripts/kafka.sh", "stop", kdir).Run() }()
	ceiling, err := kafkaCeiling(addr, n)
	if err != nil {
		return err
	}
	client, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		return err
	}
	defer client.Close()
	edge, err := openBridgeNode(ctx, dir, addr)
	if err != nil {
		return err
	}
	defer func() { _ = edge.Close(context.Background()) }()
	pad := strings.Repeat("x", 760) // brings each event to about 1 KB
	outLat, outDur, err := benchOutbound(ctx, edge, client, n, pad)
	if err != nil {
		return err
	}
	inLat, inDur, err := benchInbound(ctx, edge, client, n, pad)
	if err != nil {
		return err
	}
	sort.Slice(outLat, func(i, j int) bool { return outLat[i] < outLat[j] })
	sort.Slice(inLat, func(i, j int) bool { return inLat[i] < inLat[j] })
	fmt.Fprintf(out, "apron bench bridge: %d records of about 1 KB each way, Kafka at %s\n\n", n, addr)
	fmt.Fprintf(out, "%-52s %12s %10s %10s\n", "run", "records/s", "p50", "p99")
	fmt.Fprintf(out, "%-52s %12.0f %10s %10s\n", "Kafka ProducerPerformance, acks=all, idempotent", ceiling, "", "")
	fmt.Fprintf(out, "%-52s %12.0f %10s %10s\n", "bridge outbound: local log -> Kafka (acked)", float64(n)/outDur.Seconds(), pct(outLat, 50), pct(outLat, 99))
	fmt.Fprintf(out, "%-52s %12.0f %10s %10s\n", "bridge inbound: Kafka -> local log (fsynced)", float64(n)/inDur.Seconds(), pct(inLat, 50), pct(inLat, 99))
	fmt.Fprintf(out, "\noutbound latency: local append to Kafka's record time; inbound: Kafka's record time to the local fsync.\nBoth runs send a burst, so latency includes the wait behind it.\n")
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

// kafkaCeiling is Kafka's own producer tool, 1 KB records, acks=all.
func kafkaCeiling(addr string, n int) (float64, error) {
	perf, err := exec.Command("scripts/kafka.sh", "perf", "--topic", "perf", "--num-records", fmt.Sprint(n), "--record-size", "1024",
		"--throughput", "-1", "--producer-props", "bootstrap.servers="+addr, "acks=all", "enable.idempotence=true").Output()
	if err != nil {
		return 0, fmt.Errorf("ProducerPerformance: %w", err)
	}
	m := regexp.MustCompile(`([0-9.]+) records/sec`).FindAllStringSubmatch(string(perf), -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("ProducerPerformance printed no rate: %s", perf)
	}
	var ceiling float64
	fmt.Sscan(m[len(m)-1][1], &ceiling)
	return ceiling, nil
}

func openBridgeNode(ctx context.Context, dir, addr string) (*node.Main, error) {
	cfg := node.DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.NATS.Addr, cfg.Ollama.URL = filepath.Join(dir, "node"), "127.0.0.1:0", "", ""
	cfg.Kafka.Brokers = []string{addr}
	cfg.Kafka.AutoCreateTopics = true
	edge := node.NewMain(cfg, slog.New(slog.DiscardHandler))
	edge.Demo = true
	if err := edge.Open(ctx); err != nil {
		return nil, err
	}
	return edge, nil
}

// benchOutbound appends n local rebookings and reads them back from
// fra.rebookings.
func benchOutbound(ctx context.Context, edge *node.Main, client *kgo.Client, n int, pad string) ([]time.Duration, time.Duration, error) {
	var evs []*app.Event
	for i := 0; i < n; i++ {
		e, _ := app.NewEvent(fmt.Sprintf("bench-out-%d", i), "apron/bench", app.TypeRebookingExecuted, fmt.Sprintf("B%05d", i%50000), time.Now(),
			map[string]any{"proposal_id": fmt.Sprint(i), "locator": fmt.Sprintf("B%05d", i%50000), "note": pad})
		evs = append(evs, e)
	}
	start := time.Now()
	appended := map[string]time.Time{}
	for i := 0; i < len(evs); i += 1000 {
		batch := evs[i:min(i+1000, len(evs))]
		sent := time.Now() // the latency includes the local group commit
		for _, e := range batch {
			appended[e.ID] = sent
		}
		if _, err := edge.Broker.Append(ctx, app.TopicRebookings, batch); err != nil {
			return nil, 0, err
		}
	}
	return consumeCount(ctx, client, "fra.rebookings", n, start, func(r *kgo.Record) time.Duration {
		for _, h := range r.Headers {
			if h.Key == "ce_id" {
				return r.Timestamp.Sub(appended[string(h.Value)])
			}
		}
		return 0
	})
}

// benchInbound produces n central flights to Kafka and reads them from
// the local log.
func benchInbound(ctx context.Context, edge *node.Main, client *kgo.Client, n int, pad string) ([]time.Duration, time.Duration, error) {
	day := FlightEvents(n, "in")
	start := time.Now()
	for _, e := range day {
		raw := strings.Replace(string(e.Raw), `"data":{`, `"data":{"note":"`+pad[:500]+`",`, 1)
		client.Produce(ctx, &kgo.Record{Topic: "flights", Key: []byte(e.Subject), Value: []byte(raw)}, nil)
	}
	if err := client.Flush(ctx); err != nil {
		return nil, 0, err
	}
	var inLat []time.Duration
	r, err := edge.Broker.NewReader(ctx, app.TopicFlights, 1)
	if err != nil {
		return nil, 0, err
	}
	got := 0
	for got < n {
		if time.Since(start) > 5*time.Minute {
			return nil, 0, fmt.Errorf("inbound: %d of %d after 5 minutes", got, n)
		}
		es, err := r.Next(ctx, 1000, time.Second)
		if err != nil {
			return nil, 0, err
		}
		for _, le := range es {
			got++
			if ts := le.Headers["Kafka-Timestamp"]; len(ts) > 0 {
				if kt, err := time.Parse(time.RFC3339Nano, ts[0]); err == nil {
					inLat = append(inLat, le.Stored.Sub(kt))
				}
			}
		}
	}
	return inLat, time.Since(start), nil
}

// consumeCount reads topic from the start until want records arrived and
// returns the latency f computes for each.
func consumeCount(ctx context.Context, seed *kgo.Client, topic string, want int, start time.Time, f func(*kgo.Record) time.Duration) ([]time.Duration, time.Duration, error) {
	brokers := seed.OptValue(kgo.SeedBrokers).([]string)
	c, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	var lat []time.Duration
	var last time.Time
	seen := map[string]bool{}
	for len(seen) < want {
		if time.Since(start) > 5*time.Minute {
			return nil, 0, fmt.Errorf("%s: %d of %d records after 5 minutes", topic, len(seen), want)
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := c.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
			if !seen[k] {
				seen[k] = true
				lat = append(lat, f(r))
				if r.Timestamp.After(last) {
					last = r.Timestamp
				}
			}
		})
	}
	return lat, last.Sub(start), nil
}
