package bench

import (
	"testing"
	"time"
)

func TestParsePerfSteadyTakesTheStateAfterWarmUp(t *testing.T) {
	out := `Warmup first 20000 records. Steady state results will print after the complete test summary.
40000 records sent, 19646.365422 records/sec (19.13 MB/sec), 18.65 ms avg latency, 885.00 ms max latency, 15 ms 50th, 39 ms 95th, 53 ms 99th, 92 ms 99.9th.
20000 steady state records sent, 41666.666667 records/sec (40.57 MB/sec), 15.53 ms avg latency, 42.00 ms max latency, 12 ms 50th, 32 ms 95th, 35 ms 99th, 38 ms 99.9th.
`
	got, err := parsePerfSteady(out)
	if err != nil {
		t.Fatal(err)
	}
	want := PerfResult{Records: 20000, Rate: 41666.666667, P50: 12 * time.Millisecond, P95: 32 * time.Millisecond, P99: 35 * time.Millisecond}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// Without a warm-up there is no steady state: the whole run's summary
	// (a cold JVM and topic) is not taken for the ceiling.
	if _, err := parsePerfSteady("40000 records sent, 19646.365422 records/sec (19.13 MB/sec), 18.65 ms avg latency, 885.00 ms max latency, 15 ms 50th, 39 ms 95th, 53 ms 99th, 92 ms 99.9th.\n"); err == nil {
		t.Fatal("a summary without its steady state was taken")
	}
}
