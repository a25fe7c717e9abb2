package app

import (
	"context"
	"errors"
	"testing"
)

// A replay step that fails part way goes on from its store's position:
// failures that each applied something never end it; resumeAttempts
// failures in a row without progress return the last error.
func TestResumeGoesOnWhileAStepMakesProgress(t *testing.T) {
	ctx := context.Background()
	var pos uint64
	calls := 0
	err := resume(ctx, 0, func() (uint64, error) { return pos, nil }, func() error {
		calls++
		pos += 10 // applied some entries, then the reader failed
		if calls < resumeAttempts+2 {
			return errors.New("fetch flights: nats: no responders available for request")
		}
		return nil
	})
	if err != nil || calls != resumeAttempts+2 {
		t.Fatalf("a step that always made progress: %v after %d calls", err, calls)
	}

	calls = 0
	stuck := errors.New("replay flights: log ended at 10 before 20")
	err = resume(ctx, 0, func() (uint64, error) { return 10, nil }, func() error { calls++; return stuck })
	if !errors.Is(err, stuck) || calls != resumeAttempts {
		t.Fatalf("a step that never made progress: %v after %d calls, want the error after %d", err, calls, resumeAttempts)
	}
}
