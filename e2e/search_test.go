package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
)

// TestSearchThroughTheNode indexes a small simulated day with the real
// embedding model and searches it over the API.
func TestSearchThroughTheNode(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	m := MustRunMain(t, func(c *node.Config) { c.Ollama.URL, c.Ollama.ChatModel = ollamaTestURL(), "" })
	day := sim.Generate(sim.Config{Seed: 2, Date: "2026-11-25", Departures: 8, Bookings: 30})
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var locator string
	for _, te := range day.Events {
		if te.Event.Type == app.TypeBookingCreated {
			locator = te.Event.Subject
			break
		}
	}
	checkFor(t, 3*time.Minute, func() error {
		for _, topic := range app.StateTopics {
			ti, _ := m.Broker.Topic(context.Background(), topic)
			pos, _ := m.Store.Position(context.Background(), app.IndexConsumer, topic)
			if pos < ti.LastOffset {
				return fmt.Errorf("index at %d of %d on %s", pos, ti.LastOffset, topic)
			}
		}
		return nil
	})
	code, body := get(t, m.HTTP.URL()+"/api/v1/search?q="+locator)
	hits, _ := body["hits"].([]any)
	if code != 200 || len(hits) == 0 || hits[0].(map[string]any)["entity_key"] != locator {
		t.Fatalf("search %s: %d %v", locator, code, body)
	}
	if idx, _ := body["index"].([]any); len(idx) == 0 {
		t.Fatalf("no index position in the answer: %v", body)
	}
	code, body = get(t, m.HTTP.URL()+"/api/v1/search?type=policy&q="+url.QueryEscape("can we give a hotel room to someone stuck overnight"))
	hits, _ = body["hits"].([]any)
	found := false
	for i, h := range hits {
		if i < 5 && h.(map[string]any)["entity_key"] == "policy-care" {
			found = true
		}
	}
	if code != 200 || !found {
		t.Fatalf("policy paraphrase: %d %v", code, hits)
	}
	if code, _ := get(t, m.HTTP.URL()+"/api/v1/search?q=x&type=planet"); code != 400 {
		t.Fatalf("bad type: %d", code)
	}
}

func TestBenchEmbedRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	var out strings.Builder
	if err := bench.Embed(context.Background(), t.TempDir(), &out, ollamaTestURL(), "all-minilm:l6-v2", 3, bench.MinSamplesP95); err != nil {
		t.Fatal(err)
	}
	// Both freshness rows have their samples, too few for a p99.
	if !strings.Contains(out.String(), "stage / raw") || strings.Count(out.String(), "p99 n/a      (n=20)") != 2 {
		t.Fatalf("output: %s", out.String())
	}
}

// The search benchmark runs end to end at a small size: latency rows for
// every path beside the Go scan, and recall on real embeddings, where
// rescoring every candidate must find what exact search finds.
func TestBenchSearchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	var out strings.Builder
	err := bench.Search(context.Background(), bench.SearchConfig{Dir: t.TempDir(), Out: &out, Sizes: []int{3000}, Dim: 384, K: 10, Queries: 10,
		Oversample: 8, OllamaURL: ollamaTestURL(), EmbedModel: "all-minilm:l6-v2", RecallDocs: 300}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"Go scan, 2 goroutine(s), filtered", "sqlite-vec float, shards in parallel", "sqlite-vec binary+rescore x8, parallel, filtered", "recall@10"} {
		if !strings.Contains(s, want) {
			t.Fatalf("no %q in:\n%s", want, s)
		}
	}
	// 300 documents, 270 indexed: x16 oversampling per shard rescored
	// 160 candidates per shard, most of the corpus; recall must be near 1.
	if !regexp.MustCompile(`x16\s+(1\.000|0\.99\d)`).MatchString(s) {
		t.Fatalf("recall at x16:\n%s", s)
	}
	t.Log("\n" + s)
}
