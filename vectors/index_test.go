package vectors_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

// The storage side of the index, with hand-made vectors: which version
// wins, what an erasure leaves behind, and that filters hold. Retrieval
// quality is tested with the real model in app/index_e2e_test.go.

var testModel = app.EmbedModel{Name: "test:4d", Digest: "sha256:0123456789abcdef", Dim: 4}

func doc(kind, key string, v app.Version, text string, airports []string, date string) app.Doc {
	return app.Doc{DocID: kind + ":" + key, EntityKey: key, Kind: kind, Version: v, LogTime: t0, Airports: airports, Date: date,
		Title: key, Text: text, TextHash: app.TextHash(text)}
}

func ver(off uint64, at time.Time) app.Version {
	return app.Version{EventID: "e", EventTime: at, Offset: off}
}

type batcher struct {
	s interface {
		ApplyDocs(context.Context, string, string, app.DocBatch, uint64, time.Time) error
	}
	next map[string]uint64
}

// apply writes entities as the next log entry of topic, with a vector
// for each text derived from its hash.
func (b *batcher) apply(topic string, ents ...app.EntityDocs) error {
	b.next[topic]++
	vecs := map[string][]float32{}
	for _, e := range ents {
		for _, d := range e.Docs {
			vecs[d.TextHash] = vectorOf(d.Text)
		}
	}
	return b.s.ApplyDocs(context.Background(), app.IndexConsumer, topic, app.DocBatch{Model: testModel, Entities: ents, Vectors: vecs}, b.next[topic], t0)
}

func vectorOf(text string) []float32 {
	h := sha256.Sum256([]byte(text))
	v := make([]float32, 4)
	for i := range v {
		v[i] = float32(h[i])/255 - 0.5
	}
	return v
}

func TestApplyDocsKeepsTheNewestVersionAndCommitsThePosition(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	b := &batcher{s: s, next: map[string]uint64{}}
	fl := func(off uint64, at time.Time, status string) app.EntityDocs {
		v := ver(off, at)
		return app.EntityDocs{Kind: app.KindFlight, Key: "LH400-2026-11-25", Version: v, LogTime: t0,
			Docs: []app.Doc{doc(app.KindFlight, "LH400-2026-11-25", v, "Flight LH400 status "+status, []string{"FRA", "JFK"}, "2026-11-25")}}
	}
	must(t, b.apply(app.TopicFlights, fl(1, t0.Add(10*time.Minute), "delayed")))
	must(t, b.apply(app.TopicFlights, fl(2, t0.Add(5*time.Minute), "scheduled"))) // late
	hits, err := s.Search(ctx, app.SearchQuery{Text: "LH400"})
	must(t, err)
	if len(hits) != 1 || !strings.Contains(hits[0].Text, "delayed") || hits[0].Version.Offset != 1 {
		t.Fatalf("late event replaced newer text: %+v", hits)
	}
	if pos, _ := s.Position(ctx, app.IndexConsumer, app.TopicFlights); pos != 2 {
		t.Fatalf("position %d, want 2", pos)
	}
	// A replayed batch (not beyond the position) changes nothing.
	must(t, s.ApplyDocs(ctx, app.IndexConsumer, app.TopicFlights, app.DocBatch{Model: testModel, Entities: []app.EntityDocs{fl(2, t0.Add(time.Hour), "arrived")},
		Vectors: map[string][]float32{app.TextHash("Flight LH400 status arrived"): vectorOf("Flight LH400 status arrived")}}, 2, t0))
	if n := count(t, s, `SELECT COUNT(*) FROM index_docs WHERE text LIKE '%arrived%'`); n != 0 {
		t.Fatal("replayed batch applied twice")
	}
	// Same text, newer version: only the version moves.
	same := fl(3, t0.Add(20*time.Minute), "delayed")
	must(t, b.apply(app.TopicFlights, same))
	if n := count(t, s, `SELECT COUNT(*) FROM index_docs WHERE log_offset = 3`); n != 1 {
		t.Fatal("version not moved")
	}
	// A vector neither in the batch nor in the cache is a conflict.
	v4 := ver(4, t0.Add(time.Hour))
	err = s.ApplyDocs(ctx, app.IndexConsumer, app.TopicFlights, app.DocBatch{Model: testModel, Entities: []app.EntityDocs{{Kind: app.KindFlight, Key: "X1-2026-11-25", Version: v4,
		Docs: []app.Doc{doc(app.KindFlight, "X1-2026-11-25", v4, "never embedded", nil, "")}}}}, 10, t0)
	if app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("missing vector: %v", err)
	}
	// Vectors of another dimension for a known digest are refused.
	other := testModel
	other.Dim = 8
	err = s.ApplyDocs(ctx, app.IndexConsumer, app.TopicFlights, app.DocBatch{Model: other, Entities: []app.EntityDocs{fl(11, t0.Add(2*time.Hour), "boarding")}}, 11, t0)
	if app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("dimension change: %v", err)
	}
	if pos, _ := s.Position(ctx, app.IndexConsumer, app.TopicFlights); pos != 3 {
		t.Fatalf("a failed batch moved the position to %d", pos)
	}
}

func TestErasureLeavesNoTextVectorOrCacheBehind(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	b := &batcher{s: s, next: map[string]uint64{}}
	v1 := ver(1, t0)
	pax := app.EntityDocs{Kind: app.KindPassenger, Key: "P1", Version: v1, People: []string{"P1"},
		Docs: []app.Doc{doc(app.KindPassenger, "P1", v1, "Passenger Ada Lovelace gold", nil, "")}}
	bk := app.EntityDocs{Kind: app.KindBooking, Key: "ABC234", Version: v1, People: []string{"P1", "P2"}, Source: []byte(`{"locator":"ABC234"}`),
		Docs: []app.Doc{doc(app.KindBooking, "ABC234", v1, "Booking ABC234 Ada Lovelace, Alan Turing", nil, "2026-11-25")}}
	fl := app.EntityDocs{Kind: app.KindFlight, Key: "LH400-2026-11-25", Version: v1,
		Docs: []app.Doc{doc(app.KindFlight, "LH400-2026-11-25", v1, "Flight LH400", []string{"FRA"}, "2026-11-25")}}
	must(t, b.apply(app.TopicPassengers, pax))
	must(t, b.apply(app.TopicBookings, bk))
	must(t, b.apply(app.TopicFlights, fl))
	got, err := s.EntitiesOfPerson(ctx, "P1")
	must(t, err)
	if len(got) != 2 || got[0].Kind != app.KindBooking || string(got[0].Source) != `{"locator":"ABC234"}` || got[0].Version.Offset != 1 {
		t.Fatalf("entities of P1: %+v", got)
	}

	// An erasure that misses an entity carrying the person is refused.
	er := app.EntityDocs{Kind: app.KindPassenger, Key: "P1", Version: ver(2, t0.Add(time.Minute)), Erasure: true}
	if err := b.apply(app.TopicPassengers, er); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("erasure without the booking: %v", err)
	}
	// A re-derivation against a version the index does not hold is refused.
	stale := ver(9, t0)
	red := app.EntityDocs{Kind: app.KindBooking, Key: "ABC234", Version: v1, Expect: &stale, People: []string{"P2"},
		Docs: []app.Doc{doc(app.KindBooking, "ABC234", v1, "Booking ABC234 (erased), Alan Turing", nil, "2026-11-25")}}
	if err := b.apply(app.TopicPassengers, er, red); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("stale re-derivation: %v", err)
	}
	red.Expect = &v1
	must(t, b.apply(app.TopicPassengers, er, red))
	if n := count(t, s, `SELECT COUNT(*) FROM index_docs WHERE text LIKE '%Lovelace%'`); n != 0 {
		t.Fatalf("%d documents keep the name", n)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM docs_fts WHERE docs_fts MATCH 'lovelace'`); n != 0 {
		t.Fatal("full text keeps the name")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM embed_cache WHERE text_hash IN (?, ?)`, pax.Docs[0].TextHash, bk.Docs[0].TextHash); n != 0 {
		t.Fatal("cache keeps vectors of the person's texts")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM embed_cache WHERE text_hash = ?`, fl.Docs[0].TextHash); n != 1 {
		t.Fatal("flight vector dropped from the cache")
	}
	if n := count(t, s, `SELECT COUNT(*) FROM vec_01234567`); n != 2 {
		t.Fatalf("%d vectors, want the flight and the re-derived booking", n)
	}
	erased, err := s.Erased(ctx, []string{"P1", "P2"})
	must(t, err)
	if !erased["P1"] || erased["P2"] {
		t.Fatalf("erased = %v", erased)
	}
	// Afterwards no document may carry the person, whichever topic brings it.
	v3 := ver(3, t0.Add(time.Hour))
	again := app.EntityDocs{Kind: app.KindBooking, Key: "ABC234", Version: v3, People: []string{"P1"},
		Docs: []app.Doc{doc(app.KindBooking, "ABC234", v3, "Booking ABC234 Ada Lovelace", nil, "")}}
	if err := b.apply(app.TopicBookings, again); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("booking with an erased person: %v", err)
	}
}

func TestSearchFiltersAndBoosts(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	b := &batcher{s: s, next: map[string]uint64{}}
	var ents []app.EntityDocs
	add := func(kind, key, text, date string, airports ...string) {
		v := ver(uint64(len(ents)+1), t0)
		ents = append(ents, app.EntityDocs{Kind: kind, Key: key, Version: v, LogTime: t0, Docs: []app.Doc{doc(kind, key, v, text, airports, date)}})
	}
	add(app.KindFlight, "LH400-2026-11-25", "Flight LH400 Frankfurt to New York, delayed", "2026-11-25", "FRA", "JFK")
	add(app.KindFlight, "LH400-2026-11-26", "Flight LH400 Frankfurt to New York, scheduled", "2026-11-26", "FRA", "JFK")
	add(app.KindFlight, "LH900-2026-11-25", "Flight LH900 Munich to London, mentions LH400 in a note", "2026-11-25", "MUC", "LHR")
	add(app.KindBooking, "QX7K2P", "Booking QX7K2P on flight LH400", "2026-11-25")
	add(app.KindPolicy, "policy-care", "Hotel vouchers for an overnight stay", "", "FRA")
	must(t, b.apply(app.TopicFlights, ents...))

	hits, err := s.Search(ctx, app.SearchQuery{Text: "lh400"})
	must(t, err)
	if len(hits) < 3 || !strings.HasPrefix(hits[0].EntityKey, "LH400-") || !strings.HasPrefix(hits[1].EntityKey, "LH400-") || hits[0].Exact != "LH400" {
		t.Fatalf("flight number: %+v", hits)
	}
	hits, err = s.Search(ctx, app.SearchQuery{Text: "where is qx7k2p"})
	must(t, err)
	if hits[0].EntityKey != "QX7K2P" || hits[0].Boost < 1 {
		t.Fatalf("locator: %+v", hits)
	}
	// Filters hold for all three sources (vector, text, exact).
	q := app.SearchQuery{Text: "LH400", Vector: vectorOf("Flight LH400"), Model: testModel, From: "2026-11-26", To: "2026-11-30"}
	hits, err = s.Search(ctx, q)
	must(t, err)
	if len(hits) != 1 || hits[0].EntityKey != "LH400-2026-11-26" || hits[0].VectorRank != 1 || hits[0].TextRank != 1 {
		t.Fatalf("date filter: %+v", hits)
	}
	q = app.SearchQuery{Text: "LH400 hotel", Vector: vectorOf("Flight LH400"), Model: testModel, Airport: "MUC"}
	hits, err = s.Search(ctx, q)
	must(t, err)
	if len(hits) != 1 || hits[0].EntityKey != "LH900-2026-11-25" {
		t.Fatalf("airport filter: %+v", hits)
	}
	q = app.SearchQuery{Text: "LH400 hotel", Vector: vectorOf("Hotel"), Model: testModel, Kinds: []string{app.KindPolicy, app.KindBooking}}
	hits, err = s.Search(ctx, q)
	must(t, err)
	for _, h := range hits {
		if h.Kind != app.KindPolicy && h.Kind != app.KindBooking {
			t.Fatalf("kind filter: %+v", h)
		}
	}
	if len(hits) != 2 {
		t.Fatalf("kind filter: %d hits", len(hits))
	}
	// A query vector from a model nothing was indexed with finds nothing
	// by vector, and one of the wrong dimension is refused.
	q = app.SearchQuery{Text: "hotel", Vector: make([]float32, 4), Model: app.EmbedModel{Digest: "sha256:ffffffffffff", Dim: 4}}
	hits, err = s.Search(ctx, q)
	must(t, err)
	if len(hits) != 1 || hits[0].VectorRank != 0 {
		t.Fatalf("other model: %+v", hits)
	}
	_, err = s.Search(ctx, app.SearchQuery{Vector: make([]float32, 3), Model: testModel})
	if app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("wrong dimension: %v", err)
	}
	if _, err := s.Search(ctx, app.SearchQuery{}); app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("empty query: %v", err)
	}
	// Operators in user text are words, not FTS5 syntax.
	if _, err := s.Search(ctx, app.SearchQuery{Text: `hotel" OR NEAR( * -`}); err != nil {
		t.Fatalf("query syntax leaked into FTS5: %v", err)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func count(tb testing.TB, s *vectors.Store, q string, args ...any) int {
	tb.Helper()
	var n int
	if err := s.DB().QueryRow(q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestModelSwapFillsAShadowThenSwapsAtomically(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	b := &batcher{s: s, next: map[string]uint64{}}
	fl := func(off uint64, key, text string) app.EntityDocs {
		v := ver(off, t0)
		return app.EntityDocs{Kind: app.KindFlight, Key: key, Version: v, Docs: []app.Doc{doc(app.KindFlight, key, v, text, []string{"FRA"}, "2026-11-25")}}
	}
	must(t, b.apply(app.TopicFlights, fl(1, "A1-2026-11-25", "Flight A1"), fl(2, "B2-2026-11-25", "Flight B2")))
	if m, err := s.ActiveModel(ctx); err != nil || m.Digest != testModel.Digest {
		t.Fatalf("active = %+v, %v", m, err)
	}
	// A new model of another dimension: its own table, a shadow.
	next := app.EmbedModel{Name: "next:8d", Digest: "sha256:fedcba9876543210", Dim: 8}
	if _, err := s.MissingVectors(ctx, next.Digest, 10); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("missing vectors of an unknown model: %v", err)
	}
	if _, err := s.PutVectors(ctx, next, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateModel(ctx, next); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("activated an incomplete model: %v", err)
	}
	missing, err := s.MissingVectors(ctx, next.Digest, 10)
	must(t, err)
	if len(missing) != 2 {
		t.Fatalf("missing = %+v", missing)
	}
	eight := func(text string) []float32 { return append(vectorOf(text), 0, 0, 0, 0) }
	// One document changes meanwhile (the live stage writes with the old
	// model here): its old text's vector is not taken.
	must(t, b.apply(app.TopicFlights, fl(3, "A1-2026-11-25", "Flight A1 delayed")))
	n, err := s.PutVectors(ctx, next, []string{missing[0].DocID, missing[1].DocID}, map[string][]float32{
		missing[0].TextHash: eight(missing[0].Text), missing[1].TextHash: eight(missing[1].Text)})
	must(t, err)
	if n != 1 {
		t.Fatalf("stored %d vectors, want 1 (the other document changed)", n)
	}
	if err := s.ActivateModel(ctx, next); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("activated with a changed document missing: %v", err)
	}
	// The old model still serves.
	hits, err := s.Search(ctx, app.SearchQuery{Vector: vectorOf("Flight A1 delayed"), Model: testModel, K: 1})
	must(t, err)
	if len(hits) != 1 || hits[0].EntityKey != "A1-2026-11-25" {
		t.Fatalf("old model during the swap: %+v", hits)
	}
	missing, err = s.MissingVectors(ctx, next.Digest, 10)
	must(t, err)
	if len(missing) != 1 || missing[0].Text != "Flight A1 delayed" {
		t.Fatalf("missing = %+v", missing)
	}
	_, err = s.PutVectors(ctx, next, []string{missing[0].DocID}, map[string][]float32{missing[0].TextHash: eight(missing[0].Text)})
	must(t, err)
	must(t, s.ActivateModel(ctx, next))
	if m, _ := s.ActiveModel(ctx); m.Digest != next.Digest {
		t.Fatalf("active = %+v", m)
	}
	models, err := s.IndexModels(ctx)
	must(t, err)
	if len(models) != 2 || models[0].State != "retired" || models[1].State != "active" || models[1].Missing != 0 {
		t.Fatalf("models = %+v", models)
	}
	// Vectors never mix: a query of the old dimension against the new
	// model is refused, one of the new finds the document.
	if _, err := s.Search(ctx, app.SearchQuery{Vector: vectorOf("x"), Model: next}); app.ErrorCode(err) != app.EINVALID {
		t.Fatalf("4-d query against the 8-d model: %v", err)
	}
	hits, err = s.Search(ctx, app.SearchQuery{Vector: eight("Flight B2"), Model: next, K: 1})
	must(t, err)
	if len(hits) != 1 || hits[0].EntityKey != "B2-2026-11-25" || hits[0].VectorRank != 1 {
		t.Fatalf("new model: %+v", hits)
	}
}

// The vectors' position moves topic by topic: once every flight has its
// vector the flights are current, while the bookings still wait.
func TestEmbeddedPositionMovesTopicByTopic(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	b := &batcher{s: s, next: map[string]uint64{}}
	// An index with a model, then a burst written without vectors.
	v0 := ver(1, t0)
	must(t, b.apply(app.TopicDocuments, app.EntityDocs{Kind: app.KindPolicy, Key: "policy-care", Version: v0, Docs: []app.Doc{doc(app.KindPolicy, "policy-care", v0, "Hotel vouchers", nil, "")}}))
	textOnly := func(topic, kind, key, text string) {
		t.Helper()
		b.next[topic]++
		v := ver(b.next[topic], t0)
		must(t, s.ApplyDocs(ctx, app.IndexConsumer, topic, app.DocBatch{Model: testModel, TextOnly: true,
			Entities: []app.EntityDocs{{Kind: kind, Key: key, Version: v, Docs: []app.Doc{doc(kind, key, v, text, []string{"FRA"}, "2026-11-25")}}}}, b.next[topic], t0))
	}
	textOnly(app.TopicFlights, app.KindFlight, "LH400-2026-11-25", "Flight LH400 cancelled")
	textOnly(app.TopicBookings, app.KindBooking, "ABC123", "Booking ABC123 on LH400")
	position := func(topic string) uint64 {
		t.Helper()
		p, err := s.Position(ctx, app.EmbedConsumer, topic)
		must(t, err)
		return p
	}
	if done, err := s.MarkEmbedded(ctx); err != nil || done || position(app.TopicFlights) != 0 || position(app.TopicBookings) != 0 {
		t.Fatalf("before any vector: done %v err %v, flights at %d, bookings at %d", done, err, position(app.TopicFlights), position(app.TopicBookings))
	}
	missing, err := s.MissingVectors(ctx, testModel.Digest, 10)
	must(t, err)
	if len(missing) != 2 || missing[0].Kind != app.KindFlight {
		t.Fatalf("missing %+v, want the flight first", missing)
	}
	_, err = s.PutVectors(ctx, testModel, []string{missing[0].DocID}, map[string][]float32{missing[0].TextHash: vectorOf(missing[0].Text)})
	must(t, err)
	if done, err := s.MarkEmbedded(ctx); err != nil || done || position(app.TopicFlights) != 1 || position(app.TopicBookings) != 0 {
		t.Fatalf("flights embedded: done %v err %v, flights at %d (want 1), bookings at %d (want 0)", done, err, position(app.TopicFlights), position(app.TopicBookings))
	}
	_, err = s.PutVectors(ctx, testModel, []string{missing[1].DocID}, map[string][]float32{missing[1].TextHash: vectorOf(missing[1].Text)})
	must(t, err)
	if done, err := s.MarkEmbedded(ctx); err != nil || !done || position(app.TopicBookings) != 1 {
		t.Fatalf("all embedded: done %v err %v, bookings at %d", done, err, position(app.TopicBookings))
	}
}
