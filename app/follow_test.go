package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// flakyLog serves offsets 1..n of one topic; its first reader fails.
type flakyLog struct {
	n     uint64
	mu    sync.Mutex
	opens int
}

func (l *flakyLog) NewReader(_ context.Context, _ string, from uint64) (LogReader, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opens++
	if l.opens == 1 {
		return nil, Errorf(EUNAVAILABLE, "log down")
	}
	return &sliceReader{next: from, last: l.n}, nil
}

func (l *flakyLog) Append(context.Context, string, []*Event) ([]AppendResult, error) {
	return nil, errors.New("not appendable")
}

type sliceReader struct{ next, last uint64 }

func (r *sliceReader) Next(ctx context.Context, max int, wait time.Duration) ([]LogEntry, error) {
	var out []LogEntry
	for ; r.next <= r.last && len(out) < max; r.next++ {
		out = append(out, LogEntry{Offset: r.next})
	}
	if len(out) == 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	return out, nil
}

func (r *sliceReader) Close() {}

// The follower starts over from the committed position after a failure
// of the log or of its handler, so every entry is handled exactly once.
func TestFollowerResumesFromTheCommittedPosition(t *testing.T) {
	var mu sync.Mutex
	var pos uint64
	var handled []uint64
	failOnce := true
	f := &follower{
		stage: "test stage", topic: "t", log: &flakyLog{n: 10}, batch: 3, logger: slog.New(slog.DiscardHandler),
		minBackoff: time.Millisecond, maxBackoff: 5 * time.Millisecond,
		start: func(context.Context) (uint64, error) {
			mu.Lock()
			defer mu.Unlock()
			return pos, nil
		},
		handle: func(_ context.Context, entries []LogEntry) error {
			mu.Lock()
			defer mu.Unlock()
			if failOnce && entries[0].Offset > 3 {
				failOnce = false
				return Errorf(EUNAVAILABLE, "handler down")
			}
			for _, le := range entries {
				handled = append(handled, le.Offset)
			}
			pos = entries[len(entries)-1].Offset
			return nil
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.run(ctx); close(done) }()
	checkFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if pos != 10 {
			return fmt.Errorf("position %d, want 10", pos)
		}
		return nil
	})
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the follower did not stop when its context ended")
	}
	for i, off := range handled {
		if off != uint64(i+1) {
			t.Fatalf("handled %v, want 1..10 once each", handled)
		}
	}
}
