package node

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

// StateCheck checks a running node's state store against a rebuild from
// the log the node reads (its cluster's log, on a cluster node), into a
// temporary store in the data directory. One check runs at a time.
type StateCheck struct {
	Log     app.Log
	Store   *vectors.Store
	Dir     string // the data directory; the rebuild's file goes there
	Trusted func(app.LogEntry) bool

	mu sync.Mutex
}

// TempPath is the rebuild's file, removed when the check ends.
func (c *StateCheck) TempPath() string { return filepath.Join(c.Dir, "check.db") }

// Check compares the store with a rebuild up to the positions of one
// snapshot of it. Returns ECONFLICT while another check runs.
func (c *StateCheck) Check(ctx context.Context) (app.CheckReport, error) {
	if !c.mu.TryLock() {
		return app.CheckReport{}, app.Errorf(app.ECONFLICT, "a check of this node's state is already running; ask again when it has answered")
	}
	defer c.mu.Unlock()
	return CheckStoreReport(ctx, c.Log, c.Store, c.TempPath(), c.Trusted)
}
