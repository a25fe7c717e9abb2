package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/node"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// IngestConfig sizes `apron bench ingest`.
type IngestConfig struct {
	Dir     string
	Out     io.Writer
	Events  int // events for the batched runs
	Timeout time.Duration
}

// FlightEvents makes n flight.status events over the flights of a
// simulated day, each with a unique id.
func FlightEvents(n int, tag string) []*app.Event {
	day := sim.Generate(sim.Config{Seed: 7, Date: "2026-11-25", Departures: 250, Bookings: 1})
	var flights []*app.Flight
	for _, f := range day.Flights {
		flights = append(flights, f)
	}
	sort.Slice(flights, func(i, j int) bool { return flights[i].Flight < flights[j].Flight })
	base := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	out := make([]*app.Event, n)
	for i := range out {
		f := *flights[i%len(flights)]
		f.Gate = fmt.Sprintf("A%d", i%60+1)
		e, err := app.NewEvent(fmt.Sprintf("bench-%s-%d", tag, i), "apron/bench", app.TypeFlightStatus, f.Flight, base.Add(time.Duration(i)*time.Millisecond), f)
		if err != nil {
			panic(err)
		}
		out[i] = e
	}
	return out
}

type benchResult struct {
	name   string
	events int
	dur    time.Duration
	note   string
}

func (r benchResult) rate() float64 { return float64(r.events) / r.dur.Seconds() }

// ingestFlags are the flags of `apron bench ingest`.
type ingestFlags struct {
	events, batch, clients int
	cpuProfile             string
}

func parseIngestFlags(cfg IngestConfig, args []string) (ingestFlags, error) {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	events := fs.Int("events", cfg.Events, "events for the batched runs")
	batch := fs.Int("batch", 1000, "events per NDJSON request")
	clients := fs.Int("clients", 4, "concurrent HTTP clients")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the node runs to this file")
	if err := fs.Parse(args); err != nil {
		return ingestFlags{}, err
	}
	return ingestFlags{events: *events, batch: *batch, clients: *clients, cpuProfile: *cpuProfile}, nil
}

// Ingest measures ingest through the node against two baselines run
// in the same process on the same disk: raw JetStream publish one message
// at a time with fsync per write, and asynchronous publish without fsync.
func Ingest(ctx context.Context, cfg IngestConfig, args []string) error {
	fl, err := parseIngestFlags(cfg, args)
	if err != nil {
		return err
	}
	results, err := ingestBaselines(ctx, cfg, fl)
	if err != nil {
		return err
	}
	n, err := openIngestNode(ctx, cfg.Dir)
	if err != nil {
		return err
	}
	defer func() { _ = n.m.Close(context.Background()) }()
	if fl.cpuProfile != "" {
		stop, err := startCPUProfile(fl.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := n.authorize(ctx); err != nil {
		return err
	}
	evs := FlightEvents(fl.events, "ndjson")
	batched, err := n.benchNDJSON(ctx, cfg.Timeout, fl, evs)
	if err != nil {
		return err
	}
	results = append(results, batched...)
	single, err := n.benchSingles(fl.events)
	if err != nil {
		return err
	}
	results = append(results, single)
	lats, err := n.freshness(ctx)
	if err != nil {
		return err
	}
	reportIngest(cfg.Out, fl.events, len(evs[0].Raw), results, lats)
	return nil
}

// ingestBaselines runs the broker-only runs the node is compared with.
// Their order fixes the indices reportIngest reads.
func ingestBaselines(ctx context.Context, cfg IngestConfig, fl ingestFlags) ([]benchResult, error) {
	var results []benchResult
	for _, run := range []func(context.Context, IngestConfig, ingestFlags) (benchResult, error){
		benchPublishEachSync, benchPublishAtomicBatch, benchPublishAsync,
	} {
		r, err := run(ctx, cfg, fl)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

func openBenchBroker(dir string, c broker.Config) (*broker.Broker, error) {
	c.Dir = dir
	c.DuplicateWindow = time.Hour
	c.MaxBatch = 1000
	b := broker.New(c)
	b.Logger = slog.New(slog.DiscardHandler)
	if err := b.Open(); err != nil {
		return nil, err
	}
	return b, nil
}

// benchPublishEachSync is baseline 1: one message at a time, fsync on every write.
func benchPublishEachSync(ctx context.Context, cfg IngestConfig, fl ingestFlags) (benchResult, error) {
	perMsg := min(fl.events/10, 2000)
	b, err := openBenchBroker(filepath.Join(cfg.Dir, "sync"), broker.Config{Sync: broker.SyncAlways})
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = b.Close(ctx) }()
	evs := FlightEvents(perMsg, "sync")
	start := time.Now()
	for _, e := range evs {
		if _, err := b.PublishOne(ctx, app.TopicFlights, broker.MessageOf(e)); err != nil {
			return benchResult{}, err
		}
	}
	return benchResult{"jetstream publish, one at a time, fsync each", perMsg, time.Since(start), "baseline"}, nil
}

// benchPublishAtomicBatch is the reference: JetStream's own atomic batch
// publish, fsync per batch.
func benchPublishAtomicBatch(ctx context.Context, cfg IngestConfig, fl ingestFlags) (benchResult, error) {
	b, err := openBenchBroker(filepath.Join(cfg.Dir, "atomic"), broker.Config{Sync: broker.SyncAlways})
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = b.Close(ctx) }()
	evs := FlightEvents(fl.events, "atomic")
	start := time.Now()
	for i := 0; i < len(evs); i += fl.batch {
		var msgs []*nats.Msg
		for _, e := range evs[i:min(i+fl.batch, len(evs))] {
			msgs = append(msgs, logMsg(e))
		}
		if _, err := jetstreamext.PublishMsgBatch(ctx, b.JetStream(), msgs); err != nil {
			return benchResult{}, err
		}
	}
	return benchResult{fmt.Sprintf("jetstream atomic batch %d/batch, fsync per batch", fl.batch), fl.events, time.Since(start), "reference"}, nil
}

// benchPublishAsync is baseline 2: asynchronous publish, no fsync
// (background sync).
func benchPublishAsync(ctx context.Context, cfg IngestConfig, fl ingestFlags) (benchResult, error) {
	b, err := openBenchBroker(filepath.Join(cfg.Dir, "nosync"), broker.Config{Sync: broker.SyncInterval, SyncInterval: 2 * time.Minute})
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = b.Close(ctx) }()
	evs := FlightEvents(fl.events, "async")
	js := b.JetStream()
	start := time.Now()
	for _, e := range evs {
		if _, err := js.PublishMsgAsync(logMsg(e)); err != nil {
			return benchResult{}, err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(cfg.Timeout):
		return benchResult{}, fmt.Errorf("async publish did not complete")
	}
	return benchResult{"jetstream async publish, no fsync", fl.events, time.Since(start), "ceiling"}, nil
}

// logMsg is e as the node writes it to the log, deduplicated by id.
func logMsg(e *app.Event) *nats.Msg {
	m := nats.NewMsg(app.LogSubject(app.TopicFlights, e.Subject))
	m.Data = e.Raw
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	return m
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// ingestNode is a durable node (fsync per commit) under measurement,
// with the time each flights offset first became visible in state.
type ingestNode struct {
	m           *node.Main
	applied     sync.Map // offset -> time first visible in state
	lastApplied atomic.Uint64
	token       string
	client      *http.Client
}

func openIngestNode(ctx context.Context, dir string) (*ingestNode, error) {
	ncfg := node.DefaultConfig()
	ncfg.Data = filepath.Join(dir, "node")
	ncfg.HTTP = "127.0.0.1:0"
	ncfg.NATS.Addr = ""
	ncfg.Ollama.URL = "" // measure ingest, not the model
	n := &ingestNode{m: node.NewMain(ncfg, slog.New(slog.DiscardHandler)), client: &http.Client{Timeout: time.Minute}}
	if err := n.m.Open(ctx); err != nil {
		return nil, err
	}
	n.m.Materializer.Listener = app.StateListeners{app.StateListenerFunc(func(topic string, off uint64, _ []app.StateChange) {
		if topic == app.TopicFlights {
			n.applied.Store(off, time.Now())
			n.lastApplied.Store(off)
		}
	}), n.m.Materializer.Listener}
	return n, nil
}

func (n *ingestNode) authorize(ctx context.Context) error {
	n.token = app.NewSecret("apron_")
	_, err := n.m.Store.CreateToken(ctx, "bench", app.RoleAgent, app.HashSecret(n.token), time.Now())
	return err
}

func (n *ingestNode) post(body []byte) error {
	req, _ := http.NewRequest("POST", n.m.HTTP.URL()+"/api/v1/topics/flights/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("ingest: %s: %s", resp.Status, b)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// benchNDJSON posts evs as batched NDJSON, one request being one group
// commit (up to 1000 events), and times it to ack and to visible state.
func (n *ingestNode) benchNDJSON(ctx context.Context, timeout time.Duration, fl ingestFlags, evs []*app.Event) ([]benchResult, error) {
	var bodies [][]byte
	for i := 0; i < len(evs); i += fl.batch {
		var buf bytes.Buffer
		for _, e := range evs[i:min(i+fl.batch, len(evs))] {
			buf.Write(e.Raw)
			buf.WriteByte('\n')
		}
		bodies = append(bodies, buf.Bytes())
	}
	start := time.Now()
	if err := runClients(fl.clients, len(bodies), func(i int) error { return n.post(bodies[i]) }); err != nil {
		return nil, err
	}
	ackDur := time.Since(start)
	head, _ := n.m.Broker.Topic(ctx, app.TopicFlights)
	for n.lastApplied.Load() < head.LastOffset {
		if time.Since(start) > timeout {
			return nil, fmt.Errorf("state did not catch up")
		}
		time.Sleep(2 * time.Millisecond)
	}
	stateDur := time.Since(start)
	return []benchResult{
		{fmt.Sprintf("apron HTTP NDJSON %d/request, %d clients, to ack", fl.batch, fl.clients), fl.events, ackDur, "durable"},
		{fmt.Sprintf("apron HTTP NDJSON %d/request, %d clients, to state", fl.batch, fl.clients), fl.events, stateDur, "durable"},
	}, nil
}

// benchSingles posts single-event requests from many clients: group
// commit across requests.
func (n *ingestNode) benchSingles(events int) (benchResult, error) {
	singles := FlightEvents(min(events/4, 4000), "single")
	start := time.Now()
	if err := runClients(32, len(singles), func(i int) error { return n.post(singles[i].Raw) }); err != nil {
		return benchResult{}, err
	}
	return benchResult{"apron HTTP single events, 32 clients, to ack", len(singles), time.Since(start), "durable"}, nil
}

// freshness measures acknowledgement to visible state, one request at a
// time, and returns the latencies sorted.
func (n *ingestNode) freshness(ctx context.Context) ([]time.Duration, error) {
	var lats []time.Duration
	for _, e := range FlightEvents(300, "probe") {
		res, err := n.m.Broker.Append(ctx, app.TopicFlights, []*app.Event{e})
		if err != nil {
			return nil, err
		}
		acked := time.Now()
		off := res[0].Offset
		for n.lastApplied.Load() < off {
			time.Sleep(100 * time.Microsecond)
		}
		var seen time.Time
		n.applied.Range(func(k, v any) bool {
			if k.(uint64) >= off && (seen.IsZero() || v.(time.Time).Before(seen)) {
				seen = v.(time.Time)
			}
			return true
		})
		lats = append(lats, max(seen.Sub(acked), 0))
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	return lats, nil
}

// reportIngest prints the table and the ratios; results are in the
// order Ingest ran them.
func reportIngest(out io.Writer, events, eventBytes int, results []benchResult, lats []time.Duration) {
	fmt.Fprintf(out, "apron bench ingest (%d events of ~%d bytes)\n\n", events, eventBytes)
	fmt.Fprintf(out, "%-62s %10s %12s\n", "run", "events", "events/s")
	for _, r := range results {
		fmt.Fprintf(out, "%-62s %10d %12.0f\n", r.name, r.events, r.rate())
	}
	durable := results[3].rate()
	fmt.Fprintf(out, "\nbatched durable ingest vs per-message fsync: %.1fx (aim >= 10x)\n", durable/results[0].rate())
	fmt.Fprintf(out, "batched durable ingest vs async no-fsync:    %.0f%% (aim >= 30%%)\n", 100*durable/results[2].rate())
	fmt.Fprintf(out, "single-event requests vs per-message fsync:  %.1fx\n", results[5].rate()/results[0].rate())
	fmt.Fprintf(out, "ack -> visible state: p50 %s, p99 %s (n=%d)\n", pct(lats, 50), pct(lats, 99), len(lats))
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, len(d)*p/100)].Round(10 * time.Microsecond)
}

func runClients(n, jobs int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for c := 0; c < n; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= jobs {
					return
				}
				if err := f(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
