package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/broker"
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
	out, err := exec.Command(bin, "token", "add", "--role", "agent", "--data", dir, "crash-test").Output()
	if err != nil {
		t.Fatalf("token add: %v", err)
	}
	token := strings.TrimSpace(string(out))
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--data", dir, "--http", addr, "--nats", "", "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "APRON_OLLAMA_URL=")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	day := sim.Generate(sim.Config{Seed: 11, Date: "2026-11-25", Departures: 1400})
	events := day.Events
	if len(events) > 50000 {
		events = events[:50000]
	}
	reqs := requestsOf(events, 500)
	acked := map[string]bool{}
	var done atomic.Bool
	clientErr := make(chan error, 1)
	go func() {
		defer done.Store(true)
		client := &http.Client{Timeout: 20 * time.Second}
		for _, r := range reqs {
			deadline := time.Now().Add(2 * time.Minute)
			for {
				req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/topics/"+r.topic+"/events", bytes.NewReader(r.body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err == nil {
					var body struct {
						Results []app.AppendResult `json:"results"`
					}
					derr := json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					if resp.StatusCode == 200 && derr == nil && len(body.Results) == len(r.ids) {
						for _, res := range body.Results {
							acked[res.ID] = true
						}
						break
					}
					if resp.StatusCode == 400 {
						clientErr <- fmt.Errorf("request refused: %d", resp.StatusCode)
						return
					}
				}
				if time.Now().After(deadline) {
					clientErr <- fmt.Errorf("node unreachable for 2 minutes: %v", err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		clientErr <- nil
	}()

	cmd := start()
	kills := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for !done.Load() && kills < 5 {
		time.Sleep(time.Duration(400+rng.IntN(1200)) * time.Millisecond)
		if done.Load() {
			break
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		cmd = start()
	}
	if err := <-clientErr; err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
	t.Logf("%d requests, %d events acknowledged, %d kills", len(reqs), len(acked), kills)
	if kills == 0 {
		t.Fatal("the node was never killed; the test proved nothing")
	}
	// Let the state store catch up, then stop gracefully.
	checkFor(t, 2*time.Minute, func() error {
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
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// Every acknowledged event is in the log exactly once.
	ctx := context.Background()
	bcfg := broker.DefaultConfig()
	bcfg.Dir, bcfg.ClientAddr = filepath.Join(dir, "log"), ""
	b := broker.New(bcfg)
	b.Logger = slog.New(slog.DiscardHandler)
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	stored := map[string]int{}
	for _, topic := range app.StateTopics {
		ti, _ := b.Topic(ctx, topic)
		r, err := b.NewReader(ctx, topic, 1)
		if err != nil {
			t.Fatal(err)
		}
		var last uint64
		for last < ti.LastOffset {
			es, err := r.Next(ctx, 1000, 2*time.Second)
			if err != nil || len(es) == 0 {
				t.Fatalf("read %s at %d: %v", topic, last, err)
			}
			for _, e := range es {
				stored[firstHeader(e.Headers, nats.MsgIdHdr)]++
				last = e.Offset
			}
		}
		r.Close()
	}
	for id := range acked {
		if stored[id] != 1 {
			t.Fatalf("acknowledged event %s stored %d times", id, stored[id])
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

type topicsBody struct {
	Consumers []app.Freshness `json:"consumers"`
}

func firstHeader(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
