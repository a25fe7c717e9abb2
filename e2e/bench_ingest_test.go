package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/bench"
)

// TestBenchIngestRuns runs `apron bench ingest` at a small size: both
// rounds report their ratios and a summary over both, the load is
// recorded, and no one-time admin password reaches the output.
func TestBenchIngestRuns(t *testing.T) {
	var out strings.Builder
	cfg := bench.IngestConfig{Dir: t.TempDir(), Out: &out, Events: 1000, Timeout: 2 * time.Minute}
	if err := bench.Ingest(context.Background(), cfg, []string{"-rounds", "2"}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"round 1 (baselines first)", "round 2 (node first)", "vs per-message fsync", "load average (1, 5, 15 min) before", "(n=300)", "over 2 rounds", "both aims met in the same round:"} {
		if !strings.Contains(s, want) {
			t.Fatalf("no %q in:\n%s", want, s)
		}
	}
	if n := len(regexp.MustCompile(`batched durable ingest vs async no-fsync: +\d+%`).FindAllString(s, -1)); n != 2 {
		t.Fatalf("%d rounds with a no-fsync ratio:\n%s", n, s)
	}
	if !regexp.MustCompile(`vs async no-fsync: +median \d+% \(\d+-\d+%\), aim met in [0-2] of 2`).MatchString(s) {
		t.Fatalf("no summary of the no-fsync ratio over the rounds:\n%s", s)
	}
	// Every timed run reports the heap it allocated per event: at least the
	// event itself for the node, which keeps the bytes it was sent.
	if n := len(regexp.MustCompile(`(?m)^apron HTTP NDJSON .* to ack +\d+ +\d+ +[\d.]+ +\d+$`).FindAllString(s, -1)); n != 2 {
		t.Fatalf("%d batched runs of the node with their heap bytes an event:\n%s", n, s)
	}
	m := regexp.MustCompile(`heap bytes an event: +median (\d+) \((\d+)-(\d+)\)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no summary of the heap bytes an event:\n%s", s)
	}
	if med, _ := strconv.Atoi(m[1]); med < 400 {
		t.Fatalf("the node allocated %d bytes an event of about 444: not measured", med)
	}
	if strings.Contains(strings.ToLower(s), "password") {
		t.Fatalf("the report mentions a password:\n%s", s)
	}
	t.Log(s)
}
