package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// clusterTTL is the singleton lease's TTL in the cluster test.
const clusterTTL = 3 * time.Second

// clusterConfigs returns the configurations of n nodes of one cluster on
// loopback: free route ports, temp data dirs, one shared secret file.
func clusterConfigs(tb testing.TB, n int) []node.Config {
	tb.Helper()
	secret := filepath.Join(tb.TempDir(), "cluster.secret")
	if err := os.WriteFile(secret, []byte("a-test-secret-shared-by-every-node-of-the-site\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	var routes []string
	for i := 0; i < n; i++ {
		routes = append(routes, freePort(tb))
	}
	cfgs := make([]node.Config, n)
	for i := range cfgs {
		c := node.DefaultConfig()
		c.Data = tb.TempDir()
		c.HTTP = "127.0.0.1:0"
		c.NATS.Addr = "127.0.0.1:0"
		c.Ollama.URL = ""
		c.Cluster.Name = "site"
		c.Cluster.Node = fmt.Sprintf("node%c", 'a'+i)
		c.Cluster.Listen = routes[i]
		c.Cluster.Peers = routes
		c.Cluster.SecretFile = secret
		c.Cluster.LeaseTTL = node.Duration(clusterTTL)
		if err := c.Validate(); err != nil {
			tb.Fatal(err)
		}
		cfgs[i] = c
	}
	return cfgs
}

// openClusterNode opens one node; a node of a cluster waits in Open for
// its quorum, so the nodes of a new cluster are opened together.
func openClusterNode(cfg node.Config) (*node.Main, error) {
	m := node.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Stdout = io.Discard
	if err := m.Open(context.Background()); err != nil {
		_ = m.Close(context.Background())
		return nil, fmt.Errorf("open %s: %w", cfg.Cluster.Node, err)
	}
	return m, nil
}

// closeClusterNode closes m with a deadline: the last nodes of a cluster
// closed one by one have lost their quorum, and their stages give up on
// the log only after a few attempts.
func closeClusterNode(m *node.Main) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = m.Close(ctx)
}

func openCluster(tb testing.TB, cfgs []node.Config) []*node.Main {
	tb.Helper()
	ms := make([]*node.Main, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], errs[i] = openClusterNode(cfgs[i])
		}()
	}
	wg.Wait()
	for _, m := range ms {
		if m != nil {
			tb.Cleanup(func() { closeClusterNode(m) })
		}
	}
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	for _, m := range ms {
		useToken(tb, m, app.RoleAdmin)
	}
	return ms
}

// holders returns the nodes that run the singletons now.
func holders(ms []*node.Main) []*node.Main {
	var out []*node.Main
	for _, m := range ms {
		if m != nil && m.Singletons.State().Holding {
			out = append(out, m)
		}
	}
	return out
}

func hasFlight(m *node.Main, key, status string) error {
	f, err := m.Store.Flight(context.Background(), key)
	if err != nil {
		return fmt.Errorf("%s: %w", m.Config.Cluster.Node, err)
	}
	if f.Status != status {
		return fmt.Errorf("%s: %s is %s, want %s", m.Config.Cluster.Node, key, f.Status, status)
	}
	return nil
}

// ingest posts a flight event to m, retrying while the cluster elects a
// new leader for the topic (the same event id is stored once).
func ingest(tb testing.TB, m *node.Main, id, key, status string, at time.Time) {
	tb.Helper()
	checkFor(tb, 60*time.Second, func() error {
		code, body := post(tb, m.HTTP.URL()+"/api/v1/topics/flights/events", flightJSON(id, key, status, at))
		if code != 200 {
			return fmt.Errorf("ingest on %s: %d %v", m.Config.Cluster.Node, code, body)
		}
		return nil
	})
}

// TestClusterSurvivesLosingTheSingletonNode runs three nodes of one
// cluster in this process: an event ingested on one reaches the state of
// the others; the node running the singletons is stopped as a crash would
// (its NATS server goes away without giving the lease up), another takes
// the lease after its TTL and ingest goes on; the stopped node, restarted,
// catches up from the log.
func TestClusterSurvivesLosingTheSingletonNode(t *testing.T) {
	cfgs := clusterConfigs(t, 3)
	ms := openCluster(t, cfgs)
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

	ingest(t, ms[0], "c1", "LH400-2026-11-25", "delayed", t0)
	for _, m := range ms {
		checkFor(t, 60*time.Second, func() error { return hasFlight(m, "LH400-2026-11-25", "delayed") })
	}

	var holder *node.Main
	checkFor(t, 60*time.Second, func() error {
		hs := holders(ms)
		if len(hs) != 1 {
			return fmt.Errorf("%d nodes run the singletons, want 1", len(hs))
		}
		holder = hs[0]
		return nil
	})
	code, body := get(t, ms[1].HTTP.URL()+"/api/v1/cluster")
	if code != 200 {
		t.Fatalf("cluster status: %d %v", code, body)
	}
	if got := body["singletons"].([]any)[0].(map[string]any)["holder"]; got != holder.Config.Cluster.Node {
		t.Fatalf("cluster status names %v as the holder, the nodes say %s", got, holder.Config.Cluster.Node)
	}
	if body["replicas"].(float64) != 3 {
		t.Fatalf("replicas %v, want 3", body["replicas"])
	}
	for _, d := range body["singletons"].([]any) {
		if h := d.(map[string]any)["holder"]; h != holder.Config.Cluster.Node {
			t.Fatalf("singleton %v runs on %v, the lease is with %s", d, h, holder.Config.Cluster.Node)
		}
	}
	if !slices.Contains(holder.Singletons.State().Duties, "compaction") {
		t.Fatalf("the holder's duties %v do not include compaction", holder.Singletons.State().Duties)
	}
	// Each node reports how far its own state is behind the log.
	for _, m := range ms {
		checkFor(t, 60*time.Second, func() error {
			_, body := get(t, m.HTTP.URL()+"/api/v1/cluster")
			for _, l := range body["state_lag"].([]any) {
				l := l.(map[string]any)
				if l["topic"] == app.TopicFlights {
					if l["applied"].(float64) != 1 || l["behind"].(float64) != 0 {
						return fmt.Errorf("%s: flights state lag %v, want applied 1, behind 0", m.Config.Cluster.Node, l)
					}
					return nil
				}
			}
			return fmt.Errorf("%s: no flights state lag in %v", m.Config.Cluster.Node, body["state_lag"])
		})
	}

	var rest []*node.Main
	var down int
	for i, m := range ms {
		if m == holder {
			down = i
		} else {
			rest = append(rest, m)
		}
	}
	killed := time.Now()
	holder.Broker.Server().Shutdown()
	took := checkFor(t, 90*time.Second, func() error {
		hs := holders(rest)
		if len(hs) != 1 {
			return fmt.Errorf("%d of the remaining nodes run the singletons, want 1", len(hs))
		}
		return nil
	})
	t.Logf("failover: %s after the holder %s stopped (lease TTL %s)", took.Round(time.Millisecond), holder.Config.Cluster.Node, clusterTTL)
	checkFor(t, 30*time.Second, func() error {
		if holder.Singletons.State().Holding {
			return errors.New("the stopped node still believes it runs the singletons")
		}
		return nil
	})
	t.Logf("the stopped node had stopped its singletons %s after its server went", holder.Singletons.State().Since.Sub(killed).Round(time.Millisecond))
	// Its stages read from a server that is gone, as after a crash.
	closeClusterNode(holder)

	ingest(t, rest[0], "c2", "LH400-2026-11-25", "cancelled", t0.Add(time.Minute))
	ingest(t, rest[1], "c3", "LH402-2026-11-25", "delayed", t0.Add(time.Minute))
	for _, m := range rest {
		checkFor(t, 60*time.Second, func() error { return hasFlight(m, "LH400-2026-11-25", "cancelled") })
		checkFor(t, 60*time.Second, func() error { return hasFlight(m, "LH402-2026-11-25", "delayed") })
	}

	back, err := openClusterNode(cfgs[down])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeClusterNode(back) })
	checkFor(t, 60*time.Second, func() error { return hasFlight(back, "LH400-2026-11-25", "cancelled") })
	checkFor(t, 60*time.Second, func() error { return hasFlight(back, "LH402-2026-11-25", "delayed") })
	if hs := holders(append(rest, back)); len(hs) != 1 {
		t.Fatalf("after the restart %d nodes run the singletons, want 1", len(hs))
	}
}

// TestSingleNodeClusterStatus: without cluster settings a node is alone,
// as before: one replica, no lease, the singletons run here.
func TestSingleNodeClusterStatus(t *testing.T) {
	m := MustRunMain(t)
	if m.Singletons != nil || m.Lease != nil {
		t.Fatal("a single node has no lease")
	}
	code, body := get(t, m.HTTP.URL()+"/api/v1/cluster")
	if code != 200 || body["clustered"] != false || body["replicas"].(float64) != 1 {
		t.Fatalf("%d %v", code, body)
	}
	for _, tp := range body["topics"].([]any) {
		if l := tp.(map[string]any)["leader"]; l != "apron" {
			t.Fatalf("topic leader %v, want this node", l)
		}
	}
	if h := body["singletons"].([]any)[0].(map[string]any)["holder"]; h != "apron" {
		t.Fatalf("singleton holder %v, want this node", h)
	}
}
