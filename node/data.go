package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/vectors"
)

// The parts of a node that the offline commands (rebuild, check, search,
// user, token, model) open on their own, and the check that a state store
// equals a rebuild from the log.

// OpenLogOnly opens the log of a stopped node without its client port.
// The caller holds the data directory's lock (LockData). Returns
// ENOTFOUND when the data directory holds no apron data.
func OpenLogOnly(cfg Config, logger *slog.Logger) (*broker.Broker, error) {
	if err := RequireData(cfg.Data); err != nil {
		return nil, err
	}
	bc := cfg.BrokerConfig()
	bc.ClientAddr = ""
	b := broker.New(bc)
	b.Logger = logger
	if err := b.Open(); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return b, nil
}

// ClusterLogMarker reports whether the data directory's log belongs to a
// node of a cluster, and the file that says so: such a log opens only
// with its cluster, so the offline commands cannot read it.
func ClusterLogMarker(cfg Config) (string, bool) {
	return broker.ClusterLogMarker(cfg.BrokerConfig().Dir)
}

// OpenStoreOnly opens the state store of the data directory; it works while
// the node runs (SQLite serialises the writers), so it takes no lock.
// Returns ENOTFOUND when the data directory does not exist or holds no
// state store: it never creates one.
func OpenStoreOnly(cfg Config) (*vectors.Store, error) {
	if _, err := os.Stat(cfg.StatePath()); err != nil {
		if err := RequireData(cfg.Data); err != nil {
			return nil, err
		}
		return nil, app.Errorf(app.ENOTFOUND, "data directory %s has no state store yet (start the node once)", cfg.AbsData())
	}
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
	rep, err := CheckStoreReport(ctx, log, live, tmpPath, trusted)
	if err != nil {
		return nil, err
	}
	return rep.Tables(), nil
}

// CheckStoreReport is CheckStore with the positions it replayed up to and
// the differing tables' checksums, sorted by table. It reads the log
// through any app.Log, so a running node checks its own store against
// its own (or its cluster's) log while it keeps applying.
func CheckStoreReport(ctx context.Context, log app.Log, live *vectors.Store, tmpPath string, trusted func(app.LogEntry) bool) (app.CheckReport, error) {
	start := time.Now()
	removeDB := func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(tmpPath + suffix)
		}
	}
	removeDB()
	defer removeDB()
	fresh := vectors.NewStore(tmpPath)
	fresh.Logger = slog.New(slog.DiscardHandler)
	if err := fresh.Open(); err != nil {
		return app.CheckReport{}, fmt.Errorf("open the rebuild's store: %w", err)
	}
	defer func() { _ = fresh.Close(context.Background()) }()
	// The live store's checksum and the positions it reflects come from
	// one snapshot, so a node that keeps applying (the planner appending
	// proposals) is compared with a rebuild up to exactly those positions.
	topics := map[string]string{app.TopicControl: app.ControlConsumer}
	for _, t := range app.StateTopics {
		topics[t] = app.StateConsumer
	}
	a, upto, err := live.ChecksumAt(ctx, topics)
	if err != nil {
		return app.CheckReport{}, err
	}
	if err := app.Replay(ctx, log, fresh, upto, trusted); err != nil {
		return app.CheckReport{}, fmt.Errorf("replay the log: %w", err)
	}
	b, err := fresh.Checksum(ctx)
	if err != nil {
		return app.CheckReport{}, err
	}
	rep := app.CheckReport{Upto: upto, Differs: []app.TableDiff{}}
	for k, v := range a {
		if b[k] != v {
			rep.Differs = append(rep.Differs, app.TableDiff{Table: k, Live: v, Rebuild: b[k]})
		}
	}
	sort.Slice(rep.Differs, func(i, j int) bool { return rep.Differs[i].Table < rep.Differs[j].Table })
	rep.TookMS = time.Since(start).Milliseconds()
	return rep, nil
}

// RebuildSummary is what a rebuild did.
type RebuildSummary struct {
	Heads map[string]uint64 // the log position rebuilt up to, per state topic
	Rows  map[string]int    // rows of each derived state table
	Kept  map[string]int    // rows of each kept table copied from the old store
	Took  time.Duration
}

// String says what the rebuild did in a few lines.
func (s RebuildSummary) String() string {
	var b strings.Builder
	var heads []string
	for _, t := range slices.Concat(app.StateTopics, []string{app.TopicControl}) {
		heads = append(heads, fmt.Sprintf("%s@%d", t, s.Heads[t]))
	}
	fmt.Fprintf(&b, "rebuilt the state from the log up to %s in %s\n", strings.Join(heads, ", "), s.Took.Round(time.Millisecond))
	var tables []string
	for t := range s.Rows {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	fmt.Fprintf(&b, "  state: %s\n", vectors.DescribeCounts(s.Rows, tables))
	if s.Kept == nil {
		b.WriteString("  kept: nothing (there was no state store)\n")
	} else {
		fmt.Fprintf(&b, "  kept: %s\n", vectors.DescribeCounts(s.Kept, append(append([]string{}, vectors.KeptTables...), "consumer_offsets")))
	}
	b.WriteString("  the search index is rebuilt from the log when the node starts")
	return b.String()
}

// Rebuild puts on the log what the current store made before it went
// through the log (accounts, proposals), replays the log into a fresh
// state store, copies into it the tables no replay can recreate
// (vectors.KeptTables) from the current store, and puts it in place of
// the current one. The caller holds the
// data directory's lock. On failure the current store is untouched and
// no temporary file is left behind.
func Rebuild(ctx context.Context, cfg Config, b *broker.Broker, logger *slog.Logger) (RebuildSummary, error) {
	start := time.Now()
	sum := RebuildSummary{Heads: map[string]uint64{}}
	live := cfg.StatePath()
	_, err := os.Stat(live)
	haveLive := err == nil
	if haveLive {
		// Migrate the old store first, so both have the same tables.
		old := vectors.NewStore(live)
		old.Logger = logger
		if err := old.Open(); err != nil {
			return sum, fmt.Errorf("open the current state store: %w", err)
		}
		// What the store made before it went through the log goes onto
		// the log first, so the replay recreates it.
		if err := adoptAll(ctx, old, b); err != nil {
			_ = old.Close(ctx)
			return sum, err
		}
		if err := old.Close(ctx); err != nil {
			return sum, err
		}
	}
	for _, t := range append([]string{app.TopicControl}, app.StateTopics...) {
		ti, err := b.Topic(ctx, t)
		if err != nil {
			return sum, err
		}
		sum.Heads[t] = ti.LastOffset
	}
	tmp := live + ".rebuild"
	removeDB := func(path string) {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + suffix)
		}
	}
	removeDB(tmp)
	done := false
	defer func() {
		if !done {
			removeDB(tmp)
		}
	}()
	st := vectors.NewStore(tmp)
	st.Logger = logger
	if err := st.Open(); err != nil {
		return sum, err
	}
	err = app.Replay(ctx, b, st, sum.Heads, b.Trusted)
	if err == nil && haveLive {
		sum.Kept, err = st.CopyKept(ctx, live)
	}
	if err == nil {
		var sums map[string]string
		if sums, err = st.Checksum(ctx); err == nil {
			sum.Rows = map[string]int{}
			for t, v := range sums {
				n, _ := strconv.Atoi(strings.SplitN(v, ":", 2)[0])
				sum.Rows[t] = n
			}
		}
	}
	if cerr := st.Close(context.Background()); err == nil {
		err = cerr
	}
	if err != nil {
		return sum, err
	}
	// The old store was closed with its WAL checkpointed; its -wal and
	// -shm must not be read as the new file's. The rename replaces the
	// old file in one step.
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(live + suffix)
	}
	if err := os.Rename(tmp, live); err != nil {
		return sum, err
	}
	done = true
	sum.Took = time.Since(start)
	return sum, nil
}

// OpenStoreToProvision opens the state store for `apron user add` and
// `apron token add`, which may run before the node's first start (to
// provision a machine client, say) and while it runs: the directory must
// exist, but the store is created in it when missing. Returns ENOTFOUND
// for a directory that does not exist.
func OpenStoreToProvision(cfg Config) (*vectors.Store, error) {
	if fi, err := os.Stat(cfg.Data); err != nil || !fi.IsDir() {
		return nil, RequireData(cfg.Data)
	}
	st := vectors.NewStore(cfg.StatePath())
	st.Logger = NewLogger("warn")
	if err := st.Open(); err != nil {
		return nil, err
	}
	return st, nil
}
