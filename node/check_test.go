package node

import (
	"context"
	"strings"
	"testing"

	"github.com/apron-edge/apron/app"
)

// A check asked while another runs is refused at once with a conflict
// that says so, before it touches the log or the store.
func TestStateCheckRunsOneAtATime(t *testing.T) {
	c := &StateCheck{Dir: t.TempDir()}
	c.mu.Lock()
	_, err := c.Check(context.Background())
	c.mu.Unlock()
	if app.ErrorCode(err) != app.ECONFLICT || !strings.Contains(app.ErrorMessage(err), "already running") {
		t.Fatalf("a second check: %v, want a conflict saying one is already running", err)
	}
}
