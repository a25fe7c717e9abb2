package bench

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Sample counts below which a quantile is not given: a p99 of 30
// samples is their maximum, not a 99th percentile.
const (
	MinSamplesP95 = 20
	MinSamplesP99 = 100
)

// Quantiles summarises latency samples. P95 and P99 are zero, and
// printed as "n/a", when there are too few samples to give them.
type Quantiles struct {
	N             int
	P50, P95, P99 time.Duration
}

// Summarize returns the quantiles of d (which it leaves unsorted). Every
// harness reports latency through it.
func Summarize(d []time.Duration) Quantiles {
	s := slices.Clone(d)
	slices.Sort(s)
	q := Quantiles{N: len(s)}
	at := func(p int) time.Duration { return s[min(len(s)-1, len(s)*p/100)] }
	if len(s) > 0 {
		q.P50 = at(50)
	}
	if len(s) >= MinSamplesP95 {
		q.P95 = at(95)
	}
	if len(s) >= MinSamplesP99 {
		q.P99 = at(99)
	}
	return q
}

// String is "p50 1.2ms p95 3ms p99 n/a (n=30)".
func (q Quantiles) String() string {
	return fmt.Sprintf("p50 %-8s p95 %-8s p99 %-8s (n=%d)", q.Cell(50), q.Cell(95), q.Cell(99), q.N)
}

// Cell prints one quantile, rounded to three significant figures, or
// "n/a" when there are too few samples for it.
func (q Quantiles) Cell(p int) string {
	v, need := q.P50, 1
	switch p {
	case 95:
		v, need = q.P95, MinSamplesP95
	case 99:
		v, need = q.P99, MinSamplesP99
	}
	if q.N < need {
		return "n/a"
	}
	return roundDuration(v).String()
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// LoadWatch records the machine's load average when a run starts, so that
// the report can say how busy the machine was around it.
type LoadWatch struct {
	before string
	start  time.Time
}

// WatchLoad reads the load average now.
func WatchLoad() LoadWatch { return LoadWatch{before: loadAverage(), start: time.Now()} }

// Report is the line every harness ends with: the 1, 5 and 15 minute
// load averages before and after, against the cores there are.
func (w LoadWatch) Report() string {
	return fmt.Sprintf("load average (1, 5, 15 min) before %s, after %s, on %d cores; %s wall time",
		w.before, loadAverage(), runtime.NumCPU(), time.Since(w.start).Round(time.Second))
}

// loadAverage reads the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// WriteBytes is what this process has had written to storage so far
// (/proc/self/io write_bytes), or -1 where the kernel does not say.
func WriteBytes() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "write_bytes: "); ok {
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}
