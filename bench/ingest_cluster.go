package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// IngestCluster is `apron bench ingest --cluster`: durable ingest into
// three in-process nodes of one cluster (R3 topics: acknowledged once a
// majority stored the batch) beside one single node (R1) in the same run,
// and the time from the acknowledgement by one node to the event's
// visibility in the state of another node (a follower of the ingest).
func IngestCluster(ctx context.Context, cfg IngestConfig, fl ingestFlags) error {
	load := WatchLoad()
	single, err := openIngestNodeWith(ctx, benchNodeConfig(filepath.Join(cfg.Dir, "single")))
	if err != nil {
		return fmt.Errorf("single node: %w", err)
	}
	defer func() { _ = single.m.Close(context.Background()) }()
	cluster, err := openBenchCluster(ctx, cfg.Dir, 3)
	if err != nil {
		return err
	}
	defer func() {
		for _, n := range cluster {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = n.m.Close(cctx)
			cancel()
		}
	}()
	for _, n := range append([]*ingestNode{single}, cluster...) {
		if err := n.authorize(ctx); err != nil {
			return err
		}
	}
	if err := single.warmUp(fl); err != nil {
		return err
	}
	if err := cluster[0].warmUp(fl); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "apron bench ingest --cluster (%d events in requests of %d, %d clients, %d rounds)\n", fl.events, fl.batch, fl.clients, fl.rounds)
	fmt.Fprintf(cfg.Out, "%-54s %12s %12s\n", "run", "events/s", "ack->state")
	for r := 0; r < fl.rounds; r++ {
		runs := []struct {
			name      string
			ingest    *ingestNode
			follower  *ingestNode
			tagPrefix string
		}{
			{"single node R1: ack, then state on the same node", single, single, "r1"},
			{"cluster R3: ack by node a, then state on node b", cluster[0], cluster[1], "r3"},
		}
		if r%2 == 1 {
			runs[0], runs[1] = runs[1], runs[0]
		}
		for _, run := range runs {
			tag := fmt.Sprintf("%s-%d", run.tagPrefix, r)
			rate, err := batchedRate(run.ingest, fl, FlightEvents(fl.events, tag))
			if err != nil {
				return fmt.Errorf("%s: %w", run.name, err)
			}
			lats, err := ackToState(ctx, run.ingest, run.follower, 100, tag+"-lat")
			if err != nil {
				return fmt.Errorf("%s: %w", run.name, err)
			}
			fmt.Fprintf(cfg.Out, "%-54s %12.0f %s\n", fmt.Sprintf("round %d %s", r+1, run.name), rate, Summarize(lats))
		}
	}
	fmt.Fprintln(cfg.Out, load.Report())
	return nil
}

func benchNodeConfig(dir string) node.Config {
	c := node.DefaultConfig()
	c.Data = dir
	c.HTTP = "127.0.0.1:0"
	c.NATS.Addr = ""
	c.Ollama.URL = ""
	return c
}

// openIngestNodeWith opens a node for the ingest benchmarks on cfg.
func openIngestNodeWith(ctx context.Context, cfg node.Config) (*ingestNode, error) {
	n := &ingestNode{m: node.NewMain(cfg, slog.New(slog.DiscardHandler)), client: &http.Client{Timeout: time.Minute}}
	n.m.Demo = true // no first-start admin, so no one-time password on standard output
	if err := n.m.Open(ctx); err != nil {
		_ = n.m.Close(context.Background())
		return nil, err
	}
	n.m.Materializer.Listener = app.StateListeners{app.StateListenerFunc(func(topic string, off uint64, _ []app.StateChange) {
		if topic == app.TopicFlights {
			// No allocation per entry: the listener runs on the measured
			// path, and a map of every offset grew the heap (and the
			// collector's work) round after round.
			n.appliedAt.Store(time.Now().UnixNano())
			n.lastApplied.Store(off)
		}
	}), n.m.Materializer.Listener}
	return n, nil
}

// openBenchCluster opens n nodes of one cluster on loopback at once (each
// waits in Open for its quorum).
func openBenchCluster(ctx context.Context, dir string, n int) ([]*ingestNode, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	secret := filepath.Join(dir, "cluster.secret")
	if err := os.WriteFile(secret, []byte(app.NewSecret("")+app.NewSecret("")), 0o600); err != nil {
		return nil, err
	}
	var routes []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		routes = append(routes, ln.Addr().String())
		_ = ln.Close()
	}
	nodes := make([]*ingestNode, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range nodes {
		c := benchNodeConfig(filepath.Join(dir, fmt.Sprintf("node%c", 'a'+i)))
		c.Cluster.Name, c.Cluster.Node = "bench", fmt.Sprintf("node%c", 'a'+i)
		c.Cluster.Listen, c.Cluster.Peers, c.Cluster.SecretFile = routes[i], routes, secret
		if err := c.Validate(); err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = openIngestNodeWith(ctx, c)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, nd := range nodes {
			if nd != nil {
				_ = nd.m.Close(context.Background())
			}
		}
		return nil, fmt.Errorf("open cluster: %w", err)
	}
	return nodes, nil
}

// batchedRate posts evs to n in NDJSON requests from fl.clients clients
// and returns the acknowledged events per second.
func batchedRate(n *ingestNode, fl ingestFlags, evs []*app.Event) (float64, error) {
	jobs := (len(evs) + fl.batch - 1) / fl.batch
	start := time.Now()
	err := runClients(fl.clients, jobs, func(i int) error {
		return n.post(ndjsonBody(evs[i*fl.batch : min((i+1)*fl.batch, len(evs))]))
	})
	if err != nil {
		return 0, err
	}
	return float64(len(evs)) / time.Since(start).Seconds(), nil
}

// ackToState posts k events one at a time to ingest and, after each
// acknowledgement, waits until follower's state has applied it.
func ackToState(ctx context.Context, ingest, follower *ingestNode, k int, tag string) ([]time.Duration, error) {
	var lats []time.Duration
	for _, e := range FlightEvents(k, tag) {
		if err := ingest.post(e.Raw); err != nil {
			return nil, err
		}
		acked := time.Now()
		head, err := follower.m.Broker.Topic(ctx, app.TopicFlights)
		if err != nil {
			return nil, err
		}
		deadline := acked.Add(30 * time.Second)
		for follower.lastApplied.Load() < head.LastOffset {
			if time.Now().After(deadline) {
				return nil, app.Errorf(app.EUNAVAILABLE, "state on the follower did not reach offset %d in 30s", head.LastOffset)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lats = append(lats, time.Since(acked))
	}
	return lats, nil
}
