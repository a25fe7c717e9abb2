package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Document kinds of the search index.
const (
	KindFlight    = "flight"
	KindBooking   = "booking"
	KindPassenger = "passenger"
	KindPolicy    = "policy"
)

// KindProposal is what a citation of a rebooking proposal is; proposals
// are not in the search index.
const KindProposal = "proposal"

// IndexConsumer is the consumer name of the indexing stage: documents
// and their full text, which never wait for the embedding model.
const IndexConsumer = "index"

// EmbedConsumer names how far the vectors have followed: its position on
// a topic is the index's position at the last moment every document had a
// vector of the active model. It moves with the index while the model
// answers and stays behind while the model is away.
const EmbedConsumer = "embed"

// Embedder turns texts into vectors with one embedding model.
type Embedder interface {
	// Embed returns one vector per text, in order. Returns EUNAVAILABLE
	// when the model server cannot be reached, ENOTFOUND when the model
	// is missing.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the embedding model, its digest and its dimension.
	Model(ctx context.Context) (EmbedModel, error)
}

// EmbedModel identifies the model vectors came from. Vectors of different
// digests or dimensions are never compared with each other.
type EmbedModel struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
	Dim    int    `json:"dim"`
}

// Doc is one searchable text derived from one version of an entity.
type Doc struct {
	DocID     string    `json:"doc_id"`     // e.g. flight:LH400-2026-11-25, policy-care#2
	EntityKey string    `json:"entity_key"` // the log key of the entity
	Kind      string    `json:"kind"`
	Version   Version   `json:"version"`
	LogTime   time.Time `json:"log_time"`
	Airports  []string  `json:"airports,omitempty"` // IATA codes, for filters and boosts
	Date      string    `json:"date,omitempty"`     // YYYY-MM-DD, for filters
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	TextHash  string    `json:"text_hash"` // hex sha256 of Text
}

// EntityDocs is the complete set of documents of one entity version: it
// replaces every document the index holds for (Kind, Key). An empty Docs
// removes them (a cancelled booking, an erased passenger, a deleted policy).
type EntityDocs struct {
	Kind    string
	Key     string
	Version Version
	LogTime time.Time
	Docs    []Doc
	// People lists the passengers whose personal data the documents carry,
	// so that an erasure can find and re-derive them.
	People []string
	// Source is the record the documents were derived from (bookings only),
	// kept so that an erasure can re-derive them without the person.
	Source []byte
	// Erasure records that the passenger Key was erased: no document
	// stored afterwards may carry the person.
	Erasure bool
	// Expect, when set, applies the change only if the index holds exactly
	// this version of the entity (a re-derivation after an erasure);
	// otherwise ApplyDocs returns ECONFLICT.
	Expect *Version
}

// DocBatch is what one transaction of the embedding stage writes.
type DocBatch struct {
	Model    EmbedModel
	Entities []EntityDocs
	// Vectors holds the vector of every text hash of the batch's documents
	// that the index does not have cached for Model.
	Vectors map[string][]float32
	// TextOnly: the embedding model did not answer; documents whose vector
	// is neither in Vectors nor cached are written without one (Model may
	// then be zero), searchable by their text at once, and get their
	// vector from the catch-up (EmbedStage.SwapStep) when the model is back.
	TextOnly bool
}

// IndexedEntity is an entity the index holds documents of.
type IndexedEntity struct {
	Kind    string
	Key     string
	Version Version
	LogTime time.Time
	Source  []byte
}

// DocIndex is what the embedding stage needs from the index store.
type DocIndex interface {
	// Position returns the last log offset of topic applied by consumer.
	Position(ctx context.Context, consumer, topic string) (uint64, error)
	// CachedVectors returns the vectors cached for model digest of those
	// hashes it has.
	CachedVectors(ctx context.Context, digest string, hashes []string) (map[string][]float32, error)
	// ApplyDocs writes documents, full-text rows, vectors, the cache and
	// consumer's position on topic in one transaction. Entities whose
	// version is not newer than the stored one are skipped. Returns
	// ECONFLICT when an entity's Expect does not hold or when a document
	// would carry an erased passenger; the caller derives again.
	ApplyDocs(ctx context.Context, consumer, topic string, batch DocBatch, upto uint64, uptoTime time.Time) error
	// EntitiesOfPerson returns the entities whose documents carry passenger id.
	EntitiesOfPerson(ctx context.Context, id string) ([]IndexedEntity, error)
	// Erased returns those of ids that were erased.
	Erased(ctx context.Context, ids []string) (map[string]bool, error)
	ModelIndex
}

// IndexModel is an embedding model the index holds vectors of.
type IndexModel struct {
	EmbedModel
	State   string `json:"state"`   // active (queries use it), shadow (filling up), retired
	Missing int    `json:"missing"` // documents without a vector of this model
}

// ModelIndex is what a change of embedding model needs from the index: the
// new model's vectors fill a shadow table while the active one serves,
// then the new one becomes active in one transaction.
type ModelIndex interface {
	// ActiveModel returns the model queries use; ENOTFOUND before any.
	ActiveModel(ctx context.Context) (EmbedModel, error)
	// MissingVectors returns up to limit documents without a vector of
	// model digest.
	MissingVectors(ctx context.Context, digest string, limit int) ([]Doc, error)
	// PutVectors stores vectors (by text hash) of m for those of the
	// documents that still lack one; returns how many were stored.
	PutVectors(ctx context.Context, m EmbedModel, docIDs []string, vectors map[string][]float32) (int, error)
	// ActivateModel makes m the active model if no document lacks its
	// vector (ECONFLICT otherwise) and retires the one before.
	ActivateModel(ctx context.Context, m EmbedModel) error
	// MarkEmbedded moves EmbedConsumer's position on each topic none of
	// whose documents lacks a vector of the active model to
	// IndexConsumer's, in one transaction; done is true when no document
	// lacks one.
	MarkEmbedded(ctx context.Context) (done bool, err error)
}

// SearchQuery is a hybrid search. Filters apply inside both the vector and
// the full-text query.
type SearchQuery struct {
	Text    string
	K       int      // results wanted, default 10
	Kinds   []string // empty: every kind
	Airport string   // IATA code
	From    string   // YYYY-MM-DD, inclusive
	To      string   // YYYY-MM-DD, inclusive
	// Vector is the query's embedding and Model the model it came from;
	// without a vector only full text and exact matches are used.
	Vector []float32
	Model  EmbedModel
}

// SearchHit is one result with the parts of its score and the log
// position it reflects.
type SearchHit struct {
	DocID     string    `json:"doc_id"`
	EntityKey string    `json:"entity_key"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Airports  []string  `json:"airports,omitempty"`
	Date      string    `json:"date,omitempty"`
	Version   Version   `json:"version"`
	Topic     string    `json:"topic"`
	LogTime   time.Time `json:"log_time"`
	Age       float64   `json:"age_seconds"`

	Score          float64 `json:"score"`
	VectorRank     int     `json:"vector_rank,omitempty"` // 1-based; 0: not among the vector results
	VectorDistance float64 `json:"vector_distance,omitempty"`
	TextRank       int     `json:"text_rank,omitempty"`
	BM25           float64 `json:"bm25,omitempty"`
	Boost          float64 `json:"boost,omitempty"`
	Exact          string  `json:"exact,omitempty"` // the identifier of the query the hit matched exactly
}

// TopicOfKind returns the topic that carries the entities of a doc kind.
func TopicOfKind(kind string) string {
	switch kind {
	case KindFlight:
		return TopicFlights
	case KindBooking:
		return TopicBookings
	case KindPassenger:
		return TopicPassengers
	case KindPolicy:
		return TopicDocuments
	}
	return ""
}

// Searcher is what a search needs from the index.
type Searcher interface {
	Search(ctx context.Context, q SearchQuery) ([]SearchHit, error)
}

// Retriever embeds a query and runs the hybrid search. The query is
// embedded with the model the index serves (during a change of model, the
// old one until the new one is complete). When that fails it still
// answers from full text and exact matches and says so with degraded.
type Retriever struct {
	Embedder Embedder
	Index    Searcher
	// People finds passengers by name in the state store: the index's
	// passenger documents carry no name (decision 0008), so a name
	// query reaches the person here (nil: no name lookup).
	People PeopleFinder

	mu    sync.Mutex
	cache map[string][]float32 // query vectors by model digest and text
}

// ModelSwitcher is an embedder that can embed with another model of the
// same server.
type ModelSwitcher interface {
	WithModel(name string) Embedder
}

// Search embeds q.Text and searches. degraded is true when the vector part
// was left out.
func (r *Retriever) Search(ctx context.Context, q SearchQuery) (hits []SearchHit, degraded bool, err error) {
	if q.Vector == nil && q.Text != "" && r.Embedder != nil {
		q.Vector, q.Model = r.embedQuery(ctx, q.Text)
		degraded = q.Vector == nil
	}
	hits, err = r.Index.Search(ctx, q)
	if err != nil {
		return nil, degraded, err
	}
	people, err := r.peopleNamed(ctx, q)
	if err != nil {
		return nil, degraded, err
	}
	return mergePeople(people, hits, q.K), degraded, nil
}

// PeopleFinder looks passengers up by name prefix or id in the state.
type PeopleFinder interface {
	FindPassengers(ctx context.Context, q string, limit int) ([]*PassengerRecord, error)
}

// peopleNamed returns the passengers whose name the whole query starts
// (or whose id it is), as hits built from the state: a name is never in
// the index, so the hit's text is made here.
func (r *Retriever) peopleNamed(ctx context.Context, q SearchQuery) ([]SearchHit, error) {
	text := strings.TrimSpace(q.Text)
	if r.People == nil || len(text) < 2 || (len(q.Kinds) > 0 && !slices.Contains(q.Kinds, KindPassenger)) {
		return nil, nil
	}
	ps, err := r.People.FindPassengers(ctx, text, max(q.K, 10))
	if err != nil {
		return nil, fmt.Errorf("passengers named %q: %w", text, err)
	}
	out := make([]SearchHit, 0, len(ps))
	for _, p := range ps {
		d := PassengerDoc(p.ID, &p.Passenger)
		out = append(out, SearchHit{DocID: d.DocID, EntityKey: p.ID, Kind: KindPassenger, Title: "Passenger " + p.Name,
			Text: "Passenger " + p.Name + ", id " + strings.TrimPrefix(d.Text, "Passenger id "), Version: p.Version, Topic: TopicPassengers,
			Score: 1, Boost: 1, Exact: text})
	}
	return out, nil
}

// mergePeople puts the people found by name first, then the index's
// hits without their documents, k in all.
func mergePeople(people, hits []SearchHit, k int) []SearchHit {
	if len(people) == 0 {
		return hits
	}
	seen := map[string]bool{}
	for _, p := range people {
		seen[p.DocID] = true
	}
	out := people
	for _, h := range hits {
		if !seen[h.DocID] {
			out = append(out, h)
		}
	}
	if k > 0 && len(out) > k {
		out = out[:k]
	}
	return out
}

func (r *Retriever) embedQuery(ctx context.Context, text string) ([]float32, EmbedModel) {
	emb := r.Embedder
	m, err := emb.Model(ctx)
	if err != nil {
		return nil, m
	}
	if mi, ok := r.Index.(interface {
		ActiveModel(context.Context) (EmbedModel, error)
	}); ok {
		active, err := mi.ActiveModel(ctx)
		if err == nil && active.Digest != m.Digest {
			sw, ok := emb.(ModelSwitcher)
			if !ok {
				return nil, m
			}
			emb = sw.WithModel(active.Name)
			if m, err = emb.Model(ctx); err != nil || m.Digest != active.Digest {
				return nil, m
			}
		}
	}
	key := m.Digest + "\x00" + text
	r.mu.Lock()
	v, ok := r.cache[key]
	r.mu.Unlock()
	if ok {
		return v, m
	}
	vs, err := emb.Embed(ctx, []string{text})
	if err != nil || len(vs) != 1 {
		return nil, m
	}
	r.mu.Lock()
	if r.cache == nil || len(r.cache) >= 1024 {
		r.cache = map[string][]float32{} // staff repeat questions; a bounded cache is enough
	}
	r.cache[key] = vs[0]
	r.mu.Unlock()
	return vs[0], m
}
