package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
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
	use    usage // of the whole process during the run, when measured
}

func (r benchResult) rate() float64 { return float64(r.events) / r.dur.Seconds() }

// cpuPerEvent is the process's CPU time per event of the run, in
// microseconds, and whether it was measured: steadier than the rate on a
// shared machine.
func (r benchResult) cpuPerEvent() (float64, bool) {
	return float64(r.use.cpu.Microseconds()) / float64(r.events), r.use.cpu > 0
}

// allocPerEvent is the heap the process allocated per event of the run,
// in bytes: the collector's work follows it, and unlike the CPU time it
// hardly moves with the machine's load.
func (r benchResult) allocPerEvent() float64 { return float64(r.use.alloc) / float64(r.events) }

// perEventCells are the run's CPU and heap an event for the report ("-"
// when not measured).
func (r benchResult) perEventCells() (cpu, alloc string) {
	c, ok := r.cpuPerEvent()
	if !ok {
		return "-", "-"
	}
	return fmt.Sprintf("%.1f", c), fmt.Sprintf("%.0f", r.allocPerEvent())
}

// usage is what the process has used so far: CPU time, and heap bytes
// allocated.
type usage struct {
	cpu   time.Duration
	alloc uint64
}

func used() usage {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return usage{cpu: CPUTime(), alloc: s[0].Value.Uint64()}
}

// since is what was used from u0 to u.
func (u usage) since(u0 usage) usage { return usage{cpu: u.cpu - u0.cpu, alloc: u.alloc - u0.alloc} }

// CPUTime is the CPU time this process has used so far: on a shared
// machine the work per event is steadier than the wall-clock rate.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ingestFlags are the flags of `apron bench ingest`.
type ingestFlags struct {
	events, batch, clients, rounds int
	cpuProfile                     string
	cluster                        bool
}

func parseIngestFlags(cfg IngestConfig, args []string) (ingestFlags, error) {
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	events := fs.Int("events", cfg.Events, "events for the batched runs")
	batch := fs.Int("batch", 1000, "events per NDJSON request")
	clients := fs.Int("clients", 4, "concurrent HTTP clients")
	rounds := fs.Int("rounds", 4, "rounds of every run; the order alternates from one round to the next")
	cpuProfile := fs.String("cpuprofile", "", "after the rounds, write a CPU profile of one more batched run of the node (not timed) to this file")
	cluster := fs.Bool("cluster", false, "three in-process nodes of one cluster (R3) beside a single node (R1) instead (ingest_cluster.go)")
	if err := fs.Parse(args); err != nil {
		return ingestFlags{}, err
	}
	if *events < 100 || *batch < 1 || *clients < 1 || *rounds < 1 {
		return ingestFlags{}, fmt.Errorf("bench ingest: -events must be at least 100, -batch, -clients and -rounds at least 1")
	}
	return ingestFlags{events: *events, batch: *batch, clients: *clients, rounds: *rounds, cpuProfile: *cpuProfile, cluster: *cluster}, nil
}

// Ingest measures ingest through the node against two baselines run in
// the same process on the same disk: raw JetStream publish one message at
// a time with fsync per write, and asynchronous publish without fsync.
// Every run is warmed up before it is timed, and rounds alternate the
// order (baselines first, then the node first); the ratios compare the
// runs of one round, taken on the same machine at about the same time.
func Ingest(ctx context.Context, cfg IngestConfig, args []string) error {
	fl, err := parseIngestFlags(cfg, args)
	if err != nil {
		return err
	}
	if fl.cluster {
		return IngestCluster(ctx, cfg, fl)
	}
	load := WatchLoad()
	n, err := openIngestNode(ctx, cfg.Dir)
	if err != nil {
		return err
	}
	defer func() { _ = n.m.Close(context.Background()) }()
	if err := n.authorize(ctx); err != nil {
		return err
	}
	if err := n.warmUp(fl); err != nil {
		return err
	}
	var rounds [][]benchResult
	for r := 0; r < fl.rounds; r++ {
		res, err := ingestRound(ctx, cfg, fl, n, r)
		if err != nil {
			return err
		}
		rounds = append(rounds, res)
	}
	if fl.cpuProfile != "" {
		// The profiler's own cost would lower a timed round's rate, so the
		// profile is of a run of its own, after the rounds.
		if err := n.profileNDJSON(ctx, cfg.Timeout, fl); err != nil {
			return err
		}
	}
	lats, err := n.freshness(ctx)
	if err != nil {
		return err
	}
	reportIngest(cfg.Out, fl, len(FlightEvents(1, "size")[0].Raw), rounds, lats)
	fmt.Fprintln(cfg.Out, load.Report())
	return nil
}

// Indices of the runs in a round's results, whatever order they ran in.
const (
	runEachSync = iota
	runAtomicBatch
	runAsync
	runNDJSONAck
	runNDJSONState
	runSingles
	runCount
)

// ingestRound runs the baselines and the node: the node last in even
// rounds, first in odd ones.
func ingestRound(ctx context.Context, cfg IngestConfig, fl ingestFlags, n *ingestNode, round int) ([]benchResult, error) {
	res := make([]benchResult, runCount)
	tag := fmt.Sprintf("r%d", round)
	baselines := func() error {
		for i, run := range []func(context.Context, IngestConfig, ingestFlags, string) (benchResult, error){
			benchPublishEachSync, benchPublishAtomicBatch, benchPublishAsync,
		} {
			r, err := run(ctx, cfg, fl, tag)
			if err != nil {
				return err
			}
			res[runEachSync+i] = r
		}
		return nil
	}
	nodeRuns := func() error {
		batched, err := n.benchNDJSON(ctx, cfg.Timeout, fl, FlightEvents(fl.events, "ndjson-"+tag))
		if err != nil {
			return err
		}
		res[runNDJSONAck], res[runNDJSONState] = batched[0], batched[1]
		res[runSingles], err = n.benchSingles(fl.events, tag)
		return err
	}
	order := []func() error{baselines, nodeRuns}
	if round%2 == 1 {
		order[0], order[1] = order[1], order[0]
	}
	for _, f := range order {
		if err := f(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// profileNDJSON writes a CPU profile of one batched run of the node.
func (n *ingestNode) profileNDJSON(ctx context.Context, timeout time.Duration, fl ingestFlags) error {
	f, err := os.Create(fl.cpuProfile)
	if err != nil {
		return err
	}
	defer f.Close()
	evs := FlightEvents(fl.events, "profile") // made before: not the node's work
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	_, err = n.benchNDJSON(ctx, timeout, fl, evs)
	pprof.StopCPUProfile()
	if err != nil {
		return fmt.Errorf("profiled run: %w", err)
	}
	return f.Close()
}

// ingestNode is a durable node (fsync per commit) under measurement,
// with the newest flights offset visible in state and when it became so.
type ingestNode struct {
	m           *node.Main
	lastApplied atomic.Uint64 // the newest flights offset visible in state
	appliedAt   atomic.Int64  // when it became visible, Unix nanoseconds
	token       string
	client      *http.Client
}

func openIngestNode(ctx context.Context, dir string) (*ingestNode, error) {
	ncfg := node.DefaultConfig()
	ncfg.Data = filepath.Join(dir, "node")
	ncfg.HTTP = "127.0.0.1:0"
	ncfg.NATS.Addr = ""
	ncfg.Ollama.URL = "" // measure ingest, not the model
	return openIngestNodeWith(ctx, ncfg)
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

// warmUp posts a few batches and single events before anything is timed.
func (n *ingestNode) warmUp(fl ingestFlags) error {
	evs := FlightEvents(fl.events/10, "warm")
	for i := 0; i < len(evs); i += fl.batch {
		if err := n.post(ndjsonBody(evs[i:min(i+fl.batch, len(evs))])); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, e := range evs[:min(50, len(evs))] {
		if err := n.post(e.Raw); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

func ndjsonBody(evs []*app.Event) []byte {
	var buf bytes.Buffer
	for _, e := range evs {
		buf.Write(e.Raw)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// benchNDJSON posts evs as batched NDJSON, one request being one group
// commit (up to 1000 events), and times it to ack and to visible state.
func (n *ingestNode) benchNDJSON(ctx context.Context, timeout time.Duration, fl ingestFlags, evs []*app.Event) ([]benchResult, error) {
	var bodies [][]byte
	for i := 0; i < len(evs); i += fl.batch {
		bodies = append(bodies, ndjsonBody(evs[i:min(i+fl.batch, len(evs))]))
	}
	start, u0 := time.Now(), used()
	if err := runClients(fl.clients, len(bodies), func(i int) error { return n.post(bodies[i]) }); err != nil {
		return nil, err
	}
	ackDur, ackUse := time.Since(start), used().since(u0)
	head, _ := n.m.Broker.Topic(ctx, app.TopicFlights)
	for n.lastApplied.Load() < head.LastOffset {
		if time.Since(start) > timeout {
			return nil, fmt.Errorf("state did not catch up")
		}
		time.Sleep(2 * time.Millisecond)
	}
	stateDur, stateUse := time.Since(start), used().since(u0)
	return []benchResult{
		{fmt.Sprintf("apron HTTP NDJSON %d/request, %d clients, to ack", fl.batch, fl.clients), fl.events, ackDur, "durable", ackUse},
		{fmt.Sprintf("apron HTTP NDJSON %d/request, %d clients, to state", fl.batch, fl.clients), fl.events, stateDur, "durable", stateUse},
	}, nil
}

// benchSingles posts single-event requests from many clients: group
// commit across requests.
func (n *ingestNode) benchSingles(events int, tag string) (benchResult, error) {
	singles := FlightEvents(min(events/4, 4000), "single-"+tag)
	start, u0 := time.Now(), used()
	if err := runClients(32, len(singles), func(i int) error { return n.post(singles[i].Raw) }); err != nil {
		return benchResult{}, err
	}
	return benchResult{"apron HTTP single events, 32 clients, to ack", len(singles), time.Since(start), "durable", used().since(u0)}, nil
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
		// One event at a time, nothing else appended: the newest entry
		// applied is this one.
		seen := time.Unix(0, n.appliedAt.Load())
		lats = append(lats, max(seen.Sub(acked), 0))
	}
	return lats, nil
}

// reportIngest prints each round's table and ratios (the runs of one
// round are compared only with each other), and the freshness probes.
func reportIngest(out io.Writer, fl ingestFlags, eventBytes int, rounds [][]benchResult, lats []time.Duration) {
	fmt.Fprintf(out, "apron bench ingest (%d events of ~%d bytes, %d rounds, every run warmed up first)\n", fl.events, eventBytes, len(rounds))
	for i, res := range rounds {
		order := "baselines first"
		if i%2 == 1 {
			order = "node first"
		}
		fmt.Fprintf(out, "\nround %d (%s)\n%-62s %10s %12s %14s %14s\n", i+1, order, "run", "events", "events/s", "cpu-µs/event", "alloc-B/event")
		for _, r := range res {
			cpu, alloc := r.perEventCells()
			fmt.Fprintf(out, "%-62s %10d %12.0f %14s %14s\n", r.name, r.events, r.rate(), cpu, alloc)
		}
		durable := res[runNDJSONAck].rate()
		fmt.Fprintf(out, "batched durable ingest vs per-message fsync: %.1fx (aim >= 10x)\n", durable/res[runEachSync].rate())
		fmt.Fprintf(out, "batched durable ingest vs async no-fsync:    %.0f%% (aim >= 30%%)\n", 100*durable/res[runAsync].rate())
		fmt.Fprintf(out, "ingest to state vs async no-fsync:           %.0f%%\n", 100*res[runNDJSONState].rate()/res[runAsync].rate())
		fmt.Fprintf(out, "single-event requests vs per-message fsync:  %.1fx\n", res[runSingles].rate()/res[runEachSync].rate())
	}
	if len(rounds) > 1 {
		reportAims(out, rounds)
	}
	fmt.Fprintf(out, "\nack -> visible state, one event at a time: %s\n", Summarize(lats))
}

// reportAims sums up the rounds: each ratio's median and range, and in
// how many rounds each aim, and both together, were met. One round that
// meets an aim says little on a shared machine; the median of rounds in
// alternating order says more.
func reportAims(out io.Writer, rounds [][]benchResult) {
	var vsSync, vsAsync, cpu, alloc []float64
	both := 0
	for _, res := range rounds {
		durable := res[runNDJSONAck].rate()
		a, b := durable/res[runEachSync].rate(), durable/res[runAsync].rate()
		vsSync, vsAsync = append(vsSync, a), append(vsAsync, b)
		if c, ok := res[runNDJSONAck].cpuPerEvent(); ok {
			cpu = append(cpu, c)
			alloc = append(alloc, res[runNDJSONAck].allocPerEvent())
		}
		if a >= 10 && b >= 0.3 {
			both++
		}
	}
	met := func(xs []float64, aim float64) int {
		n := 0
		for _, x := range xs {
			if x >= aim {
				n++
			}
		}
		return n
	}
	lo, med, hi := spread(vsSync)
	fmt.Fprintf(out, "\nover %d rounds\nbatched durable ingest vs per-message fsync: median %.1fx (%.1f-%.1fx), aim met in %d of %d\n", len(rounds), med, lo, hi, met(vsSync, 10), len(rounds))
	lo, med, hi = spread(vsAsync)
	fmt.Fprintf(out, "batched durable ingest vs async no-fsync:    median %.0f%% (%.0f-%.0f%%), aim met in %d of %d\n", 100*med, 100*lo, 100*hi, met(vsAsync, 0.3), len(rounds))
	fmt.Fprintf(out, "both aims met in the same round:             %d of %d\n", both, len(rounds))
	if len(cpu) == len(rounds) {
		lo, med, hi = spread(cpu)
		fmt.Fprintf(out, "node's batched ingest, cpu-µs an event:      median %.1f (%.1f-%.1f)\n", med, lo, hi)
		lo, med, hi = spread(alloc)
		fmt.Fprintf(out, "node's batched ingest, heap bytes an event:  median %.0f (%.0f-%.0f)\n", med, lo, hi)
	}
}

// spread is the least, the median and the greatest of xs.
func spread(xs []float64) (lo, med, hi float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	med = s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return s[0], med, s[n-1]
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
