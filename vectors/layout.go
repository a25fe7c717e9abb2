package vectors

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/apron-edge/apron/app"
)

// vecLayout describes the vec0 table of one embedding model.
type vecLayout struct {
	Table string
	Dim   int
	// Version 2: unit vectors under L2, partitioned by shard and date.
	// Version 1: cosine, one shard, date as a metadata column.
	Version int
	Shards  int  // rowid modulo Shards is the shard; searched in parallel
	Bits    bool // a binary-quantised copy of each vector for the coarse scan
}

// metric is the distance the table computes.
func (l vecLayout) metric() string {
	if l.Version >= 2 {
		return "l2"
	}
	return "cosine"
}

// exists reports whether the model has a table at all.
func (l vecLayout) exists() bool { return l.Table != "" && vecTableName.MatchString(l.Table) }

// createSQL returns the statement that creates the table.
func (l vecLayout) createSQL() string {
	var cols []string
	if l.Shards > 1 {
		cols = append(cols, "shard integer partition key")
	}
	// A date range reads only the chunks of its dates; kind is a metadata
	// column that sqlite-vec checks inside the scan. Airports (a flight
	// has two) go through a rowid IN subquery instead.
	date := "date text"
	if l.Version >= 2 {
		date += " partition key"
	}
	cols = append(cols, date, fmt.Sprintf("embedding float[%d] distance_metric=%s", l.Dim, l.metric()))
	if l.Bits {
		cols = append(cols, fmt.Sprintf("bits bit[%d]", l.Dim))
	}
	cols = append(cols, "kind text")
	return fmt.Sprintf(`CREATE VIRTUAL TABLE %s USING vec0(%s)`, l.Table, strings.Join(cols, ", "))
}

// insert stores the vector of document rowid.
func (l vecLayout) insert(ctx context.Context, tx interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, rowid int64, vec []float32, kind, date string) error {
	if l.metric() == "l2" {
		vec = unitVector(vec)
	}
	blob := vectorBlob(vec)
	cols, vals, args := "rowid, embedding", "?, ?", []any{rowid, blob}
	if l.Shards > 1 {
		cols, vals, args = cols+", shard", vals+", ?", append(args, rowid%int64(l.Shards))
	}
	if l.Bits {
		cols, vals, args = cols+", bits", vals+", vec_quantize_binary(?)", append(args, blob)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO `+l.Table+` (`+cols+`, kind, date) VALUES (`+vals+`, ?, ?)`, append(args, kind, date)...)
	return err
}

// cosine converts a distance the table reports into cosine distance.
func (l vecLayout) cosine(d float64) float64 {
	if l.metric() == "l2" {
		// |a-b|² = 2 - 2cos(a,b) for unit vectors.
		return d * d / 2
	}
	return d
}

// unitVector returns v scaled to length 1 (v itself when it is already,
// or when it is zero).
func unitVector(v []float32) []float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 || math.Abs(s-1) < 1e-6 {
		return v
	}
	n := float32(1 / math.Sqrt(s))
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = x * n
	}
	return out
}

// vecTable returns the layout of model digest's table; Table is "" if none.
func vecTable(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, digest string) (vecLayout, error) {
	var l vecLayout
	var bits int
	err := q.QueryRowContext(ctx, `SELECT vec_table, dim, layout, shards, bits FROM index_models WHERE digest = ?`, digest).Scan(&l.Table, &l.Dim, &l.Version, &l.Shards, &bits)
	if errors.Is(err, sql.ErrNoRows) {
		return vecLayout{}, nil
	}
	l.Bits = bits == 1
	return l, err
}

// VectorHit is one nearest document: its index rowid and cosine distance.
type VectorHit struct {
	Rowid    int64
	Distance float64
}

// NearestOptions chooses how Nearest searches.
type NearestOptions struct {
	// Quantized scans the binary-quantised vectors first and rescores the
	// best K*Oversample of them with the float vectors.
	Quantized  bool
	Oversample int
	// Serial searches the shards one after another on one connection.
	Serial bool
}

// Nearest returns the k documents whose vectors of q.Model are nearest
// to q.Vector within q's filters, nearest first. Tables without a
// binary copy are searched exactly whatever o says.
func (s *Store) Nearest(ctx context.Context, q app.SearchQuery, k int, o NearestOptions) ([]VectorHit, error) {
	l, err := vecTable(ctx, s.rdb, q.Model.Digest)
	if err != nil {
		return nil, fmt.Errorf("vector table: %w", err)
	}
	if !l.exists() {
		return nil, nil // nothing was embedded with this model yet
	}
	if l.Dim != len(q.Vector) {
		return nil, app.Errorf(app.EINVALID, "query vector has %d dimensions, the index of %s has %d", len(q.Vector), q.Model.Name, l.Dim)
	}
	vec := q.Vector
	if l.metric() == "l2" {
		vec = unitVector(vec)
	}
	blob := vectorBlob(vec)
	where, fargs := filterSQL(q, func(c string) string { return c })
	if where != "" {
		where = ` AND ` + where
	}
	coarse := o.Quantized && l.Bits
	shardCond := ""
	if l.Shards > 1 {
		shardCond = ` AND shard = ?`
	}
	var sqlq string
	if coarse {
		// The coarse scan reads 1 bit per dimension; the candidates are
		// then looked up by rowid and ranked by their float vectors.
		// CROSS JOIN keeps the candidates as the outer loop.
		sqlq = `WITH c AS (SELECT rowid FROM ` + l.Table + ` WHERE bits MATCH vec_quantize_binary(?) AND k = ?` + shardCond + where + `)
			SELECT v.rowid, vec_distance_` + l.metric() + `(v.embedding, ?) AS distance FROM c CROSS JOIN ` + l.Table + ` v ON v.rowid = c.rowid
			ORDER BY distance LIMIT ?`
	} else {
		sqlq = `SELECT rowid, distance FROM ` + l.Table + ` WHERE embedding MATCH ? AND k = ?` + shardCond + where + ` ORDER BY distance`
	}
	args := func(shard int) []any {
		n := k
		if coarse {
			n = k * max(o.Oversample, 1)
		}
		a := []any{blob, n}
		if l.Shards > 1 {
			a = append(a, shard)
		}
		a = append(a, fargs...)
		if coarse {
			a = append(a, blob, k)
		}
		return a
	}
	hits, err := s.scanShards(ctx, l.Shards, o.Serial, sqlq, args)
	if err != nil {
		return nil, fmt.Errorf("nearest vectors: %w", err)
	}
	slices.SortFunc(hits, func(a, b VectorHit) int {
		return cmp.Or(cmp.Compare(a.Distance, b.Distance), cmp.Compare(a.Rowid, b.Rowid))
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	for i := range hits {
		hits[i].Distance = l.cosine(hits[i].Distance)
	}
	return hits, nil
}

// scanShards runs the query of every shard, in parallel unless serial,
// and returns all their hits, unordered.
func (s *Store) scanShards(ctx context.Context, shards int, serial bool, sqlq string, args func(shard int) []any) ([]VectorHit, error) {
	parts := make([][]VectorHit, shards)
	errs := make([]error, shards)
	if serial || shards == 1 {
		conn, err := s.vectorConn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		for shard := range shards {
			if parts[shard], err = queryHits(ctx, conn, sqlq, args(shard)); err != nil {
				return nil, err
			}
		}
	} else {
		// sqlite-vec scans on one thread per query: one query per shard,
		// each on its own connection, uses every core.
		var wg sync.WaitGroup
		for shard := range shards {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := s.vectorConn(ctx)
				if err != nil {
					errs[shard] = err
					return
				}
				defer conn.Close()
				parts[shard], errs[shard] = queryHits(ctx, conn, sqlq, args(shard))
			}()
		}
		wg.Wait()
	}
	var hits []VectorHit
	for i, p := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		hits = append(hits, p...)
	}
	return hits, nil
}

// vectorConn returns a reader connection set up for KNN scans, which read
// every vector chunk: through mmap they cost a fraction of what read()
// calls do. The pool's connections are opened without it.
func (s *Store) vectorConn(ctx context.Context) (*sql.Conn, error) {
	conn, err := s.rdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	// SQLite caps this at its compile-time SQLITE_MAX_MMAP_SIZE (2 GiB
	// unless the build raises it; the Makefile does).
	if _, err := conn.ExecContext(ctx, `PRAGMA mmap_size = 68719476736`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("vector search: %w", err)
	}
	return conn, nil
}

func queryHits(ctx context.Context, conn *sql.Conn, q string, args []any) ([]VectorHit, error) {
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	defer rows.Close()
	var out []VectorHit
	for rows.Next() {
		var h VectorHit
		if err := rows.Scan(&h.Rowid, &h.Distance); err != nil {
			return nil, fmt.Errorf("vector scan: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vector search: %w", err)
	}
	return out, nil
}
