package e2e

import (
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
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/broker"
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
	out, err := exec.Command(bin, "token", "add", "--role", "admin", "--data", dir, "crash").Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--data", dir, "--http", httpAddr, "--nats", "", "--kafka", addr, "--log-level", "error")
		cmd.Env = append(os.Environ(), "APRON_OLLAMA_URL=")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const n = 3000
	// Central publishes n flight events at once.
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
	// The site posts n outcomes in batches, retrying across the kills
	// (as an admin: only the node itself, or an admin repairing the log,
	// may append rebooking outcomes).
	var lines []string
	for i := 0; i < n; i++ {
		loc := fmt.Sprintf("C%05d", i%500)
		e, _ := app.NewEvent(fmt.Sprintf("out-%d", i), "apron/test", app.TypeRebookingExecuted, loc, time.Now(), app.RebookingData{ProposalID: fmt.Sprint(i), Locator: loc})
		lines = append(lines, string(e.Raw))
	}
	acked := map[string]bool{}
	clientErr := make(chan error, 1)
	go func() {
		client := &http.Client{Timeout: 20 * time.Second}
		for i := 0; i < n; i += 25 {
			body := strings.Join(lines[i:i+25], "\n")
			deadline := time.Now().Add(2 * time.Minute)
			for {
				req, _ := http.NewRequest("POST", "http://"+httpAddr+"/api/v1/topics/rebookings/events", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err == nil {
					var res struct {
						Results []app.AppendResult `json:"results"`
					}
					derr := json.NewDecoder(resp.Body).Decode(&res)
					resp.Body.Close()
					if resp.StatusCode == 200 && derr == nil {
						for _, r := range res.Results {
							acked[r.ID] = true
						}
						break
					}
				}
				if time.Now().After(deadline) {
					clientErr <- fmt.Errorf("node unreachable: %v", err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		clientErr <- nil
	}()
	cmd := start()
	rng := rand.New(rand.NewPCG(3, 4))
	kills := 0
	// Kill three times: during the posts and, after them, while the
	// bridge still forwards the backlog and mirrors central's events.
	for kills < 3 {
		time.Sleep(time.Duration(500+rng.IntN(1000)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		cmd = start()
	}
	if err := <-clientErr; err != nil {
		_ = cmd.Process.Kill()
		t.Fatal(err)
	}
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
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("outcome %s is %d times in Kafka", id, c)
		}
	}
	// Every central event is in the local log once.
	bc := broker.DefaultConfig()
	bc.Dir, bc.ClientAddr = filepath.Join(dir, "log"), ""
	b := broker.New(bc)
	b.Logger = slog.New(slog.DiscardHandler)
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ti, _ := b.Topic(context.Background(), app.TopicFlights)
	r, err := b.NewReader(context.Background(), app.TopicFlights, 1)
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]int{}
	var last uint64
	for last < ti.LastOffset {
		es, err := r.Next(context.Background(), 1000, 2*time.Second)
		if err != nil || len(es) == 0 {
			t.Fatalf("read flights at %d: %v", last, err)
		}
		for _, le := range es {
			var e app.Event
			_ = json.Unmarshal(le.Data, &e)
			local[e.ID]++
			last = le.Offset
		}
	}
	for _, e := range inbound {
		if local[e.ID] != 1 {
			t.Fatalf("central event %s is %d times in the local log", e.ID, local[e.ID])
		}
	}
	t.Logf("%d kills; %d outcomes at central once each; %d central events local once each", kills, len(seen), len(inbound))
}
