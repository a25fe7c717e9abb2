package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
)

// mustRunKafka starts a real single-node Kafka with scripts/kafka.sh on
// free ports and returns its bootstrap address.
func mustRunKafka(tb testing.TB) string {
	tb.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		tb.Fatal("java not found: the Kafka tests need Java 17 (scripts/kafka.sh)")
	}
	dir := tb.TempDir()
	cmd := exec.Command("scripts/kafka.sh", "start", dir)
	cmd.Env = append(os.Environ(), "KAFKA_PORT=0", "KAFKA_CONTROLLER_PORT=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("start kafka: %v", err)
	}
	tb.Cleanup(func() { _ = exec.Command("scripts/kafka.sh", "stop", dir).Run() })
	return strings.TrimSpace(string(out))
}

func kcat(tb testing.TB, stdin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("kcat %v: %v", args, err)
	}
	return string(out)
}

// TestNodeMirrorsCentralKafka runs the node with the bridge against a real
// Kafka: a cancellation published on central's topic by an independent
// client (kcat) reaches the board's state, and the rebooking a person
// approves reaches central's fra.rebookings topic once.
func TestNodeMirrorsCentralKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka broker")
	}
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat not found: scripts/setup-test.sh installs it")
	}
	addr := mustRunKafka(t)
	for _, topic := range []string{"flights", "bookings", "passengers", "documents", "fra.rebookings", "fra.heartbeats"} {
		kcat(t, "", "-b", addr, "-L", "-t", topic) // auto-creates the topic
	}
	s := newScenario(t, func(c *node.Config) { c.Kafka.Brokers, c.Kafka.MaxEventBytes = []string{addr}, 20000 })
	lh400, lh402 := "LH400-2026-11-25", "LH402-2026-11-25"
	// Central publishes the schedule and a booking on its topics.
	produce := func(topic string, lines ...string) {
		var b strings.Builder
		for _, l := range lines {
			var e app.Event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s\t%s\n", e.Subject, l)
		}
		kcat(t, b.String(), "-b", addr, "-t", topic, "-P", "-K", "\t", "-H", "origin=central")
	}
	produce("flights",
		s.flight("k1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("k2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 5))
	produce("bookings", s.booking("KAFKA1", "P1", "gold", nil, lh400))
	checkFor(t, 30*time.Second, func() error {
		_, err := s.m.Store.Booking(context.Background(), "KAFKA1")
		return err
	})
	produce("flights", s.flight("k3", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	var prop *app.Proposal
	checkFor(t, 30*time.Second, func() error {
		ps := s.proposals(app.ProposalPending)
		if len(ps) != 1 {
			return fmt.Errorf("%d proposals", len(ps))
		}
		prop = ps[0]
		return nil
	})
	if o := prop.ChosenOption(); o == nil || o.Flights[0] != lh402 {
		t.Fatalf("proposal %+v", prop)
	}
	if code, ex := s.approve(prop.ID); code != 200 || ex.Outcome != app.ProposalExecuted {
		t.Fatalf("approve: %d %+v", code, ex)
	}
	s.approve(prop.ID) // twice: still once at central
	// Central receives proposed + executed, each once, with CloudEvents headers.
	var lines []string
	checkFor(t, 60*time.Second, func() error {
		out := kcat(t, "", "-b", addr, "-t", "fra.rebookings", "-C", "-e", "-q", "-f", "%h\t%s\n")
		lines = nil
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) < 2 {
			return fmt.Errorf("%d records at central", len(lines))
		}
		return nil
	})
	ids := map[string]int{}
	for _, l := range lines {
		var e app.Event
		if err := json.Unmarshal([]byte(l[strings.Index(l, "\t")+1:]), &e); err != nil {
			t.Fatalf("record %q: %v", l, err)
		}
		ids[e.ID]++
		if !strings.Contains(l, "ce_id="+e.ID) {
			t.Fatalf("record without ce_ headers: %q", l)
		}
	}
	if ids["rebooking-proposed-"+prop.ID] != 1 || ids["rebooking-executed-"+prop.ID] != 1 || len(lines) != 2 {
		t.Fatalf("records at central: %v", ids)
	}
	// An oversized event from central lands in the dead letters with its
	// Kafka coordinates, and the bridge goes on.
	big := strings.Replace(s.flight("k9", "LH", "409", "FRA", "JFK", 15, 9, app.FlightScheduled, 3), `"data":{`, `"data":{"note":"`+strings.Repeat("x", 30000)+`",`, 1)
	produce("flights", big)
	checkFor(t, 30*time.Second, func() error {
		ti, _ := s.m.Broker.Topic(context.Background(), app.TopicDeadLetter)
		if ti.Messages == 0 {
			return fmt.Errorf("no dead letter yet")
		}
		le, err := s.m.Broker.Get(context.Background(), app.TopicDeadLetter, ti.LastOffset)
		if err != nil {
			return err
		}
		if !strings.Contains(string(le.Data), "more than the 20000 allowed") || !strings.Contains(string(le.Data), `"kafka_topic":"flights"`) {
			return fmt.Errorf("dead letter %s", le.Data[:min(len(le.Data), 300)])
		}
		return nil
	})
	// The bridge reports itself connected.
	_, body := get(t, s.m.HTTP.URL()+"/api/v1/bridge")
	if st, _ := body["status"].(map[string]any); st == nil || st["connected"] != true {
		t.Fatalf("bridge status: %v", body)
	}
}

func TestCentralLinkDownIsShownAndNothingIsLost(t *testing.T) {
	s := newScenario(t, func(c *node.Config) { c.Kafka.Brokers = []string{"127.0.0.1:1"} })
	s.ingest("flights", s.flight("d1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3))
	waitCaughtUp(t, s.m, 10*time.Second)
	_, body := get(t, s.m.HTTP.URL()+"/api/v1/bridge")
	st, _ := body["status"].(map[string]any)
	if st == nil || st["connected"] != false {
		t.Fatalf("bridge status: %v", body)
	}
	resp, err := authGet(s.m.HTTP.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Central link down") {
		t.Fatal("no banner while the central link is down")
	}
	resp, _ = authGet(s.m.HTTP.URL() + "/metrics")
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "apron_bridge_connected 0") {
		t.Fatal("metrics lack apron_bridge_connected 0")
	}
}

// TestBenchBridgeAgreesWithKafka runs `apron bench bridge` at a small size
// against a real Kafka and checks its figures with an independent
// consumer: every outbound record carries Kafka's log-append time (not a
// time the bridge stamped), the bench timed each record from exactly that
// time, and the rates and quantiles it prints follow from Kafka's
// timestamps; inbound, the time the bench started from is Kafka's own.
func TestBenchBridgeAgreesWithKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka broker")
	}
	addr := mustRunKafka(t)
	ctx := context.Background()
	res, err := bench.RunBridge(ctx, bench.BridgeConfig{Dir: t.TempDir(), Records: 300, Rounds: 2, Kafka: addr})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res.Report(&out)
	if len(res.Rounds) != 2 {
		t.Fatalf("%d rounds", len(res.Rounds))
	}
	for i, r := range res.Rounds {
		tag := fmt.Sprintf("r%d-", i+1)
		// The ceiling is Kafka's tool after a warm-up as long as the run.
		if r.Ceiling.Records != 300 || r.Ceiling.Rate <= 0 {
			t.Fatalf("round %d: the ceiling is not the tool's steady state of 300 records: %+v", i+1, r.Ceiling)
		}
		for _, dir := range []struct {
			name, topic, prefix string
			run                 bench.BridgeRun
			last                func(map[string]time.Time) time.Time
		}{
			{"outbound", "fra.rebookings", "bench-out-" + tag, r.Outbound, latest},
			{"inbound", "flights", "bench-in-" + tag, r.Inbound, nil},
		} {
			kafka := map[string]time.Time{}
			if err := bench.ReadKafkaTimes(ctx, addr, dir.topic, dir.prefix, dir.run.Records, kafka); err != nil {
				t.Fatalf("round %d %s: %v", i+1, dir.name, err)
			}
			if len(kafka) != dir.run.Records || len(dir.run.KafkaTime) != dir.run.Records {
				t.Fatalf("round %d %s: Kafka holds %d records, the bench timed %d of %d", i+1, dir.name, len(kafka), len(dir.run.KafkaTime), dir.run.Records)
			}
			for id, kt := range kafka {
				if got, ok := dir.run.KafkaTime[id]; !ok || !got.Equal(kt) {
					t.Fatalf("round %d %s: %s: Kafka's log-append time %s, the bench used %s", i+1, dir.name, id, kt, got)
				}
			}
			if dir.last == nil {
				continue
			}
			// Outbound: the rate and the quantiles the bench prints follow
			// from Kafka's times and the local send times alone.
			var lat []time.Duration
			for id, kt := range kafka {
				if kt.Before(dir.run.Sent[id].Truncate(time.Millisecond)) {
					t.Fatalf("round %d: %s appended to Kafka at %s, before it was sent at %s", i+1, id, kt, dir.run.Sent[id])
				}
				lat = append(lat, kt.Sub(dir.run.Sent[id]))
			}
			want := fmt.Sprintf("%-50s %10.0f   %s", "bridge outbound: local log -> Kafka log append",
				float64(dir.run.Records)/dir.last(kafka).Sub(dir.run.Start).Seconds(), bench.Summarize(lat))
			if !strings.Contains(out.String(), want) {
				t.Fatalf("round %d: the report does not say %q:\n%s", i+1, want, out.String())
			}
		}
	}
	t.Log(out.String())
}

func latest(ts map[string]time.Time) time.Time {
	var last time.Time
	for _, t := range ts {
		if t.After(last) {
			last = t
		}
	}
	return last
}
