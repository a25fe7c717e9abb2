package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBridgeSurvivesSIGKILL runs `apron serve --kafka` as a child process,
// kills it with SIGKILL at random moments while outcomes stream out to
// Kafka and central events stream in, and restarts it each time. Then every
// acknowledged outcome is in Kafka exactly once, and every central event is
// in the local log exactly once.
func TestBridgeSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Kafka and the binary")
	}
	addr := mustRunKafka(t)
	for _, topic := range []string{"flights", "bookings", "passengers", "documents", "fra.rebookings", "fra.heartbeats"} {
		kcat(t, "", "-b", addr, "-L", "-t", topic)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	httpAddr := freePort(t)
	token := crashToken(t, bin, dir, "admin", "crash")

	const n = 3000
	inbound := produceCentralFlights(t, addr, n)
	// The site posts n outcomes in batches, retrying across the kills
	// (as an admin: only the node itself, or an admin repairing the log,
	// may append rebooking outcomes).
	reqs := outcomeRequests(n, 25)
	client := postAcrossCrashes(httpAddr, token, reqs)
	node := startCrashNode(t, bin, dir, httpAddr, "--kafka", addr, "--log-level", "error")
	// Kill three times: during the posts and, after them, while the
	// bridge still forwards the backlog and mirrors central's events.
	kills := node.killRepeatedly(rand.New(rand.NewPCG(3, 4)), 3, 500*time.Millisecond, 1000*time.Millisecond, nil)
	if err := client.wait(); err != nil {
		t.Fatal(err)
	}
	acked := client.acked
	if kills == 0 {
		t.Fatal("never killed")
	}
	// Every acknowledged outcome reaches Kafka, each once.
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("fra.rebookings"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	checkFor(t, 2*time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cons.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "ce_id" {
					seen[string(h.Value)]++
				}
			}
		})
		for id := range acked {
			if seen[id] == 0 {
				return fmt.Errorf("%d of %d outcomes at central", len(seen), len(acked))
			}
		}
		return nil
	})
	// And every central event has been mirrored in (the node was killed
	// while it copied them too): wait for the local topic to hold them.
	checkFor(t, 2*time.Minute, func() error {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/topics", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Topics []app.TopicInfo `json:"topics"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		for _, ti := range body.Topics {
			if ti.Name == app.TopicFlights && ti.Messages >= n {
				return nil
			}
		}
		return fmt.Errorf("central events not all mirrored yet: %+v", body.Topics)
	})
	// A node restarted after a kill joins a group the killed member is
	// still in; its shutdown must still end cleanly within its deadline.
	if err := node.stop(); err != nil {
		t.Fatalf("the node did not stop cleanly after its restarts: %v", err)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("outcome %s is %d times in Kafka", id, c)
		}
	}
	// Every central event is in the local log once.
	b := openCrashLog(t, dir)
	local := map[string]int{}
	countLogged(t, b, app.TopicFlights, func(le app.LogEntry) string {
		var e app.Event
		_ = json.Unmarshal(le.Data, &e)
		return e.ID
	}, local)
	for _, e := range inbound {
		if local[e.ID] != 1 {
			t.Fatalf("central event %s is %d times in the local log", e.ID, local[e.ID])
		}
	}
	t.Logf("%d kills; %d outcomes at central once each; %d central events local once each", kills, len(seen), len(inbound))
}

// produceCentralFlights publishes n flight events to Kafka at once, as
// central does, and returns them.
func produceCentralFlights(t *testing.T, addr string, n int) []*app.Event {
	kc, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	inbound := bench.FlightEvents(n, "central")
	for _, e := range inbound {
		kc.Produce(context.Background(), &kgo.Record{Topic: "flights", Key: []byte(e.Subject), Value: e.Raw}, nil)
	}
	if err := kc.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return inbound
}

// outcomeRequests are n rebooking outcomes in NDJSON requests of per
// events each.
func outcomeRequests(n, per int) []ndjsonRequest {
	var reqs []ndjsonRequest
	for i := 0; i < n; i += per {
		r := ndjsonRequest{topic: app.TopicRebookings}
		var lines []string
		for j := i; j < min(i+per, n); j++ {
			loc := fmt.Sprintf("C%05d", j%500)
			e, _ := app.NewEvent(fmt.Sprintf("out-%d", j), "apron/test", app.TypeRebookingExecuted, loc, time.Now(), app.RebookingData{ProposalID: fmt.Sprint(j), Locator: loc})
			r.ids = append(r.ids, e.ID)
			lines = append(lines, string(e.Raw))
		}
		r.body = []byte(strings.Join(lines, "\n"))
		reqs = append(reqs, r)
	}
	return reqs
}
