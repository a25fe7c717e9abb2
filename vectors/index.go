package vectors

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

// personalKinds are the document kinds that carry personal data: their
// cached vectors go with the last document that used them.
var personalKinds = map[string]bool{app.KindBooking: true, app.KindPassenger: true}

// vectorBlob encodes v as sqlite-vec reads a float32 vector.
func vectorBlob(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func blobVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

var vecTableName = regexp.MustCompile(`^vec_[0-9a-f]{8,64}$`)

// shortDigest returns the hex of a model digest without its algorithm.
func shortDigest(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 {
		digest = digest[i+1:]
	}
	return strings.ToLower(digest)
}

// ensureVecTable returns the vec0 table of m, creating it on first use.
// A digest seen before with another dimension is refused: vectors of
// different dimensions never share a table.
func (s *Store) ensureVecTable(ctx context.Context, tx *sql.Tx, m app.EmbedModel) (vecLayout, error) {
	hexd := shortDigest(m.Digest)
	if len(hexd) < 8 || m.Dim <= 0 {
		return vecLayout{}, app.Errorf(app.EINVALID, "embedding model %q has no usable digest or dimension (%q, %d)", m.Name, m.Digest, m.Dim)
	}
	l, err := vecTable(ctx, tx, m.Digest)
	if err != nil {
		return l, fmt.Errorf("vec table: %w", err)
	} else if l.Table != "" {
		if l.Dim != m.Dim {
			return l, app.Errorf(app.ECONFLICT, "embedding model %s was indexed with %d dimensions, now reports %d", m.Name, l.Dim, m.Dim)
		}
		// A retired model that is used again missed every change since it
		// was retired: it fills up as a shadow before it serves again.
		if _, err := tx.ExecContext(ctx, `UPDATE index_models SET state = 'shadow' WHERE digest = ? AND state = 'retired'`, m.Digest); err != nil {
			return l, fmt.Errorf("vector table of %s: %w", m.Name, err)
		}
		return l, nil
	}
	var name string
	for n := 8; n <= len(hexd); n += 4 {
		name = "vec_" + hexd[:n]
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_models WHERE vec_table = ?`, name).Scan(&taken); err != nil {
			return vecLayout{}, fmt.Errorf("vector table of %s: %w", m.Name, err)
		}
		if taken == 0 {
			break
		}
	}
	if !vecTableName.MatchString(name) {
		return vecLayout{}, app.Errorf(app.EINVALID, "bad vector table name %q", name)
	}
	// sqlite-vec packs bits by the byte: other dimensions get no binary copy.
	l = vecLayout{Table: name, Dim: m.Dim, Version: 2, Shards: s.shards(), Bits: m.Dim%8 == 0}
	if _, err := tx.ExecContext(ctx, l.createSQL()); err != nil {
		return l, fmt.Errorf("create %s: %w", name, err)
	}
	// The first model serves at once; a later one is a shadow until
	// ActivateModel finds it complete.
	state := "active"
	var active int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_models WHERE state = 'active'`).Scan(&active); err != nil {
		return l, fmt.Errorf("vector table of %s: %w", m.Name, err)
	} else if active > 0 {
		state = "shadow"
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO index_models (digest, name, dim, vec_table, state, created_at, layout, shards, bits) VALUES (?,?,?,?,?,?,?,?,?)`,
		m.Digest, m.Name, m.Dim, name, state, ts(s.Now()), l.Version, l.Shards, l.Bits); err != nil {
		return l, fmt.Errorf("vector table of %s: %w", m.Name, err)
	}
	s.Logger.Info("vector table created", "model", m.Name, "digest", m.Digest, "dim", m.Dim, "table", name, "state", state, "shards", l.Shards)
	return l, nil
}

// vecTables lists the vector tables of every model the index knows, on
// the store's pool or inside a transaction.
func vecTables(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT vec_table FROM index_models ORDER BY vec_table`)
	if err != nil {
		return nil, fmt.Errorf("list vector tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list vector tables: %w", err)
		}
		if vecTableName.MatchString(n) {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

// CachedVectors returns the cached vectors of model digest for those of
// hashes that have one.
func (s *Store) CachedVectors(ctx context.Context, digest string, hashes []string) (map[string][]float32, error) {
	out := make(map[string][]float32, len(hashes))
	for start := 0; start < len(hashes); start += 500 {
		chunk := hashes[start:min(start+500, len(hashes))]
		args := []any{digest}
		for _, h := range chunk {
			args = append(args, h)
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT text_hash, vector FROM embed_cache WHERE model_digest = ? AND text_hash IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("cached vectors: %w", err)
		}
		for rows.Next() {
			var h string
			var b []byte
			if err := rows.Scan(&h, &b); err != nil {
				rows.Close()
				return nil, fmt.Errorf("cached vectors: %w", err)
			}
			out[h] = blobVector(b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("cached vectors: %w", err)
		}
	}
	return out, nil
}

// EntitiesOfPerson returns the live entities whose documents carry
// passenger id, with the source they were derived from.
func (s *Store) EntitiesOfPerson(ctx context.Context, id string) ([]app.IndexedEntity, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.kind, e.key, e.event_id, e.event_time, e.log_offset, e.log_time, e.source
		FROM index_people p JOIN index_entities e ON e.kind = p.kind AND e.key = p.key
		WHERE p.passenger_id = ? AND e.deleted = 0 ORDER BY e.kind, e.key`, id)
	if err != nil {
		return nil, fmt.Errorf("entities of person: %w", err)
	}
	defer rows.Close()
	var out []app.IndexedEntity
	for rows.Next() {
		var e app.IndexedEntity
		var eid, et, lt string
		var off uint64
		if err := rows.Scan(&e.Kind, &e.Key, &eid, &et, &off, &lt, &e.Source); err != nil {
			return nil, fmt.Errorf("entities of person %s: %w", id, err)
		}
		e.Version = scanVersion(eid, et, off)
		e.LogTime, _ = time.Parse(tsLayout, lt)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Erased returns those of ids that were erased.
func (s *Store) Erased(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT passenger_id FROM index_erasures WHERE passenger_id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("erased: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up erasures: %w", err)
			}
			out[id] = true
		}
		rows.Close()
	}
	return out, nil
}

type storedDoc struct {
	rowid    int64
	docID    string
	hash     string
	date     string
	airports string
}

// ApplyDocs writes a batch of the indexing stage: for each entity its
// complete set of documents replaces the old one (metadata, full text,
// vectors of batch.Model), new vectors go to the cache, and consumer's
// position on topic moves to upto, all in one transaction. A TextOnly
// batch writes documents whose vector it lacks without one (the catch-up
// fills them, PutVectors); a batch that leaves no document without its
// vector also moves app.EmbedConsumer's position with consumer's, as long
// as it was not behind. Entities not
// newer than what the index holds are skipped, so a replay or a late event
// changes nothing. An erasure is applied whatever its version and is
// permanent. Returns ECONFLICT when an entity's Expect does not hold, a
// document would carry an erased person, or a vector is neither in the
// batch nor in the cache: the caller derives and embeds again.
func (s *Store) ApplyDocs(ctx context.Context, consumer, topic string, batch app.DocBatch, upto uint64, uptoTime time.Time) error {
	err := s.commitWithPosition(ctx, consumer, topic, upto, uptoTime, func(tx *txc, cur uint64) error {
		complete, err := s.applyDocs(ctx, tx, &batch)
		if err != nil {
			return err
		}
		if !complete {
			// The vectors' position shows from the first batch on, even
			// when it claims nothing yet.
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO consumer_offsets (consumer, topic, log_offset, log_time) VALUES (?, ?, 0, ?)`,
				app.EmbedConsumer, topic, time.Time{}.Format(time.RFC3339Nano)); err != nil {
				return fmt.Errorf("record embedding position: %w", err)
			}
			return nil
		}
		var embedded uint64
		if err := tx.QueryRowContext(ctx, `SELECT log_offset FROM consumer_offsets WHERE consumer = ? AND topic = ?`, app.EmbedConsumer, topic).Scan(&embedded); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read embedding position: %w", err)
		}
		if embedded < cur {
			return nil // documents before this batch still wait for vectors
		}
		if err := setPosition(ctx, tx.Tx, app.EmbedConsumer, topic, upto, uptoTime); err != nil {
			return fmt.Errorf("set embedding position: %w", err)
		}
		return nil
	})
	if err == nil && slices.ContainsFunc(batch.Entities, func(e app.EntityDocs) bool { return e.Erasure }) {
		s.checkpoint(ctx)
	}
	return err
}

// applyDocs writes the documents of a batch in the transaction tx;
// complete is false when a document went in without its vector.
func (s *Store) applyDocs(ctx context.Context, tx *txc, batch *app.DocBatch) (complete bool, err error) {
	hasDocs := false
	for _, e := range batch.Entities {
		hasDocs = hasDocs || len(e.Docs) > 0
	}
	var vt vecLayout
	if hasDocs && batch.Model.Digest != "" {
		if vt, err = s.ensureVecTable(ctx, tx.Tx, batch.Model); err != nil {
			return false, fmt.Errorf("apply documents: %w", err)
		}
	} else if hasDocs && !batch.TextOnly {
		return false, app.Errorf(app.EINVALID, "apply documents: a batch with vectors needs their model")
	}
	tables, err := vecTables(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("apply documents: %w", err)
	}
	a := &docApplier{s: s, tx: tx, vt: vt, tables: tables, batch: batch, dropped: map[string]bool{}}
	var erasures []string
	for i := range batch.Entities {
		e := &batch.Entities[i]
		if e.Erasure {
			erasures = append(erasures, e.Key)
		}
		if err := a.entity(ctx, e); err != nil {
			return false, fmt.Errorf("%s %s@%d: %w", e.Kind, e.Key, e.Version.Offset, err)
		}
	}
	for _, id := range erasures {
		// Everything that carried the person must have been re-derived in
		// this batch; an entity committed meanwhile by another topic's
		// loop would otherwise keep the name.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_people WHERE passenger_id = ?`, id).Scan(&n); err != nil {
			return false, fmt.Errorf("apply documents: %w", err)
		}
		if n > 0 {
			return false, app.Errorf(app.ECONFLICT, "passenger %s is still carried by %d entities", id, n)
		}
	}
	if err := a.purgeCache(ctx); err != nil {
		return false, fmt.Errorf("purge cache: %w", err)
	}
	if len(erasures) > 0 {
		// Deleted FTS5 rows stay in the index segments until they are
		// merged; merge now so the erased text is gone from the index.
		if _, err := tx.ExecContext(ctx, `INSERT INTO docs_fts (docs_fts) VALUES ('optimize')`); err != nil {
			return false, fmt.Errorf("fts optimize: %w", err)
		}
	}
	return a.withoutVector == 0, nil
}

type docApplier struct {
	s       *Store
	tx      *txc
	vt      vecLayout
	tables  []string
	batch   *app.DocBatch
	dropped map[string]bool // text hashes of personal documents removed
	// withoutVector counts the documents of a TextOnly batch written
	// without their vector.
	withoutVector int
}

// entity replaces the documents of one entity version, unless the index
// holds a version as new. Returns ECONFLICT when e.Expect does not hold
// or a document would carry an erased person.
func (a *docApplier) entity(ctx context.Context, e *app.EntityDocs) error {
	version, apply, err := a.version(ctx, e)
	if err != nil || !apply {
		return err
	}
	if len(e.Docs) > 0 {
		for _, p := range e.People {
			var n int
			if err := a.tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM index_erasures WHERE passenger_id = ?`, p).Scan(&n); err != nil {
				return fmt.Errorf("look up erasure: %w", err)
			}
			if n > 0 {
				return app.Errorf(app.ECONFLICT, "passenger %s was erased", p)
			}
		}
	}
	if err := a.replaceDocs(ctx, e, version); err != nil {
		return err
	}
	return a.record(ctx, e, version)
}

// version returns the version e is stored with (an erasure keeps a newer
// one) and whether to apply e at all. An erasure is recorded here and
// always applied.
func (a *docApplier) version(ctx context.Context, e *app.EntityDocs) (app.Version, bool, error) {
	tx := a.tx
	var cur app.Version
	var et string
	found := true
	err := tx.QueryRowContext(ctx, `SELECT event_id, event_time, log_offset FROM index_entities WHERE kind = ? AND key = ?`, e.Kind, e.Key).Scan(&cur.EventID, &et, &cur.Offset)
	if errors.Is(err, sql.ErrNoRows) {
		found = false
	} else if err != nil {
		return app.Version{}, false, fmt.Errorf("indexed version: %w", err)
	} else if cur.EventTime, err = time.Parse(tsLayout, et); err != nil {
		return app.Version{}, false, fmt.Errorf("parse stored event time: %w", err)
	}
	version := e.Version
	switch {
	case e.Expect != nil:
		if x := e.Expect; !found || cur.EventID != x.EventID || cur.Offset != x.Offset || !cur.EventTime.Equal(x.EventTime) {
			return app.Version{}, false, app.Errorf(app.ECONFLICT, "index holds another version of %s %s", e.Kind, e.Key)
		}
	case e.Erasure:
		if found && !version.Newer(cur) {
			version = cur
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO index_erasures (passenger_id) VALUES (?)`, e.Key); err != nil {
			return app.Version{}, false, fmt.Errorf("record erasure: %w", err)
		}
	case found && !version.Newer(cur):
		return version, false, nil
	}
	return version, true, nil
}

// replaceDocs replaces the stored documents of e with e's: removed ones
// are deleted, unchanged texts only take the new version.
func (a *docApplier) replaceDocs(ctx context.Context, e *app.EntityDocs, version app.Version) error {
	tx := a.tx
	old, err := a.storedDocs(ctx, e.Kind, e.Key)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, d := range e.Docs {
		keep[d.DocID] = true
	}
	for id, o := range old {
		if !keep[id] {
			if err := a.deleteDoc(ctx, e.Kind, o); err != nil {
				return err
			}
		}
	}
	for i := range e.Docs {
		d := &e.Docs[i]
		airports := strings.Join(d.Airports, " ")
		if o, ok := old[d.DocID]; ok {
			if o.hash == d.TextHash && o.date == d.Date && o.airports == airports {
				// Same text: only the version moves.
				if _, err := tx.ExecContext(ctx, `UPDATE index_docs SET title = ?, event_id = ?, event_time = ?, log_offset = ?, log_time = ? WHERE rowid = ?`,
					d.Title, version.EventID, ts(version.EventTime), version.Offset, ts(d.LogTime), o.rowid); err != nil {
					return fmt.Errorf("update index_docs: %w", err)
				}
				continue
			}
			if err := a.deleteDoc(ctx, e.Kind, o); err != nil {
				return err
			}
		}
		if err := a.insertDoc(ctx, d, version, airports); err != nil {
			return err
		}
	}
	return nil
}

// record stores who e carries and its version, or its tombstone when e
// has no documents left.
func (a *docApplier) record(ctx context.Context, e *app.EntityDocs, version app.Version) error {
	tx := a.tx
	if _, err := tx.ExecContext(ctx, `DELETE FROM index_people WHERE kind = ? AND key = ?`, e.Kind, e.Key); err != nil {
		return fmt.Errorf("clear people: %w", err)
	}
	if len(e.Docs) > 0 {
		for _, p := range e.People {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO index_people (passenger_id, kind, key) VALUES (?,?,?)`, p, e.Kind, e.Key); err != nil {
				return fmt.Errorf("link person: %w", err)
			}
		}
	}
	deleted := 0
	var source []byte
	if len(e.Docs) == 0 {
		deleted = 1
	} else {
		source = e.Source
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO index_entities (kind, key, event_id, event_time, log_offset, log_time, deleted, source) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (kind, key) DO UPDATE SET event_id = excluded.event_id, event_time = excluded.event_time, log_offset = excluded.log_offset,
		log_time = excluded.log_time, deleted = excluded.deleted, source = excluded.source`,
		e.Kind, e.Key, version.EventID, ts(version.EventTime), version.Offset, ts(e.LogTime), deleted, source)
	if err != nil {
		return fmt.Errorf("record entity: %w", err)
	}
	return nil
}

func (a *docApplier) storedDocs(ctx context.Context, kind, key string) (map[string]storedDoc, error) {
	st, err := a.tx.stmt(ctx, `SELECT rowid, doc_id, text_hash, date, airports FROM index_docs WHERE kind = ? AND entity_key = ?`)
	if err != nil {
		return nil, fmt.Errorf("stored documents of %s %s: %w", kind, key, err)
	}
	rows, err := st.QueryContext(ctx, kind, key)
	if err != nil {
		return nil, fmt.Errorf("stored documents of %s %s: %w", kind, key, err)
	}
	defer rows.Close()
	out := map[string]storedDoc{}
	for rows.Next() {
		var d storedDoc
		if err := rows.Scan(&d.rowid, &d.docID, &d.hash, &d.date, &d.airports); err != nil {
			return nil, fmt.Errorf("stored documents of %s %s: %w", kind, key, err)
		}
		out[d.docID] = d
	}
	return out, rows.Err()
}

func (a *docApplier) deleteDoc(ctx context.Context, kind string, d storedDoc) error {
	tx := a.tx
	if _, err := tx.ExecContext(ctx, `DELETE FROM docs_fts WHERE rowid = ?`, d.rowid); err != nil {
		return fmt.Errorf("delete fts: %w", err)
	}
	for _, t := range a.tables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE rowid = ?`, d.rowid); err != nil {
			return fmt.Errorf("delete vector: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM index_doc_airports WHERE doc_rowid = ?`, d.rowid); err != nil {
		return fmt.Errorf("delete document %s: %w", d.docID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM index_docs WHERE rowid = ?`, d.rowid); err != nil {
		return fmt.Errorf("delete document %s: %w", d.docID, err)
	}
	if personalKinds[kind] {
		a.dropped[d.hash] = true
	}
	return nil
}

func (a *docApplier) insertDoc(ctx context.Context, d *app.Doc, v app.Version, airports string) error {
	tx := a.tx
	vec, fresh := a.batch.Vectors[d.TextHash]
	if a.batch.Model.Digest == "" {
		vec, fresh = nil, false // no model: the text alone
	} else if !fresh {
		var blob []byte
		err := tx.QueryRowContext(ctx, `SELECT vector FROM embed_cache WHERE model_digest = ? AND text_hash = ?`, a.batch.Model.Digest, d.TextHash).Scan(&blob)
		if errors.Is(err, sql.ErrNoRows) && a.batch.TextOnly {
			vec = nil
		} else if errors.Is(err, sql.ErrNoRows) {
			// The cache lost it meanwhile (a personal text purged by
			// another topic's batch): the caller embeds again.
			return app.Errorf(app.ECONFLICT, "no vector for document %s (text %s)", d.DocID, d.TextHash[:min(12, len(d.TextHash))])
		} else if err != nil {
			return fmt.Errorf("insert document %s: %w", d.DocID, err)
		} else {
			vec = blobVector(blob)
		}
	}
	if vec == nil {
		a.withoutVector++
	} else if len(vec) != a.batch.Model.Dim {
		return app.Errorf(app.EINTERNAL, "vector of %s has %d dimensions, model %s has %d", d.DocID, len(vec), a.batch.Model.Name, a.batch.Model.Dim)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO index_docs (doc_id, kind, entity_key, airports, date, title, text, text_hash, event_id, event_time, log_offset, log_time)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		d.DocID, d.Kind, d.EntityKey, airports, d.Date, d.Title, d.Text, d.TextHash, v.EventID, ts(v.EventTime), v.Offset, ts(d.LogTime))
	if err != nil {
		return fmt.Errorf("insert doc %s: %w", d.DocID, err)
	}
	rowid, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert document %s: %w", d.DocID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO docs_fts (rowid, title, text) VALUES (?,?,?)`, rowid, d.Title, d.Text); err != nil {
		return fmt.Errorf("insert fts: %w", err)
	}
	if vec != nil {
		if err := a.vt.insert(ctx, tx, rowid, vec, d.Kind, d.Date); err != nil {
			return fmt.Errorf("insert vector: %w", err)
		}
	}
	for _, ap := range d.Airports {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO index_doc_airports (airport, doc_rowid) VALUES (?,?)`, ap, rowid); err != nil {
			return fmt.Errorf("insert document %s: %w", d.DocID, err)
		}
	}
	if fresh {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO embed_cache (model_digest, text_hash, vector) VALUES (?,?,?)`, a.batch.Model.Digest, d.TextHash, vectorBlob(vec)); err != nil {
			return fmt.Errorf("cache vector: %w", err)
		}
	}
	delete(a.dropped, d.TextHash)
	return nil
}

// purgeCache forgets the cached vectors of personal texts no document
// uses any more, for every model.
func (a *docApplier) purgeCache(ctx context.Context) error {
	for h := range a.dropped {
		if _, err := a.tx.ExecContext(ctx, `DELETE FROM embed_cache WHERE text_hash = ? AND NOT EXISTS (SELECT 1 FROM index_docs WHERE text_hash = ?)`, h, h); err != nil {
			return err
		}
	}
	return nil
}

// IndexCounts returns the number of documents per kind and of cached vectors.
func (s *Store) IndexCounts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	rows, err := s.rdb.QueryContext(ctx, `SELECT kind, COUNT(*) FROM index_docs GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("count index: %w", err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("count index: %w", err)
		}
		out[k] = n
	}
	rows.Close()
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM embed_cache`).Scan(&n); err != nil {
		return nil, fmt.Errorf("count index: %w", err)
	}
	out["cache"] = n
	return out, nil
}

// IndexChecksum hashes the index (entities, documents, their full-text
// and vector rows) so that a live index can be compared with a rebuild
// from the log. Log times are left out: a rebuild reads the same entries.
func (s *Store) IndexChecksum(ctx context.Context) (map[string]string, error) {
	queries := map[string]string{
		"index_entities": `SELECT kind, key, event_id, event_time, log_offset, deleted, COALESCE(source, '') FROM index_entities ORDER BY kind, key`,
		"index_docs":     `SELECT doc_id, kind, entity_key, airports, date, title, text_hash, event_id, event_time, log_offset FROM index_docs ORDER BY doc_id`,
		"index_people":   `SELECT passenger_id, kind, key FROM index_people ORDER BY passenger_id, kind, key`,
		"index_erasures": `SELECT passenger_id FROM index_erasures ORDER BY passenger_id`,
		"docs_fts":       `SELECT d.doc_id, f.text FROM docs_fts f JOIN index_docs d ON d.rowid = f.rowid ORDER BY d.doc_id`,
	}
	tables, err := vecTables(ctx, s.db)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		// Vectors themselves are left out: the model's floats may differ in
		// the last bits with the batch they were computed in.
		queries[t] = `SELECT d.doc_id, v.kind, v.date FROM ` + t + ` v JOIN index_docs d ON d.rowid = v.rowid ORDER BY d.doc_id`
	}
	out := map[string]string{}
	for name, q := range queries {
		h, n, err := hashRows(ctx, s.db, q)
		if err != nil {
			return nil, fmt.Errorf("checksum %s: %w", name, err)
		}
		out[name] = fmt.Sprintf("%d:%s", n, h)
	}
	return out, nil
}
