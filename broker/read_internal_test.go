package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

// TestReaderGivesUpAStalledFetch: a fetch that does not answer (its
// server lost, the client waiting out timeouts) ends Next with
// EUNAVAILABLE once it is stallGrace past its wait, and the reader is
// done; a fetch that answers in time is returned as it is; a context that
// ends ends Next at once.
func TestReaderGivesUpAStalledFetch(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	stalled := &Reader{topic: app.TopicFlights}
	stalled.read = func(int, time.Duration) ([]app.LogEntry, error) {
		<-release
		return nil, nil
	}
	start := time.Now()
	_, err := stalled.Next(context.Background(), 10, 100*time.Millisecond)
	if app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("a stalled fetch ended Next with %v, want EUNAVAILABLE", err)
	}
	if took := time.Since(start); took < stallGrace {
		t.Fatalf("Next gave up after %s, before its wait and stallGrace (%s)", took, stallGrace)
	}
	if _, err := stalled.Next(context.Background(), 10, 100*time.Millisecond); err == nil {
		t.Fatal("a reader that gave up on a fetch was used again")
	}

	answers := &Reader{topic: app.TopicFlights}
	answers.read = func(max int, wait time.Duration) ([]app.LogEntry, error) {
		return []app.LogEntry{{Topic: app.TopicFlights, Offset: 7}}, nil
	}
	got, err := answers.Next(context.Background(), 10, 100*time.Millisecond)
	if err != nil || len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("an answering fetch gave %v, %v", got, err)
	}
	if _, err := answers.Next(context.Background(), 10, 100*time.Millisecond); err != nil {
		t.Fatalf("a reader whose fetches answer stopped reading: %v", err)
	}

	ended := &Reader{topic: app.TopicFlights}
	ended.read = stalled.read
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ended.Next(ctx, 10, time.Minute); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with an ended context: %v, want context.Canceled", err)
	}
}
