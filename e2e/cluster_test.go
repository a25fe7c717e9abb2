package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	// And every node shows every node's, from the reports in the
	// cluster's node bucket.
	for _, m := range ms {
		checkFor(t, 60*time.Second, func() error { return showsEveryNodesState(t, m, ms, 1) })
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

// clusterFlight is a flight of today's FRA-JFK service departing dep
// (real time: the nodes of a cluster test run on the real clock).
func clusterFlight(tb testing.TB, id, number string, dep time.Time, status string, capY int) (string, string) {
	tb.Helper()
	date := dep.UTC().Format("2006-01-02")
	f := app.Flight{Flight: app.FlightKey("LH", number, date), Carrier: "LH", Number: number, Date: date, Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: dep, ScheduledArrival: dep.Add(9 * time.Hour), Status: status, Capacity: map[string]int{"Y": capY}}
	at := time.Now().Add(-time.Hour)
	if status != app.FlightScheduled {
		at = time.Now()
	}
	e, err := app.NewEvent(id, "central", app.TypeFlightStatus, f.Flight, at, f)
	if err != nil {
		tb.Fatal(err)
	}
	return f.Flight, string(e.Raw)
}

func clusterBooking(tb testing.TB, loc, flight string) string {
	tb.Helper()
	b := app.Booking{Locator: loc, Status: "active", Passengers: []app.BookingPassenger{{ID: "P-" + loc, Name: "Pax " + loc, Tier: "none"}},
		Segments: []app.Segment{{Flight: flight, Cabin: "Y"}}}
	e, err := app.NewEvent("b-"+loc, "central", app.TypeBookingCreated, loc, time.Now().Add(-time.Hour), b)
	if err != nil {
		tb.Fatal(err)
	}
	return string(e.Raw)
}

// pendingProposal waits until m shows the pending proposal of booking loc.
func pendingProposal(tb testing.TB, m *node.Main, loc string) *app.Proposal {
	tb.Helper()
	var got *app.Proposal
	checkFor(tb, 60*time.Second, func() error {
		ps, err := m.Store.Proposals(context.Background(), app.ProposalFilter{Status: app.ProposalPending})
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Locator == loc && p.ChosenOption() != nil {
				got = p
				return nil
			}
		}
		return fmt.Errorf("%s shows no pending proposal of %s", m.Config.Cluster.Node, loc)
	})
	return got
}

// TestClusterSellsTheLastSeatOnce: two bookings whose flights were
// cancelled are both offered the last seat of LH402; their approvals are
// made at the same moment through the two nodes that do not hold the
// lease. The booking
// engine, on the lease holder, decides the two commands in log order:
// exactly one executes, the other fails with the reason (409), and every
// node shows the same proposals, the same execution and no seat left.
func TestClusterSellsTheLastSeatOnce(t *testing.T) {
	ms := openCluster(t, clusterConfigs(t, 3))
	now := time.Now()
	lh400, f1 := clusterFlight(t, "s1", "400", now.Add(3*time.Hour), app.FlightScheduled, 3)
	// LH404 is full with BBBBBB, so it is no option for AAAAAA.
	lh404, f2 := clusterFlight(t, "s2", "404", now.Add(3*time.Hour+30*time.Minute), app.FlightScheduled, 1)
	lh402, f3 := clusterFlight(t, "s3", "402", now.Add(6*time.Hour), app.FlightScheduled, 1)
	postRetry := func(m *node.Main, topic string, lines ...string) {
		checkFor(t, 60*time.Second, func() error {
			if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/"+topic+"/events", strings.Join(lines, "\n")); code != 200 {
				return fmt.Errorf("ingest %s on %s: %d %v", topic, m.Config.Cluster.Node, code, body)
			}
			return nil
		})
	}
	postRetry(ms[0], "flights", f1, f2, f3)
	postRetry(ms[1], "bookings", clusterBooking(t, "AAAAAA", lh400), clusterBooking(t, "BBBBBB", lh404))
	for _, m := range ms {
		checkFor(t, 60*time.Second, func() error {
			if _, err := m.Store.Booking(context.Background(), "BBBBBB"); err != nil {
				return fmt.Errorf("%s: %w", m.Config.Cluster.Node, err)
			}
			return nil
		})
	}
	// One cancellation after the other: each booking is offered LH402's
	// one seat while nobody holds it yet.
	_, c1 := clusterFlight(t, "s4", "400", now.Add(3*time.Hour), app.FlightCancelled, 3)
	postRetry(ms[2], "flights", c1)
	a := pendingProposal(t, ms[0], "AAAAAA")
	_, c2 := clusterFlight(t, "s5", "404", now.Add(3*time.Hour+30*time.Minute), app.FlightCancelled, 1)
	postRetry(ms[2], "flights", c2)
	b := pendingProposal(t, ms[1], "BBBBBB")
	for _, p := range []*app.Proposal{a, b} {
		if o := p.ChosenOption(); o.Flights[0] != lh402 {
			t.Fatalf("%s is offered %v, want %s", p.Locator, o.Flights, lh402)
		}
	}

	// Through the two nodes that do not run the booking engine.
	var via []*node.Main
	checkFor(t, 60*time.Second, func() error {
		if hs := holders(ms); len(hs) != 1 {
			return fmt.Errorf("%d nodes run the singletons, want 1", len(hs))
		}
		via = nil
		for _, m := range ms {
			if !m.Singletons.State().Holding {
				via = append(via, m)
			}
		}
		return nil
	})
	// Each shows the proposal it is asked to approve.
	a, b = pendingProposal(t, via[0], "AAAAAA"), pendingProposal(t, via[1], "BBBBBB")
	type answer struct {
		node string
		code int
		body map[string]any
		took time.Duration
	}
	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i, req := range []struct {
		m *node.Main
		p *app.Proposal
	}{{via[0], a}, {via[1], b}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, body := post(t, req.m.HTTP.URL()+"/api/v1/proposals/"+req.p.ID+"/approve", "")
			answers[i] = answer{req.m.Config.Cluster.Node, code, body, time.Since(start)}
		}()
	}
	wg.Wait()
	var won, lost int
	for _, an := range answers {
		t.Logf("approval through %s answered %d after %s", an.node, an.code, an.took.Round(time.Millisecond))
		ex, _ := an.body["execution"].(map[string]any)
		switch {
		case an.code == 200 && ex["outcome"] == app.ProposalExecuted:
			won++
		case an.code == 409 && ex["outcome"] == app.ProposalFailed && strings.Contains(fmt.Sprint(ex["detail"]), "seat(s) left"):
			lost++
			t.Logf("the approval through %s lost: %v", an.node, ex["detail"])
		default:
			t.Fatalf("approval through %s: %d %v", an.node, an.code, an.body)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("%d approvals executed and %d failed, want one each: %+v", won, lost, answers)
	}

	// Every node, once it has applied the control topic as far as the
	// log holds it now: the same proposals, one execution, no seat left,
	// the winner's booking on LH402.
	ti, err := via[0].Broker.Topic(context.Background(), app.TopicControl)
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, m := range ms {
		checkFor(t, 60*time.Second, func() error {
			if pos, err := m.Store.Position(context.Background(), app.ControlConsumer, app.TopicControl); err != nil || pos < ti.LastOffset {
				return fmt.Errorf("%s has applied control up to %d, the log holds %d (%v)", m.Config.Cluster.Node, pos, ti.LastOffset, err)
			}
			if left, err := m.Store.SeatsLeft(context.Background(), lh402, "Y"); err != nil || left != 0 {
				return fmt.Errorf("%s: %d seats left on %s (%v)", m.Config.Cluster.Node, left, lh402, err)
			}
			moved := 0
			for _, loc := range []string{"AAAAAA", "BBBBBB"} {
				if bk, err := m.Store.Booking(context.Background(), loc); err == nil && bk.Segments[0].Flight == lh402 {
					moved++
				}
			}
			if moved != 1 {
				return fmt.Errorf("%s: %d bookings on %s, want 1", m.Config.Cluster.Node, moved, lh402)
			}
			return nil
		})
		ps, err := m.Store.Proposals(context.Background(), app.ProposalFilter{})
		if err != nil {
			t.Fatal(err)
		}
		executed := 0
		for _, p := range ps {
			if p.Status == app.ProposalExecuted {
				executed++
			}
		}
		if executed != 1 {
			t.Fatalf("%s shows %d executed proposals", m.Config.Cluster.Node, executed)
		}
		got := proposalsJSON(t, ps)
		if want == "" {
			want = got
		} else if got != want {
			t.Fatalf("%s shows other proposals than %s:\n%s\n%s", m.Config.Cluster.Node, ms[0].Config.Cluster.Node, got, want)
		}
	}
}

// showsEveryNodesState checks that m's cluster status lists the state of
// every node of ms, each with flights applied up to head and nothing
// behind.
func showsEveryNodesState(t *testing.T, m *node.Main, ms []*node.Main, head float64) error {
	_, body := get(t, m.HTTP.URL()+"/api/v1/cluster")
	nodes, _ := body["nodes"].([]any)
	seen := map[string]bool{}
	for _, n := range nodes {
		n := n.(map[string]any)
		for _, l := range n["state_lag"].([]any) {
			l := l.(map[string]any)
			if l["topic"] == app.TopicFlights && (l["applied"].(float64) != head || l["behind"].(float64) != 0) {
				return fmt.Errorf("%s shows %v with flights %v, want applied %v, behind 0", m.Config.Cluster.Node, n["node"], l, head)
			}
		}
		seen[n["node"].(string)] = true
	}
	for _, o := range ms {
		if !seen[o.Config.Cluster.Node] {
			return fmt.Errorf("%s shows the state of %v, not of %s", m.Config.Cluster.Node, slices.Collect(maps.Keys(seen)), o.Config.Cluster.Node)
		}
	}
	return nil
}
