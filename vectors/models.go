package vectors

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/apron-edge/apron/app"
)

// ActiveModel returns the embedding model whose vectors queries use.
// Returns ENOTFOUND while nothing was embedded.
func (s *Store) ActiveModel(ctx context.Context) (app.EmbedModel, error) {
	var m app.EmbedModel
	err := s.rdb.QueryRowContext(ctx, `SELECT name, digest, dim FROM index_models WHERE state = 'active'`).Scan(&m.Name, &m.Digest, &m.Dim)
	if errors.Is(err, sql.ErrNoRows) {
		return m, app.Errorf(app.ENOTFOUND, "the index has no embedding model yet")
	} else if err != nil {
		return m, fmt.Errorf("active model: %w", err)
	}
	return m, nil
}

// IndexModels lists the models the index holds vectors of, with their
// state (active, shadow, retired) and how many documents lack a vector.
func (s *Store) IndexModels(ctx context.Context) ([]app.IndexModel, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, digest, dim, state, vec_table FROM index_models ORDER BY created_at, digest`)
	if err != nil {
		return nil, fmt.Errorf("index models: %w", err)
	}
	type row struct {
		m     app.IndexModel
		table string
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.m.Name, &r.m.Digest, &r.m.Dim, &r.m.State, &r.table); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list index models: %w", err)
		}
		list = append(list, r)
	}
	rows.Close()
	out := make([]app.IndexModel, 0, len(list))
	for _, r := range list {
		if !vecTableName.MatchString(r.table) {
			continue
		}
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_docs d WHERE NOT EXISTS (SELECT 1 FROM `+r.table+` v WHERE v.rowid = d.rowid)`).Scan(&r.m.Missing); err != nil {
			return nil, fmt.Errorf("count missing vectors: %w", err)
		}
		out = append(out, r.m)
	}
	return out, nil
}

// MissingVectors returns up to limit documents that have no vector of
// model digest (a shadow model filling up).
func (s *Store) MissingVectors(ctx context.Context, digest string, limit int) ([]app.Doc, error) {
	l, err := vecTable(ctx, s.rdb, digest)
	vt := l.Table
	if err != nil {
		return nil, fmt.Errorf("documents without vectors: %w", err)
	} else if !l.exists() {
		return nil, app.Errorf(app.ENOTFOUND, "no vectors of model %s", digest)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT doc_id, kind, entity_key, text, text_hash FROM index_docs d
		WHERE NOT EXISTS (SELECT 1 FROM `+vt+` v WHERE v.rowid = d.rowid)
		ORDER BY CASE d.kind WHEN 'policy' THEN 0 WHEN 'flight' THEN 1 ELSE 2 END, d.rowid LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("missing vectors: %w", err)
	}
	defer rows.Close()
	var out []app.Doc
	for rows.Next() {
		var d app.Doc
		if err := rows.Scan(&d.DocID, &d.Kind, &d.EntityKey, &d.Text, &d.TextHash); err != nil {
			return nil, fmt.Errorf("documents without vectors: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// PutVectors stores vectors of model m for documents that lack one, by
// text hash, and caches them; documents whose text changed meanwhile are
// left for the next round. Returns how many were stored.
func (s *Store) PutVectors(ctx context.Context, m app.EmbedModel, docIDs []string, vectors map[string][]float32) (int, error) {
	sqltx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	tx := newTxc(sqltx)
	defer tx.close()
	defer func() { _ = sqltx.Rollback() }()
	l, err := s.ensureVecTable(ctx, sqltx, m)
	if err != nil {
		return 0, fmt.Errorf("put vectors of %s: %w", m.Name, err)
	}
	vt := l.Table
	n := 0
	for _, id := range docIDs {
		var rowid int64
		var kind, date, hash string
		err := tx.QueryRowContext(ctx, `SELECT rowid, kind, date, text_hash FROM index_docs WHERE doc_id = ?`, id).Scan(&rowid, &kind, &date, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return n, fmt.Errorf("put vectors of %s: %w", m.Name, err)
		}
		vec, ok := vectors[hash]
		if !ok {
			continue
		}
		if len(vec) != m.Dim {
			return n, app.Errorf(app.EINVALID, "vector of %s has %d dimensions, model %s has %d", id, len(vec), m.Name, m.Dim)
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+vt+` WHERE rowid = ?`, rowid).Scan(&have); err != nil {
			return n, fmt.Errorf("put vectors of %s: %w", m.Name, err)
		} else if have > 0 {
			continue
		}
		blob := vectorBlob(vec)
		if err := l.insert(ctx, tx, rowid, vec, kind, date); err != nil {
			return n, fmt.Errorf("insert vector: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO embed_cache (model_digest, text_hash, vector) VALUES (?,?,?)`, m.Digest, hash, blob); err != nil {
			return n, fmt.Errorf("put vectors of %s: %w", m.Name, err)
		}
		n++
	}
	return n, sqltx.Commit()
}

// ActivateModel makes m the model queries use, in one transaction, if
// every document has a vector of it; the model it replaces is retired
// (its table stays until DropRetired). Returns ECONFLICT while vectors
// are missing, ENOTFOUND for a model without vectors.
func (s *Store) ActivateModel(ctx context.Context, m app.EmbedModel) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	l, err := vecTable(ctx, tx, m.Digest)
	vt := l.Table
	if err != nil {
		return fmt.Errorf("activate model %s: %w", m.Name, err)
	} else if !l.exists() {
		return app.Errorf(app.ENOTFOUND, "no vectors of model %s", m.Name)
	}
	var missing int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_docs d WHERE NOT EXISTS (SELECT 1 FROM `+vt+` v WHERE v.rowid = d.rowid)`).Scan(&missing); err != nil {
		return fmt.Errorf("activate model %s: %w", m.Name, err)
	}
	if missing > 0 {
		return app.Errorf(app.ECONFLICT, "model %s still lacks %d vectors", m.Name, missing)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE index_models SET state = 'retired' WHERE state = 'active' AND digest != ?`, m.Digest); err != nil {
		return fmt.Errorf("activate model %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE index_models SET state = 'active' WHERE digest = ?`, m.Digest); err != nil {
		return fmt.Errorf("activate model %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("activate model %s: %w", m.Name, err)
	}
	s.Logger.Info("embedding model activated", "model", m.Name, "digest", m.Digest, "table", vt, "at", s.Now().UTC().Format(time.RFC3339))
	return nil
}

// MarkEmbedded moves app.EmbedConsumer's position on a topic to
// app.IndexConsumer's when, in the same transaction, no document of that
// topic lacks a vector of the active model (an index without documents
// has them all): the flights' vectors are current as soon as every
// flight has its vector, whatever the bookings still wait for. done is
// true when no document of any topic lacks one.
func (s *Store) MarkEmbedded(ctx context.Context) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	missing, err := missingByTopic(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("mark embedded: %w", err)
	}
	done := true
	for _, topic := range app.StateTopics {
		if missing[topic] > 0 {
			done = false
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO consumer_offsets (consumer, topic, log_offset, log_time)
			SELECT ?, topic, log_offset, log_time FROM consumer_offsets WHERE consumer = ? AND topic = ?
			ON CONFLICT (consumer, topic) DO UPDATE SET log_offset = excluded.log_offset, log_time = excluded.log_time`, app.EmbedConsumer, app.IndexConsumer, topic); err != nil {
			return false, fmt.Errorf("mark embedded: %w", err)
		}
	}
	return done, tx.Commit()
}

// missingByTopic counts the documents without a vector of the active
// model, by the topic of their kind; every document lacks one while no
// model is active.
func missingByTopic(ctx context.Context, tx *sql.Tx) (map[string]int, error) {
	var table string
	err := tx.QueryRowContext(ctx, `SELECT vec_table FROM index_models WHERE state = 'active'`).Scan(&table)
	q := `SELECT kind, COUNT(*) FROM index_docs GROUP BY kind`
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, err
	case !vecTableName.MatchString(table):
		return nil, app.Errorf(app.EINTERNAL, "bad vector table name %q", table)
	default:
		q = `SELECT kind, COUNT(*) FROM index_docs d WHERE NOT EXISTS (SELECT 1 FROM ` + table + ` v WHERE v.rowid = d.rowid) GROUP BY kind`
	}
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, err
		}
		out[app.TopicOfKind(kind)] += n
	}
	return out, rows.Err()
}
