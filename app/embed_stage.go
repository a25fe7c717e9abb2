package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// EmbedStage keeps the search index in step with the state topics: one
// loop per topic reads from the index's own position, decodes entries the
// way the materialiser does, derives the documents of each entity version,
// embeds the texts the cache does not hold, and writes documents, vectors
// and the position in one transaction. The full text never waits for the
// model: when the embedder does not answer, the batch is written without
// the vectors it lacks (DocBatch.TextOnly), so exact and keyword matches
// stay current, and a catch-up loop fills the vectors when the embedder is
// back. EmbedConsumer's position says how far the vectors are.
type EmbedStage struct {
	Log      Log
	Index    DocIndex
	Embedder Embedder
	// Backfill, when set, embeds for the catch-up (bursts, the vectors
	// missed while the model was away, a model change), so that it can
	// run below fresh changes; Embedder otherwise.
	Backfill  Embedder
	Validator *Validator
	// Trusted reports whether an entry was validated when this node
	// appended it (see Materializer.Trusted).
	Trusted   func(le LogEntry) bool
	Logger    *slog.Logger
	Topics    []string
	BatchSize int // log entries per transaction, default 256
	// EmbedChunk is how many texts go to the embedder at once, default
	// 128; each chunk's vectors survive a failure of a later chunk.
	EmbedChunk int
	// Inline is how many new texts a batch may have for them to be
	// embedded before it commits, default 32. A batch with more (a burst:
	// the day's bookings at once, a replay) commits its documents and full
	// text at once with the vectors the cache has, and the catch-up embeds
	// the rest, so
	// the index never falls behind the log by the model's speed; the
	// embedding position says how far the vectors are. Negative: every
	// text before the batch commits (a rebuild that wants it complete).
	Inline int
	// Backoff bounds the waits after a failure (embedder down, say).
	MinBackoff, MaxBackoff time.Duration
	// OnApplied is called after each committed batch (metrics, live views).
	OnApplied func(topic string, offset uint64, stats EmbedStats)

	decoder *Materializer
	// pending holds vectors computed for a batch that has not committed
	// yet, by model digest and text hash: when a later call of the same
	// batch fails (the model server stopped), the retry does not compute
	// them again.
	mu      sync.Mutex
	pending map[string][]float32
	// inflight marks the texts being embedded, by model digest and text
	// hash; the channel closes when they are done (see claim).
	inflight map[string]chan struct{}
	// kick wakes the catch-up loop after a batch went in without vectors.
	kick chan struct{}
	// textOnly is set while batches go in without vectors, so that the
	// change is logged once each way.
	textOnly atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// EmbedStats describes one committed batch.
type EmbedStats struct {
	Entries  int // log entries consumed
	Entities int // entity versions written (after collapsing repeats)
	Docs     int // documents in them
	Cached   int // texts whose vector came from the cache
	Embedded int // texts sent to the embedder
	EmbedDur time.Duration
}

// Open starts one loop per topic, and one that moves the index over to
// the embedder's model when the index serves another (see SwapStep).
func (s *EmbedStage) Open() error {
	if s.Log == nil || s.Index == nil || s.Embedder == nil {
		return Errorf(EINVALID, "embedding stage needs a log, an index and an embedder")
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.Logger = s.Logger.With("subsystem", "embedder")
	if s.Validator == nil {
		s.Validator = DefaultValidator()
	}
	if len(s.Topics) == 0 {
		s.Topics = StateTopics
	}
	if s.BatchSize <= 0 {
		s.BatchSize = 256
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = 200 * time.Millisecond
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 5 * time.Second
	}
	// Decoding is the materialiser's: same validation, same state changes.
	s.decoder = &Materializer{Validator: s.Validator, Trusted: s.Trusted}
	s.kick = make(chan struct{}, 1)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, t := range s.Topics {
		s.wg.Add(1)
		go s.run(t)
	}
	s.wg.Add(1)
	go s.runSwap()
	return nil
}

// Close stops the loops after their current batch.
func (s *EmbedStage) Close(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	return waitGroup(ctx, &s.wg)
}

func (s *EmbedStage) run(topic string) {
	defer s.wg.Done()
	f := &follower{
		stage: "embedding stage", topic: topic, log: s.Log, logger: s.Logger, batch: s.BatchSize,
		minBackoff: s.MinBackoff, maxBackoff: s.MaxBackoff,
		start: func(ctx context.Context) (uint64, error) {
			pos, err := s.Index.Position(ctx, IndexConsumer, topic)
			if err != nil {
				return 0, fmt.Errorf("position: %w", err)
			}
			return pos, nil
		},
		// Cancelling mid-batch (shutdown) is safe: the batch commits in one
		// transaction at its end or not at all, and embeddings take long.
		handle: func(ctx context.Context, entries []LogEntry) error {
			// A model that does not answer leaves the model zero: the
			// batch goes in as text.
			model, err := s.Embedder.Model(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				s.noteTextOnly(err)
				model = EmbedModel{}
			}
			return s.ApplyEntries(ctx, topic, model, entries)
		},
	}
	f.run(s.ctx)
}

func (s *EmbedStage) backfill() Embedder {
	if s.Backfill != nil {
		return s.Backfill
	}
	return s.Embedder
}

func (s *EmbedStage) inline() int {
	if s.Inline == 0 {
		return 32
	}
	return s.Inline
}

// noteTextOnly logs, once until vectors flow again, that batches go in
// without them.
func (s *EmbedStage) noteTextOnly(reason error) {
	if !s.textOnly.Swap(true) {
		s.Logger.Warn("embedding model unavailable: indexing text only, vectors follow when it is back", "reason", ErrorMessage(reason))
	}
}

// wake tells the catch-up loop that vectors are missing.
func (s *EmbedStage) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// ApplyEntries indexes one batch of entries of topic with model and moves
// the index position to the last of them. Entries that do not decode are
// skipped (the materialiser dead-letters them). With a zero model, or
// when the embedder fails, the documents go in with the vectors at hand
// and the catch-up fills the rest; only a cancelled ctx returns the
// embedder's error without moving the position.
func (s *EmbedStage) ApplyEntries(ctx context.Context, topic string, model EmbedModel, entries []LogEntry) error {
	changes := s.decodeAll(topic, entries)
	last := entries[len(entries)-1]
	b := &embedBatch{model: model, vectors: map[string][]float32{}, textOnly: model.Digest == ""}
	// A conflict means another topic's loop committed something this
	// batch's derivation did not see (an erasure, say): derive again,
	// keeping the vectors already computed.
	for attempt := 0; ; attempt++ {
		ents, err := s.derive(ctx, changes)
		if err != nil {
			return err
		}
		b.stats = EmbedStats{Entries: len(entries), Entities: len(ents)}
		texts, err := s.vectorsFor(ctx, topic, b, ents)
		if err != nil {
			return err
		}
		batch := DocBatch{Model: model, Entities: ents, Vectors: b.vectors, TextOnly: b.textOnly || b.partial}
		err = s.Index.ApplyDocs(ctx, IndexConsumer, topic, batch, last.Offset, last.Stored)
		if err == nil {
			s.forget(model, texts)
		}
		if ErrorCode(err) == ECONFLICT && attempt < 5 {
			s.Logger.Debug("index batch derived again", "topic", topic, "reason", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("index %s up to %d: %w", topic, last.Offset, err)
		}
		break
	}
	if (b.textOnly || b.partial) && b.stats.Docs > 0 {
		s.wake()
	} else if !b.textOnly && s.textOnly.Swap(false) {
		s.Logger.Info("embedding model answers again: indexing with vectors")
	}
	if s.OnApplied != nil {
		s.OnApplied(topic, last.Offset, b.stats)
	}
	return nil
}

// decodeAll decodes entries the way the materialiser does, skipping those
// that do not decode (the materialiser dead-letters them), and collapses
// repeated versions of an entity.
func (s *EmbedStage) decodeAll(topic string, entries []LogEntry) []StateChange {
	dec := s.decoder
	if dec == nil {
		dec = &Materializer{Validator: s.Validator, Trusted: s.Trusted}
	}
	changes := make([]StateChange, 0, len(entries))
	for _, le := range entries {
		if ch, err := dec.Decode(topic, le); err == nil {
			changes = append(changes, ch)
		}
	}
	return CollapseChanges(changes)
}

// embedBatch is what ApplyEntries knows of one batch's vectors across
// its attempts.
type embedBatch struct {
	model    EmbedModel
	vectors  map[string][]float32 // by text hash, kept across attempts
	stats    EmbedStats
	textOnly bool // no model, or it failed: documents go in without vectors
	partial  bool // more new texts than Inline: the catch-up has the rest
}

// vectorsFor fills b.vectors for the documents of ents: from the cache,
// then up to Inline texts from the embedder. It returns the batch's texts
// by hash.
func (s *EmbedStage) vectorsFor(ctx context.Context, topic string, b *embedBatch, ents []EntityDocs) (map[string]string, error) {
	var hashes []string
	texts := map[string]string{}
	for _, e := range ents {
		for _, d := range e.Docs {
			b.stats.Docs++
			if _, ok := texts[d.TextHash]; !ok {
				texts[d.TextHash] = d.Text
				if _, have := b.vectors[d.TextHash]; !have {
					hashes = append(hashes, d.TextHash)
				}
			}
		}
	}
	if b.textOnly {
		return texts, nil
	}
	cached, err := s.Index.CachedVectors(ctx, b.model.Digest, hashes)
	if err != nil {
		return nil, err
	}
	b.stats.Cached = len(cached)
	todo := slices.DeleteFunc(hashes, func(h string) bool { _, ok := cached[h]; return ok })
	if inline := s.inline(); inline >= 0 && len(todo) > inline {
		// A burst: none of it waits for the model (the catch-up embeds it
		// in order), so the index stays at the log's pace.
		todo, b.partial = nil, true
	}
	if len(todo) == 0 {
		return texts, nil
	}
	start := time.Now()
	vs, n, err := s.embed(ctx, s.Embedder, b.model, todo, texts)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("embed %d texts of %s: %w", len(todo), topic, err)
	} else if errors.Is(err, ErrModelBusy) {
		// The model is taken (a question, a long chunk): the text does not
		// wait for it; the catch-up embeds what is missing.
		b.partial = true
	} else if err != nil {
		// The text goes in now, with the vectors computed so far (kept in
		// pending); the catch-up embeds the rest.
		s.noteTextOnly(err)
		b.textOnly = true
	}
	b.stats.Embedded, b.stats.EmbedDur = n, time.Since(start)
	for h, v := range vs {
		b.vectors[h] = v
	}
	return texts, nil
}

// derive turns changes into entity documents. An erasure brings along
// every indexed entity that carried the person, derived again without them.
func (s *EmbedStage) derive(ctx context.Context, changes []StateChange) ([]EntityDocs, error) {
	var people []string
	for _, ch := range changes {
		switch {
		case ch.Booking != nil:
			for _, p := range ch.Booking.Passengers {
				people = append(people, p.ID)
			}
		case ch.Passenger != nil:
			people = append(people, ch.Key)
		}
	}
	erased, err := s.Index.Erased(ctx, people)
	if err != nil {
		return nil, err
	}
	if erased == nil {
		erased = map[string]bool{}
	}
	out := make([]EntityDocs, 0, len(changes))
	for _, ch := range changes {
		if ch.Type == TypePassengerErased {
			erased[ch.Key] = true
		}
		ed, err := DeriveDocs(ch, erased)
		if err != nil {
			continue
		}
		out = append(out, ed)
		if ch.Type != TypePassengerErased {
			continue
		}
		carriers, err := s.Index.EntitiesOfPerson(ctx, ch.Key)
		if err != nil {
			return nil, err
		}
		for _, c := range carriers {
			if c.Kind != KindBooking || len(c.Source) == 0 {
				continue
			}
			var b Booking
			if err := json.Unmarshal(c.Source, &b); err != nil {
				return nil, fmt.Errorf("indexed booking %s: %w", c.Key, err)
			}
			red, err := DeriveDocs(StateChange{Type: TypeBookingChanged, Key: c.Key, Version: c.Version, LogTime: c.LogTime, Booking: &b}, erased)
			if err != nil {
				return nil, err
			}
			v := c.Version
			red.Expect = &v
			out = append(out, red)
		}
	}
	return out, nil
}

// CollapseChanges keeps, of several changes of one entity in a batch, only
// the newest (by Version.Newer), in the place of the last of them: the
// documents of the older versions would be replaced in the same
// transaction anyway, so embedding them is waste. Erasures are always kept.
func CollapseChanges(changes []StateChange) []StateChange {
	type key struct{ kind, key string }
	kindOf := func(ch StateChange) string {
		switch {
		case ch.Flight != nil:
			return KindFlight
		case ch.Booking != nil:
			return KindBooking
		case ch.Passenger != nil:
			return KindPassenger
		case ch.Document != nil:
			return KindPolicy
		}
		return ""
	}
	newest := map[key]int{}
	lastAt := map[key]int{}
	for i, ch := range changes {
		if ch.Type == TypePassengerErased {
			continue
		}
		k := key{kindOf(ch), ch.Key}
		if j, ok := newest[k]; !ok || ch.Version.Newer(changes[j].Version) {
			newest[k] = i
		}
		lastAt[k] = i
	}
	out := make([]StateChange, 0, len(newest))
	for i, ch := range changes {
		if ch.Type == TypePassengerErased {
			out = append(out, ch)
			continue
		}
		k := key{kindOf(ch), ch.Key}
		if lastAt[k] == i {
			out = append(out, changes[newest[k]])
		}
	}
	return out
}

// runSwap keeps the vectors complete: it fills the vectors that batches
// written while the model was away left out, and brings the index over
// to the stage's embedding model when the index serves another one
// (documents without a vector of the new model are embedded into its
// shadow table while the old model keeps serving, then the new model
// becomes active in one transaction; live changes go to the new table
// directly, so the backfill converges). Once complete it waits for a
// text-only batch, or a while, and looks again.
func (s *EmbedStage) runSwap() {
	defer s.wg.Done()
	r := newRetrier(s.Logger, "vector catch-up", s.MinBackoff, s.MaxBackoff)
	for s.ctx.Err() == nil {
		done, err := s.SwapStep(context.WithoutCancel(s.ctx))
		if err != nil {
			r.failed(s.ctx, err)
			continue
		}
		r.ok()
		if !done {
			continue
		}
		select {
		case <-s.ctx.Done():
		case <-s.kick:
		case <-time.After(30 * time.Second):
		}
	}
}

// SwapStep does one round of the catch-up: it embeds up to BatchSize
// documents that lack a vector of the embedder's model, or, when none
// lacks one, makes that model active and moves EmbedConsumer up to the
// index's position. done is true once the embedder's model is the active
// one and every document has its vector.
func (s *EmbedStage) SwapStep(ctx context.Context) (done bool, err error) {
	model, err := s.Embedder.Model(ctx)
	if err != nil {
		return false, err
	}
	active, err := s.Index.ActiveModel(ctx)
	noActive := ErrorCode(err) == ENOTFOUND
	if err != nil && !noActive {
		return false, err
	}
	batch := s.BatchSize
	if batch <= 0 {
		batch = 256
	}
	docs, err := s.Index.MissingVectors(ctx, model.Digest, batch)
	if ErrorCode(err) == ENOTFOUND {
		// Create the model's table (a shadow when another model serves);
		// the next round fills it.
		if !noActive {
			s.Logger.Info("embedding model changed: filling a shadow table", "from", active.Name, "to", model.Name, "digest", model.Digest)
		}
		_, err = s.Index.PutVectors(ctx, model, nil, nil)
		return false, err
	} else if err != nil {
		return false, err
	}
	if len(docs) == 0 {
		if !noActive && active.Digest != model.Digest {
			err := s.Index.ActivateModel(ctx, model)
			if ErrorCode(err) == ECONFLICT {
				return false, nil // documents arrived meanwhile
			} else if err != nil {
				return false, err
			}
			s.Logger.Info("embedding model swapped", "from", active.Name, "to", model.Name)
		}
		return s.Index.MarkEmbedded(ctx)
	}
	ids := make([]string, len(docs))
	texts := map[string]string{}
	var hashes []string
	for i, d := range docs {
		ids[i] = d.DocID
		if _, ok := texts[d.TextHash]; !ok {
			texts[d.TextHash] = d.Text
			hashes = append(hashes, d.TextHash)
		}
	}
	vectors, err := s.Index.CachedVectors(ctx, model.Digest, hashes)
	if err != nil {
		return false, err
	}
	var todo []string
	for _, h := range hashes {
		if _, ok := vectors[h]; !ok {
			todo = append(todo, h)
		}
	}
	if len(todo) > 0 {
		vs, _, err := s.embed(ctx, s.backfill(), model, todo, texts)
		if err != nil {
			return false, fmt.Errorf("embed %d texts for %s: %w", len(todo), model.Name, err)
		}
		for h, v := range vs {
			vectors[h] = v
		}
	}
	if _, err := s.Index.PutVectors(ctx, model, ids, vectors); err != nil {
		return false, err
	}
	s.forget(model, texts)
	if !noActive && active.Digest == model.Digest {
		// A topic whose documents all have their vectors is current
		// now, not when the last booking of the backlog is embedded.
		if _, err := s.Index.MarkEmbedded(ctx); err != nil {
			return false, err
		}
	}
	return false, nil
}

// maxPending bounds the vectors kept for uncommitted batches.
const maxPending = 20000

// embed returns the vectors of the texts of hashes, asking emb in chunks
// and remembering each chunk's vectors until forget, so a retry after a
// failure computes only what is still missing. The topics' loops and the
// catch-up run concurrently: a text another of them is embedding is
// waited for, not embedded twice. n counts the texts sent to emb.
func (s *EmbedStage) embed(ctx context.Context, emb Embedder, model EmbedModel, hashes []string, texts map[string]string) (map[string][]float32, int, error) {
	out := make(map[string][]float32, len(hashes))
	chunk := s.EmbedChunk
	if chunk <= 0 {
		chunk = 128
	}
	n := 0
	for lo := 0; lo < len(hashes); lo += chunk {
		k, err := s.embedChunk(ctx, emb, model, hashes[lo:min(lo+chunk, len(hashes))], texts, out)
		n += k
		if err != nil {
			return out, n, err // the chunks before stay usable
		}
	}
	return out, n, nil
}

// embedChunk puts the vectors of part into out: those computed already,
// those another loop is computing (waited for), and the rest from emb.
func (s *EmbedStage) embedChunk(ctx context.Context, emb Embedder, model EmbedModel, part []string, texts map[string]string, out map[string][]float32) (int, error) {
	n := 0
	for len(part) > 0 {
		mine, others := s.claim(model, part, out)
		k, err := s.embedClaimed(ctx, emb, model, mine, texts, out)
		n += k
		if err != nil {
			return n, err
		}
		// What another loop was computing: taken from pending, or, if that
		// loop failed, claimed again.
		part = nil
		for h, done := range others {
			select {
			case <-done:
			case <-ctx.Done():
				return n, ctx.Err()
			}
			s.mu.Lock()
			v, ok := s.pending[model.Digest+"/"+h]
			s.mu.Unlock()
			if ok {
				out[h] = v
			} else {
				part = append(part, h)
			}
		}
	}
	return n, nil
}

// claim sorts part into vectors already pending (put into out), texts
// this call must compute (claimed: others wait for them) and texts
// another call is computing (with the channel closed when it is done).
func (s *EmbedStage) claim(model EmbedModel, part []string, out map[string][]float32) (mine []string, others map[string]chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		s.pending, s.inflight = map[string][]float32{}, map[string]chan struct{}{}
	}
	for _, h := range part {
		key := model.Digest + "/" + h
		if v, ok := s.pending[key]; ok {
			out[h] = v
		} else if done, ok := s.inflight[key]; ok {
			if others == nil {
				others = map[string]chan struct{}{}
			}
			others[h] = done
		} else {
			s.inflight[key] = make(chan struct{})
			mine = append(mine, h)
		}
	}
	return mine, others
}

// embedClaimed computes the vectors of the claimed texts (the cache
// first: a batch may have committed them meanwhile), records them as
// pending and releases the claims, whatever the outcome.
func (s *EmbedStage) embedClaimed(ctx context.Context, emb Embedder, model EmbedModel, mine []string, texts map[string]string, out map[string][]float32) (int, error) {
	if len(mine) == 0 {
		return 0, nil
	}
	got := map[string][]float32{}
	defer func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.pending)+len(got) > maxPending {
			clear(s.pending)
		}
		for _, h := range mine {
			key := model.Digest + "/" + h
			if v, ok := got[h]; ok {
				out[h] = v
				s.pending[key] = v
			}
			close(s.inflight[key])
			delete(s.inflight, key)
		}
	}()
	todo := mine
	if s.Index != nil {
		cached, err := s.Index.CachedVectors(ctx, model.Digest, mine)
		if err != nil {
			return 0, err
		}
		todo = nil
		for _, h := range mine {
			if v, ok := cached[h]; ok {
				got[h] = v
			} else {
				todo = append(todo, h)
			}
		}
	}
	if len(todo) == 0 {
		return 0, nil
	}
	inputs := make([]string, len(todo))
	for i, h := range todo {
		inputs[i] = texts[h]
	}
	vs, err := emb.Embed(ctx, inputs)
	if err != nil {
		return 0, err
	}
	if len(vs) != len(todo) {
		return 0, Errorf(EINTERNAL, "embedder returned %d vectors for %d texts", len(vs), len(todo))
	}
	for i, h := range todo {
		got[h] = vs[i]
	}
	return len(todo), nil
}

// forget drops the pending vectors of committed texts.
func (s *EmbedStage) forget(model EmbedModel, texts map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range texts {
		delete(s.pending, model.Digest+"/"+h)
	}
}
