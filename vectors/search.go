package vectors

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/apron-edge/apron/app"
)

// Reciprocal rank fusion: each list adds 1/(rrfK+rank). An exact match of
// an identifier outweighs any fused score; an airport named in the query
// only breaks near ties.
const (
	rrfK         = 60
	exactBoost   = 1.0
	airportBoost = 0.005
)

var (
	reLocator = regexp.MustCompile(`\b[A-Za-z0-9]{6}\b`)
	reFlight  = regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9]|[0-9][A-Za-z])\s?([0-9]{1,4})\b`)
	reIATA    = regexp.MustCompile(`\b[A-Z]{3}\b`)
)

// identifiers are the record locators, flight numbers and airport codes a
// query names. Locators and flight numbers match whatever the case; an
// airport code must be typed in capitals, or every three-letter word would
// be one.
type identifiers struct {
	locators []string
	flights  []string
	airports []string
}

func parseIdentifiers(q string) identifiers {
	var id identifiers
	seen := map[string]bool{}
	add := func(list *[]string, v string) {
		if !seen[v] {
			seen[v] = true
			*list = append(*list, v)
		}
	}
	for _, m := range reFlight.FindAllStringSubmatch(q, -1) {
		add(&id.flights, strings.ToUpper(m[1]+m[2]))
	}
	for _, m := range reLocator.FindAllString(q, -1) {
		add(&id.locators, strings.ToUpper(m))
	}
	for _, m := range reIATA.FindAllString(q, -1) {
		add(&id.airports, m)
	}
	return id
}

var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "to": true, "of": true, "in": true, "on": true, "for": true, "and": true, "or": true,
	"is": true, "are": true, "i": true, "can": true, "do": true, "does": true, "what": true, "which": true, "who": true,
	"with": true, "at": true, "by": true, "be": true, "it": true, "my": true, "me": true, "we": true, "from": true, "about": true,
}

// ftsQuery turns free text into an FTS5 query: every word quoted (so no
// word is read as an operator), any of them may match, BM25 ranks.
func ftsQuery(text string) string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	var terms []string
	seen := map[string]bool{}
	for _, w := range words {
		if stopWords[w] || seen[w] {
			continue
		}
		seen[w] = true
		terms = append(terms, `"`+w+`"`)
	}
	return strings.Join(terms, " OR ")
}

type candidate struct {
	rowid    int64
	vecRank  int
	distance float64
	textRank int
	bm25     float64
	boost    float64
	exact    string
}

// filterSQL returns the conditions of q's filters on index_docs (alias d).
func filterSQL(q app.SearchQuery, col func(string) string) (string, []any) {
	var where []string
	var args []any
	if len(q.Kinds) > 0 {
		where = append(where, col("kind")+` IN (`+placeholders(len(q.Kinds))+`)`)
		for _, k := range q.Kinds {
			args = append(args, k)
		}
	}
	if q.From != "" {
		where = append(where, col("date")+` >= ?`)
		args = append(args, q.From)
	}
	if q.To != "" {
		where = append(where, col("date")+` <= ?`)
		args = append(args, q.To)
	}
	if q.Airport != "" {
		where = append(where, col("rowid")+` IN (SELECT doc_rowid FROM index_doc_airports WHERE airport = ?)`)
		args = append(args, strings.ToUpper(q.Airport))
	}
	if q.From != "" || q.To != "" {
		where = append(where, col("date")+` != ''`)
	}
	return strings.Join(where, " AND "), args
}

// Search runs a hybrid query: KNN over the vectors of q.Model, BM25 over
// the full text, and exact lookups of the identifiers the query names, all
// with q's filters inside the queries, fused by reciprocal rank. Every hit
// carries its score parts and the log position and age it reflects.
// Returns EINVALID for a query with neither text nor vector.
func (s *Store) Search(ctx context.Context, q app.SearchQuery) ([]app.SearchHit, error) {
	if strings.TrimSpace(q.Text) == "" && len(q.Vector) == 0 {
		return nil, app.Errorf(app.EINVALID, "empty query")
	}
	if q.K <= 0 {
		q.K = 10
	}
	if q.K > 200 {
		q.K = 200
	}
	if q.From != "" && q.To != "" && q.From > q.To {
		return nil, app.Errorf(app.EINVALID, "from %s is after to %s", q.From, q.To)
	}
	depth := max(4*q.K, 50)
	cands := map[int64]*candidate{}
	get := func(id int64) *candidate {
		c, ok := cands[id]
		if !ok {
			c = &candidate{rowid: id}
			cands[id] = c
		}
		return c
	}

	if len(q.Vector) > 0 {
		if err := s.knn(ctx, q, depth, get); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	if fq := ftsQuery(q.Text); fq != "" {
		where, args := filterSQL(q, func(c string) string { return "d." + c })
		sqlq := `SELECT d.rowid, bm25(docs_fts, 2.0, 1.0) AS score FROM docs_fts JOIN index_docs d ON d.rowid = docs_fts.rowid WHERE docs_fts MATCH ?`
		if where != "" {
			sqlq += ` AND ` + where
		}
		sqlq += ` ORDER BY score LIMIT ?`
		rows, err := s.rdb.QueryContext(ctx, sqlq, append(append([]any{fq}, args...), depth)...)
		if err != nil {
			return nil, fmt.Errorf("full-text search: %w", err)
		}
		rank := 0
		for rows.Next() {
			var id int64
			var score float64
			if err := rows.Scan(&id, &score); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search: %w", err)
			}
			rank++
			c := get(id)
			c.textRank, c.bm25 = rank, score
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("full-text search: %w", err)
		}
	}
	ids := parseIdentifiers(q.Text)
	if err := s.exactMatches(ctx, q, ids, get); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if len(cands) == 0 {
		return []app.SearchHit{}, nil
	}
	hits, err := s.loadHits(ctx, cands, ids)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].DocID < hits[j].DocID
	})
	if len(hits) > q.K {
		hits = hits[:q.K]
	}
	return hits, nil
}

func (s *Store) knn(ctx context.Context, q app.SearchQuery, depth int, get func(int64) *candidate) error {
	hits, err := s.Nearest(ctx, q, depth, NearestOptions{Quantized: s.Quantize, Oversample: s.Oversample})
	if err != nil {
		return fmt.Errorf("vector candidates: %w", err)
	}
	for i, h := range hits {
		c := get(h.Rowid)
		c.vecRank, c.distance = i+1, h.Distance
	}
	return nil
}

// exactMatches adds the documents whose entity key is a locator or a
// flight number the query names, within the filters.
func (s *Store) exactMatches(ctx context.Context, q app.SearchQuery, ids identifiers, get func(int64) *candidate) error {
	where, fargs := filterSQL(q, func(c string) string { return "d." + c })
	if where != "" {
		where = " AND " + where
	}
	run := func(cond string, ident string, args ...any) error {
		rows, err := s.rdb.QueryContext(ctx, `SELECT d.rowid FROM index_docs d WHERE `+cond+where+` LIMIT 50`, append(args, fargs...)...)
		if err != nil {
			return fmt.Errorf("exact match: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("exact matches: %w", err)
			}
			c := get(id)
			c.boost, c.exact = exactBoost, ident
		}
		return rows.Err()
	}
	for _, l := range ids.locators {
		if err := run(`d.kind = 'booking' AND d.entity_key = ?`, l, l); err != nil {
			return fmt.Errorf("exact matches: %w", err)
		}
	}
	for _, f := range ids.flights {
		// A flight's key is its number and date: LH400-2026-11-25.
		if err := run(`d.kind = 'flight' AND d.entity_key >= ? AND d.entity_key < ?`, f, f+"-", f+"."); err != nil {
			return fmt.Errorf("exact matches: %w", err)
		}
	}
	return nil
}

func (s *Store) loadHits(ctx context.Context, cands map[int64]*candidate, ids identifiers) ([]app.SearchHit, error) {
	rowids := make([]any, 0, len(cands))
	for id := range cands {
		rowids = append(rowids, id)
	}
	now := s.Now()
	var hits []app.SearchHit
	for start := 0; start < len(rowids); start += 500 {
		chunk := rowids[start:min(start+500, len(rowids))]
		rows, err := s.rdb.QueryContext(ctx, `SELECT rowid, doc_id, kind, entity_key, airports, date, title, text, event_id, event_time, log_offset, log_time
			FROM index_docs WHERE rowid IN (`+placeholders(len(chunk))+`)`, chunk...)
		if err != nil {
			return nil, fmt.Errorf("load hits: %w", err)
		}
		for rows.Next() {
			var h app.SearchHit
			var rowid int64
			var airports, eid, et, lt string
			var off uint64
			if err := rows.Scan(&rowid, &h.DocID, &h.Kind, &h.EntityKey, &airports, &h.Date, &h.Title, &h.Text, &eid, &et, &off, &lt); err != nil {
				rows.Close()
				return nil, fmt.Errorf("load hits: %w", err)
			}
			c := cands[rowid]
			h.Airports = strings.Fields(airports)
			h.Version = scanVersion(eid, et, off)
			h.Topic = app.TopicOfKind(h.Kind)
			h.LogTime, _ = time.Parse(tsLayout, lt)
			if !h.LogTime.IsZero() {
				h.Age = now.Sub(h.LogTime).Seconds()
			}
			h.VectorRank, h.VectorDistance, h.TextRank, h.BM25, h.Boost, h.Exact = c.vecRank, c.distance, c.textRank, c.bm25, c.boost, c.exact
			for _, a := range ids.airports {
				for _, ha := range h.Airports {
					if a == ha {
						h.Boost += airportBoost
					}
				}
			}
			if c.vecRank > 0 {
				h.Score += 1.0 / float64(rrfK+c.vecRank)
			}
			if c.textRank > 0 {
				h.Score += 1.0 / float64(rrfK+c.textRank)
			}
			h.Score += h.Boost
			hits = append(hits, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("load hits: %w", err)
		}
	}
	return hits, nil
}
