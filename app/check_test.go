package app

import (
	"testing"
	"time"
)

// checkFor polls cond until it returns nil and fails the test with cond's
// last error when that does not happen within d.
func checkFor(tb testing.TB, d time.Duration, cond func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
