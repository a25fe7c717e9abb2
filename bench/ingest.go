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

// Ingest measures ingest through the node against two baselines run
// in the same process on the same disk: raw JetStream publish one message
// at a time with fsync per write, and asynchronous publish without fsync.
func Ingest(ctx context.Context, cfg IngestConfig, args []string) error {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	events := fs.Int("events", cfg.Events, "events for the batched runs")
	batch := fs.Int("batch", 1000, "events per NDJSON request")
	clients := fs.Int("clients", 4, "concurrent HTTP clients")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the node runs to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler)
	out := cfg.Out
	var results []benchResult

	// Baseline 1: one message at a time, fsync on every write.
	perMsg := min(*events/10, 2000)
	{
		b := broker.New(broker.Config{Dir: filepath.Join(cfg.Dir, "sync"), Sync: broker.SyncAlways, DuplicateWindow: time.Hour, MaxBatch: 1000})
		b.Logger = quiet
		if err := b.Open(); err != nil {
			return err
		}
		evs := FlightEvents(perMsg, "sync")
		start := time.Now()
		for _, e := range evs {
			if _, err := b.PublishOne(ctx, app.TopicFlights, broker.MessageOf(e)); err != nil {
				return err
			}
		}
		results = append(results, benchResult{"jetstream publish, one at a time, fsync each", perMsg, time.Since(start), "baseline"})
		_ = b.Close(ctx)
	}
	// Reference: JetStream's own atomic batch publish, fsync per batch.
	{
		b := broker.New(broker.Config{Dir: filepath.Join(cfg.Dir, "atomic"), Sync: broker.SyncAlways, DuplicateWindow: time.Hour, MaxBatch: 1000})
		b.Logger = quiet
		if err := b.Open(); err != nil {
			return err
		}
		evs := FlightEvents(*events, "atomic")
		start := time.Now()
		for i := 0; i < len(evs); i += *batch {
			var msgs []*nats.Msg
			for _, e := range evs[i:min(i+*batch, len(evs))] {
				m := nats.NewMsg(app.LogSubject(app.TopicFlights, e.Subject))
				m.Data = e.Raw
				m.Header.Set(jetstream.MsgIDHeader, e.ID)
				msgs = append(msgs, m)
			}
			if _, err := jetstreamext.PublishMsgBatch(ctx, b.JetStream(), msgs); err != nil {
				return err
			}
		}
		results = append(results, benchResult{fmt.Sprintf("jetstream atomic batch %d/batch, fsync per batch", *batch), *events, time.Since(start), "reference"})
		_ = b.Close(ctx)
	}
	// Baseline 2: asynchronous publish, no fsync (background sync).
	{
		b := broker.New(broker.Config{Dir: filepath.Join(cfg.Dir, "nosync"), Sync: broker.SyncInterval, SyncInterval: 2 * time.Minute, DuplicateWindow: time.Hour, MaxBatch: 1000})
		b.Logger = quiet
		if err := b.Open(); err != nil {
			return err
		}
		evs := FlightEvents(*events, "async")
		js := b.JetStream()
		start := time.Now()
		for _, e := range evs {
			m := nats.NewMsg(app.LogSubject(app.TopicFlights, e.Subject))
			m.Data = e.Raw
			m.Header.Set(jetstream.MsgIDHeader, e.ID)
			if _, err := js.PublishMsgAsync(m); err != nil {
				return err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(cfg.Timeout):
			return fmt.Errorf("async publish did not complete")
		}
		results = append(results, benchResult{"jetstream async publish, no fsync", *events, time.Since(start), "ceiling"})
		_ = b.Close(ctx)
	}

	// The node, durable (fsync per commit), through HTTP.
	ncfg := node.DefaultConfig()
	ncfg.Data = filepath.Join(cfg.Dir, "node")
	ncfg.HTTP = "127.0.0.1:0"
	ncfg.NATS.Addr = ""
	ncfg.Ollama.URL = "" // measure ingest, not the model
	m := node.NewMain(ncfg, quiet)
	var applied sync.Map // offset -> time first visible in state
	var lastApplied atomic.Uint64
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer func() { _ = m.Close(context.Background()) }()
	m.Materializer.Listener = app.StateListeners{app.StateListenerFunc(func(topic string, off uint64, _ []app.StateChange) {
		if topic == app.TopicFlights {
			applied.Store(off, time.Now())
			lastApplied.Store(off)
		}
	}), m.Materializer.Listener}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	token := app.NewSecret("apron_")
	if _, err := m.Store.CreateToken(ctx, "bench", app.RoleAgent, app.HashSecret(token), time.Now()); err != nil {
		return err
	}
	url := m.HTTP.URL() + "/api/v1/topics/flights/events"
	client := &http.Client{Timeout: time.Minute}
	post := func(body []byte) error {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
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

	// Batched NDJSON: one request is one group commit (up to 1000 events).
	evs := FlightEvents(*events, "ndjson")
	var bodies [][]byte
	for i := 0; i < len(evs); i += *batch {
		var buf bytes.Buffer
		for _, e := range evs[i:min(i+*batch, len(evs))] {
			buf.Write(e.Raw)
			buf.WriteByte('\n')
		}
		bodies = append(bodies, buf.Bytes())
	}
	start := time.Now()
	if err := runClients(*clients, len(bodies), func(i int) error { return post(bodies[i]) }); err != nil {
		return err
	}
	ackDur := time.Since(start)
	head, _ := m.Broker.Topic(ctx, app.TopicFlights)
	for lastApplied.Load() < head.LastOffset {
		if time.Since(start) > cfg.Timeout {
			return fmt.Errorf("state did not catch up")
		}
		time.Sleep(2 * time.Millisecond)
	}
	stateDur := time.Since(start)
	results = append(results,
		benchResult{fmt.Sprintf("apron HTTP NDJSON %d/request, %d clients, to ack", *batch, *clients), *events, ackDur, "durable"},
		benchResult{fmt.Sprintf("apron HTTP NDJSON %d/request, %d clients, to state", *batch, *clients), *events, stateDur, "durable"})

	// Single-event requests from many clients: group commit across requests.
	singles := FlightEvents(min(*events/4, 4000), "single")
	start = time.Now()
	if err := runClients(32, len(singles), func(i int) error { return post(singles[i].Raw) }); err != nil {
		return err
	}
	results = append(results, benchResult{"apron HTTP single events, 32 clients, to ack", len(singles), time.Since(start), "durable"})

	// Freshness: acknowledgement to visible state, one request at a time.
	probe := FlightEvents(300, "probe")
	var lats []time.Duration
	for _, e := range probe {
		res, err := m.Broker.Append(ctx, app.TopicFlights, []*app.Event{e})
		if err != nil {
			return err
		}
		acked := time.Now()
		off := res[0].Offset
		for lastApplied.Load() < off {
			time.Sleep(100 * time.Microsecond)
		}
		var seen time.Time
		applied.Range(func(k, v any) bool {
			if k.(uint64) >= off && (seen.IsZero() || v.(time.Time).Before(seen)) {
				seen = v.(time.Time)
			}
			return true
		})
		lats = append(lats, max(seen.Sub(acked), 0))
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })

	fmt.Fprintf(out, "apron bench ingest (%d events of ~%d bytes)\n\n", *events, len(evs[0].Raw))
	fmt.Fprintf(out, "%-62s %10s %12s\n", "run", "events", "events/s")
	for _, r := range results {
		fmt.Fprintf(out, "%-62s %10d %12.0f\n", r.name, r.events, r.rate())
	}
	durable := results[3].rate()
	fmt.Fprintf(out, "\nbatched durable ingest vs per-message fsync: %.1fx (aim >= 10x)\n", durable/results[0].rate())
	fmt.Fprintf(out, "batched durable ingest vs async no-fsync:    %.0f%% (aim >= 30%%)\n", 100*durable/results[2].rate())
	fmt.Fprintf(out, "single-event requests vs per-message fsync:  %.1fx\n", results[5].rate()/results[0].rate())
	fmt.Fprintf(out, "ack -> visible state: p50 %s, p99 %s (n=%d)\n", pct(lats, 50), pct(lats, 99), len(lats))
	return nil
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
