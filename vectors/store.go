package vectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	sqlite_vec "github.com/asg017/sqlite-vec-go-bindings/cgo"
	_ "github.com/mattn/go-sqlite3" // registers the sqlite3 driver

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/migrations"
)

func init() {
	// sqlite-vec registers itself as an auto extension, so every
	// connection opened afterwards has vec0.
	sqlite_vec.Auto()
}

// Store is the SQLite state store. One writer connection serialises
// writes; a pool of readers serves queries under WAL.
type Store struct {
	Path   string
	Logger *slog.Logger
	Now    func() time.Time

	// Shards splits the vector table of a new embedding model into this
	// many partitions, searched in parallel (default: the CPUs, at most 4).
	// A table keeps the count it was created with.
	Shards int
	// Quantize makes searches scan binary-quantised vectors first and
	// rescore the best K*Oversample candidates with the float vectors.
	Quantize   bool
	Oversample int

	db  *sql.DB // writer, one connection
	rdb *sql.DB // readers
}

// NewStore returns a store for the database file at path.
func NewStore(path string) *Store {
	return &Store{Path: path, Logger: slog.Default(), Now: time.Now, Oversample: 8}
}

func (s *Store) shards() int {
	if s.Shards > 0 {
		return min(s.Shards, 16)
	}
	return min(runtime.NumCPU(), 4)
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_journal_mode", "WAL")
	// NORMAL under WAL keeps the database consistent on power loss but may
	// lose the last transactions; they are replayed from the log, because
	// positions commit with the state they produced.
	q.Set("_synchronous", "NORMAL")
	q.Set("_cache_size", "-32000")
	// Each connection keeps its prepared statements: the token lookup of
	// every API request and the materialiser's statements are not parsed
	// and planned again each time.
	q.Set("_stmt_cache_size", "64")
	// Deleted content is overwritten with zeros, so an erased person's
	// rows leave no bytes in free pages or free space on live pages
	// (docs/decisions/0017-erasure.md).
	q.Set("_secure_delete", "on")
	if readOnly {
		q.Set("mode", "ro")
		q.Set("_query_only", "true")
	} else {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database and applies migrations.
func (s *Store) Open() error {
	s.Logger = s.Logger.With("subsystem", "store")
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o750); err != nil {
		return fmt.Errorf("create store dir: %w", err)
	}
	var err error
	if s.db, err = sql.Open("sqlite3", dsn(s.Path, false)); err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	s.db.SetMaxOpenConns(1)
	if err := s.db.Ping(); err != nil {
		return fmt.Errorf("open store %s: %w", s.Path, err)
	}
	if _, err := s.db.Exec(`PRAGMA mmap_size = 268435456`); err != nil {
		return fmt.Errorf("pragma: %w", err)
	}
	if err := s.migrate(); err != nil {
		return fmt.Errorf("migrate %s: %w", s.Path, err)
	}
	if s.rdb, err = sql.Open("sqlite3", dsn(s.Path, true)); err != nil {
		return fmt.Errorf("open store readers: %w", err)
	}
	// Keep every reader open: database/sql keeps two idle by default, and
	// a burst of requests then opened and closed SQLite connections (and
	// loaded sqlite-vec) for each one.
	s.rdb.SetMaxOpenConns(8)
	s.rdb.SetMaxIdleConns(8)
	return nil
}

// Close closes the database.
func (s *Store) Close(ctx context.Context) error {
	var firstErr error
	if s.rdb != nil {
		firstErr = s.rdb.Close()
	}
	if s.db != nil {
		if _, err := s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil && firstErr == nil {
			firstErr = err
		}
		if err := s.db.Close(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// DB returns the writer handle (tests and sibling files of this package).
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate() error {
	if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := s.migrateFile(name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func (s *Store) migrateFile(name string) error {
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	} else if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations.FS, name)
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if _, err := tx.Exec(string(body)); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, s.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	s.Logger.Info("migration applied", "name", name)
	return tx.Commit()
}

// Position returns consumer's last applied offset of topic (0 if none).
func (s *Store) Position(ctx context.Context, consumer, topic string) (uint64, error) {
	var off uint64
	err := s.db.QueryRowContext(ctx, `SELECT log_offset FROM consumer_offsets WHERE consumer = ? AND topic = ?`, consumer, topic).Scan(&off)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("position of %s on %s: %w", consumer, topic, err)
	}
	return off, nil
}

// Positions returns every consumer position kept in this store.
func (s *Store) Positions(ctx context.Context) ([]app.ConsumerPosition, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT consumer, topic, log_offset, log_time FROM consumer_offsets ORDER BY consumer, topic`)
	if err != nil {
		return nil, fmt.Errorf("list positions: %w", err)
	}
	defer rows.Close()
	var out []app.ConsumerPosition
	for rows.Next() {
		var p app.ConsumerPosition
		var lt string
		if err := rows.Scan(&p.Consumer, &p.Topic, &p.Offset, &lt); err != nil {
			return nil, fmt.Errorf("list positions: %w", err)
		}
		p.LogTime, _ = time.Parse(time.RFC3339Nano, lt)
		out = append(out, p)
	}
	return out, rows.Err()
}

// commitWithPosition runs apply and moves consumer's position on topic to
// upto in one write transaction: a change of state and the log position
// it came from commit together, which makes a replay exact. When the
// position already is at or past upto (a batch delivered again after a
// crash between commit and acknowledgement) nothing is applied. apply
// gets the transaction and the position before the batch.
func (s *Store) commitWithPosition(ctx context.Context, consumer, topic string, upto uint64, uptoTime time.Time, apply func(tx *txc, cur uint64) error) error {
	sqltx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := newTxc(sqltx)
	defer tx.close()
	defer func() { _ = sqltx.Rollback() }()
	var cur uint64
	if err := tx.QueryRowContext(ctx, `SELECT log_offset FROM consumer_offsets WHERE consumer = ? AND topic = ?`, consumer, topic).Scan(&cur); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read position of %s on %s: %w", consumer, topic, err)
	}
	if upto <= cur {
		return nil
	}
	if err := apply(tx, cur); err != nil {
		return err
	}
	if err := setPosition(ctx, sqltx, consumer, topic, upto, uptoTime); err != nil {
		return fmt.Errorf("set position: %w", err)
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit %s on %s up to %d: %w", consumer, topic, upto, err)
	}
	return nil
}

func setPosition(ctx context.Context, tx *sql.Tx, consumer, topic string, off uint64, t time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO consumer_offsets (consumer, topic, log_offset, log_time) VALUES (?, ?, ?, ?)
		ON CONFLICT (consumer, topic) DO UPDATE SET log_offset = excluded.log_offset, log_time = excluded.log_time`,
		consumer, topic, off, t.UTC().Format(time.RFC3339Nano))
	return err
}

// Checksum hashes the materialised state (every state table, ordered by
// key) so that a live store can be compared with a rebuild from the log.
func (s *Store) Checksum(ctx context.Context) (map[string]string, error) {
	return checksum(ctx, s.db)
}

// ChecksumAt is Checksum together with the positions of the consumers
// of topics (topic -> consumer), read in one read transaction: a store
// that keeps applying the log gives the checksum of exactly the state at
// those positions, which a rebuild up to them must equal.
func (s *Store) ChecksumAt(ctx context.Context, topics map[string]string) (map[string]string, map[string]uint64, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, nil, fmt.Errorf("checksum: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	upto := map[string]uint64{}
	for topic, consumer := range topics {
		var off uint64
		err := tx.QueryRowContext(ctx, `SELECT log_offset FROM consumer_offsets WHERE consumer = ? AND topic = ?`, consumer, topic).Scan(&off)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, nil, fmt.Errorf("checksum: position of %s on %s: %w", consumer, topic, err)
		}
		upto[topic] = off
	}
	sums, err := checksum(ctx, tx)
	return sums, upto, err
}

// queryer is a database or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func checksum(ctx context.Context, db queryer) (map[string]string, error) {
	tables := map[string]string{
		"flights":            `SELECT key, data, event_id, event_time, log_offset FROM flights ORDER BY key`,
		"bookings":           `SELECT locator, status, data, event_id, event_time, log_offset FROM bookings ORDER BY locator`,
		"booking_segments":   `SELECT locator, idx, flight_key, cabin, seat FROM booking_segments ORDER BY locator, idx`,
		"booking_passengers": `SELECT locator, passenger_id FROM booking_passengers ORDER BY locator, passenger_id`,
		"passengers":         `SELECT id, name, tier, data, event_id, event_time, log_offset FROM passengers ORDER BY id`,
		"passenger_erasures": `SELECT id, event_id, event_time, log_offset FROM passenger_erasures ORDER BY id`,
		"documents":          `SELECT id, title, airport, deleted, data, event_id, event_time, log_offset FROM documents ORDER BY id`,
		// From the control topic; when a token was last used is local.
		"users":      `SELECT id, name, role, password_hash, disabled, created_at, log_offset FROM users ORDER BY id`,
		"api_tokens": `SELECT id, name, role, hash, created_at, revoked_at, log_offset FROM api_tokens ORDER BY id`,
		"proposals":  `SELECT ` + proposalCols + ` FROM proposals ORDER BY id`,
		"seat_holds": `SELECT proposal_id, locator, flight_key, cabin, seats, event_time FROM seat_holds ORDER BY proposal_id, flight_key`,
		"executions": `SELECT idempotency_key, proposal_id, outcome, detail, created_at, option_id, proposed FROM executions ORDER BY idempotency_key`,
		"commands":   `SELECT ` + commandCols + `, epoch FROM commands ORDER BY command_offset`,
	}
	out := map[string]string{}
	for name, q := range tables {
		h, n, err := hashRows(ctx, db, q)
		if err != nil {
			return nil, fmt.Errorf("checksum %s: %w", name, err)
		}
		out[name] = fmt.Sprintf("%d:%s", n, h)
	}
	return out, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// SetPosition records consumer's position on topic (stages whose output is
// the log itself keep their position here).
func (s *Store) SetPosition(ctx context.Context, consumer, topic string, off uint64, t time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set position of %s on %s: %w", consumer, topic, err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := setPosition(ctx, tx, consumer, topic, off, t); err != nil {
		return fmt.Errorf("set position of %s on %s: %w", consumer, topic, err)
	}
	return tx.Commit()
}

// SnapshotInto copies the database, as of one read transaction, into a
// new file at path (VACUUM INTO: consistent while the node writes, and
// compact, with no free pages of erased rows). It runs on a reader
// connection, so writers are not held up.
func (s *Store) SnapshotInto(ctx context.Context, path string) error {
	if _, err := s.rdb.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		if _, werr := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); werr != nil {
			return fmt.Errorf("vacuum into %s: %w (on a reader: %v)", path, werr, err)
		}
		s.Logger.Debug("state snapshot taken on the writer connection", "reader_err", err)
	}
	return nil
}
