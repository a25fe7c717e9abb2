package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/vectors"
)

// The parts of a node that the offline commands (rebuild, check, search,
// user, token, model) open on their own, and the check that a state store
// equals a rebuild from the log.

// OpenLogOnly opens the log of a stopped node without its client port.
func OpenLogOnly(cfg Config, logger *slog.Logger) (*broker.Broker, error) {
	bc := cfg.BrokerConfig()
	bc.ClientAddr = ""
	b := broker.New(bc)
	b.Logger = logger
	if err := b.Open(); err != nil {
		return nil, fmt.Errorf("open log (is the node still running?): %w", err)
	}
	return b, nil
}

// OpenStoreOnly opens the state store of the data directory; it works while
// the node runs (SQLite serialises the writers).
func OpenStoreOnly(cfg Config) (*vectors.Store, error) {
	st := vectors.NewStore(cfg.StatePath())
	st.Logger = NewLogger("warn")
	if err := st.Open(); err != nil {
		return nil, err
	}
	return st, nil
}

// CheckStore replays the log into a fresh store at tmpPath, up to exactly
// the live store's positions, and returns the tables whose contents differ.
func CheckStore(ctx context.Context, log app.Log, live *vectors.Store, tmpPath string, trusted func(app.LogEntry) bool) ([]string, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(tmpPath + suffix)
	}
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(tmpPath + suffix)
		}
	}()
	fresh := vectors.NewStore(tmpPath)
	fresh.Logger = slog.New(slog.DiscardHandler)
	if err := fresh.Open(); err != nil {
		return nil, err
	}
	defer func() { _ = fresh.Close(context.Background()) }()
	upto := map[string]uint64{}
	for _, t := range app.StateTopics {
		p, err := live.Position(ctx, app.StateConsumer, t)
		if err != nil {
			return nil, err
		}
		upto[t] = p
	}
	if err := app.Replay(ctx, log, fresh, upto, trusted); err != nil {
		return nil, err
	}
	a, err := live.Checksum(ctx)
	if err != nil {
		return nil, err
	}
	b, err := fresh.Checksum(ctx)
	if err != nil {
		return nil, err
	}
	var diff []string
	for k, v := range a {
		if b[k] != v {
			diff = append(diff, fmt.Sprintf("%s (live %s, rebuild %s)", k, v, b[k]))
		}
	}
	return diff, nil
}
