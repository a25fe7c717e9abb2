package vectors

import (
	"context"
	"fmt"
	"strings"

	"github.com/apron-edge/apron/app"
)

// KeptTables are the tables of the store that no replay of the log can
// recreate: who is logged in (sessions, which stay local; users, API
// tokens, proposals, staff's commands and their outcomes come from the
// control topic), what they asked (the question history) and what waits
// to be published (the outbox). A rebuild copies them from the
// store it replaces; everything else is derived from the log. Sessions
// are kept so that a rebuild does not log everybody out: those of a user
// the log recreated under the same id and name.
var KeptTables = []string{"sessions", "outbox", "ask_history"}

// DerivedConsumers are the consumers whose output a rebuild recreates; a
// rebuilt store starts them over. The positions of every other consumer
// (the proposer, the assist stage) describe kept tables or the log and
// are kept with them.
var DerivedConsumers = []string{app.StateConsumer, app.IndexConsumer, app.EmbedConsumer, app.ControlConsumer}

// CopyKept copies the KeptTables and the positions of every consumer but
// the DerivedConsumers from the store file at from into s, in one
// transaction, replacing what s holds of them. Both stores must have been
// opened (and so migrated) by this binary, so their tables match column
// for column. Returns the rows copied per table.
func (s *Store) CopyKept(ctx context.Context, from string) (map[string]int, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy kept tables: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS old`, from); err != nil {
		return nil, fmt.Errorf("attach %s: %w", from, err)
	}
	defer func() { _, _ = conn.ExecContext(context.Background(), `DETACH DATABASE old`) }()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("copy kept tables: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	counts := map[string]int{}
	// Parents before children: sessions refer to users.
	for i := len(KeptTables) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, `DELETE FROM main.`+KeptTables[i]); err != nil {
			return nil, fmt.Errorf("clear %s: %w", KeptTables[i], err)
		}
	}
	for _, t := range KeptTables {
		q := `INSERT INTO main.` + t + ` SELECT * FROM old.` + t
		if t == "sessions" {
			q = `INSERT INTO main.sessions SELECT s.* FROM old.sessions s JOIN old.users ou ON ou.id = s.user_id
				JOIN main.users u ON u.id = s.user_id AND u.name = ou.name`
		}
		res, err := tx.ExecContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", t, err)
		}
		n, _ := res.RowsAffected()
		counts[t] = int(n)
	}
	// The outbox's sequence goes on where it was, even past rows already
	// published and deleted.
	if _, err := tx.ExecContext(ctx, `DELETE FROM main.sqlite_sequence WHERE name = 'outbox'`); err != nil {
		return nil, fmt.Errorf("copy outbox sequence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.sqlite_sequence (name, seq) SELECT name, seq FROM old.sqlite_sequence WHERE name = 'outbox'`); err != nil {
		return nil, fmt.Errorf("copy outbox sequence: %w", err)
	}
	args := make([]any, len(DerivedConsumers))
	for i, c := range DerivedConsumers {
		args[i] = c
	}
	in := `(` + placeholders(len(args)) + `)`
	if _, err := tx.ExecContext(ctx, `DELETE FROM main.consumer_offsets WHERE consumer NOT IN `+in, args...); err != nil {
		return nil, fmt.Errorf("copy positions: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO main.consumer_offsets SELECT * FROM old.consumer_offsets WHERE consumer NOT IN `+in, args...)
	if err != nil {
		return nil, fmt.Errorf("copy positions: %w", err)
	}
	n, _ := res.RowsAffected()
	counts["consumer_offsets"] = int(n)
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("copy kept tables: %w", err)
	}
	return counts, nil
}

// DescribeCounts writes counts as "3 users, 2 api_tokens" in the order of
// names, leaving out names without a count.
func DescribeCounts(counts map[string]int, names []string) string {
	var parts []string
	for _, n := range names {
		if c, ok := counts[n]; ok {
			parts = append(parts, fmt.Sprintf("%d %s", c, n))
		}
	}
	return strings.Join(parts, ", ")
}
