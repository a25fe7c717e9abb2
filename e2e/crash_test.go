package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
	"github.com/apron-edge/apron/vectors"
	"github.com/nats-io/nats.go"
)

type ndjsonRequest struct {
	topic string
	ids   []string
	body  []byte
}

func requestsOf(events []sim.Timed, max int) []ndjsonRequest {
	var out []ndjsonRequest
	var cur *ndjsonRequest
	var buf bytes.Buffer
	flush := func() {
		if cur != nil {
			cur.body = append([]byte(nil), buf.Bytes()...)
			out = append(out, *cur)
		}
		cur = nil
		buf.Reset()
	}
	for _, te := range events {
		e := te.Event
		if cur == nil || cur.topic != e.Topic() || len(cur.ids) >= max {
			flush()
			cur = &ndjsonRequest{topic: e.Topic()}
		}
		cur.ids = append(cur.ids, e.ID)
		buf.Write(e.Raw)
		buf.WriteByte('\n')
	}
	flush()
	return out
}

// TestCrashRecovery streams 50,000 events into a child `apron serve` that is
// killed with SIGKILL at random moments and restarted. Afterwards every
// acknowledged event is in the log exactly once, and the state store equals
// a rebuild from the log.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs the full binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freePort(t)
	token := crashToken(t, bin, dir, "agent", "crash-test")

	day := sim.Generate(sim.Config{Seed: 11, Date: "2026-11-25", Departures: 1400})
	events := day.Events
	if len(events) > 50000 {
		events = events[:50000]
	}
	reqs := requestsOf(events, 500)
	client := postAcrossCrashes(addr, token, reqs)
	n := startCrashNode(t, bin, dir, addr, "--log-level", "warn")
	kills := n.killRepeatedly(rand.New(rand.NewPCG(1, 2)), 5, 400*time.Millisecond, 1200*time.Millisecond, client.done.Load)
	if err := client.wait(); err != nil {
		t.Fatal(err)
	}
	acked := client.acked
	t.Logf("%d requests, %d events acknowledged, %d kills", len(reqs), len(acked), kills)
	if kills == 0 {
		t.Fatal("the node was never killed; the test proved nothing")
	}
	// Let the state store catch up, then stop gracefully.
	checkFor(t, 2*time.Minute, func() error { return stateCaughtUp(addr, token) })
	if err := n.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// Every acknowledged event is in the log exactly once.
	ctx := context.Background()
	b := openCrashLog(t, dir)
	stored := map[string]int{}
	for _, topic := range app.StateTopics {
		countLogged(t, b, topic, func(e app.LogEntry) string { return firstHeader(e.Headers, nats.MsgIdHdr) }, stored)
	}
	// The log de-duplicates by source and id (app.UniqueID), and the
	// message id it keeps is that hash.
	dedupID := map[string]string{}
	for _, te := range events {
		dedupID[te.Event.ID] = app.UniqueID(te.Event.Source, te.Event.ID)
	}
	for id := range acked {
		if stored[dedupID[id]] != 1 {
			t.Fatalf("acknowledged event %s stored %d times", id, stored[dedupID[id]])
		}
	}
	for id, n := range stored {
		if n != 1 {
			t.Fatalf("event %s stored %d times", id, n)
		}
	}
	st := vectors.NewStore(filepath.Join(dir, "state.db"))
	st.Logger = slog.New(slog.DiscardHandler)
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	diff, err := node.CheckStore(ctx, b, st, filepath.Join(t.TempDir(), "check.db"), b.Trusted)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) > 0 {
		t.Fatalf("state store differs from rebuild after crashes: %v", diff)
	}
}

// stateCaughtUp returns nil once the node at addr reports every state
// consumer caught up with its topic.
func stateCaughtUp(addr, token string) error {
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/topics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body topicsBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	n := 0
	for _, c := range body.Consumers {
		if c.Consumer == app.StateConsumer && c.Behind == 0 {
			n++
		}
	}
	if n < len(app.StateTopics) {
		return fmt.Errorf("state consumers caught up: %d of %d", n, len(app.StateTopics))
	}
	return nil
}

type topicsBody struct {
	Consumers []app.Freshness `json:"consumers"`
}

func firstHeader(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
