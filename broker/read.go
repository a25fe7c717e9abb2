package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reader reads one topic in offset order from a start offset. Its position
// lives with the caller (the state store keeps it in the same transaction
// as the state it produced), which is what makes replay exact.
//
// It keeps one ephemeral pull consumer (in memory, one replica, no acks)
// for its life. An ordered consumer recreates its consumer for every
// fetch, and a stage's read is up to three fetches: for a stage keeping
// up with single-event ingest that was about 850 µs of CPU per event,
// more than the append itself (BenchmarkReader). A reader that sees its
// consumer go (deleted, its server gone, heartbeats missing, a gap in
// delivery) fails, and the stage reads again from its stored position
// with a new reader, as it does after any error.
//
// Entries this node committed itself come from its tail in memory when
// it holds them, which saves their delivery through the consumer
// (decision 0031); they are the same entries, log time included.
type Reader struct {
	b     *Broker
	topic string
	cons  jetstream.Consumer
	// consMu guards cons, which resync replaces, and closed, against
	// Close.
	consMu sync.Mutex
	closed bool
	// delivered is the consumer sequence of the last entry returned; the
	// next must follow it, or something was lost in between.
	delivered uint64
	// atHead: the last read returned less than it asked for.
	atHead bool
	// abandoned is set when a Next gave up on its fetch (its ctx ended, or
	// the fetch stalled), or found a gap; the fetch may still be running,
	// so the reader is not used again.
	abandoned bool
	// read fetches for Next: r.next, or a stand-in in a unit test.
	read func(max int, wait time.Duration) ([]app.LogEntry, error)
	// tail holds this node's latest commits on the topic (nil in a
	// cluster); pos is the offset the next entry is at or after.
	tail *tail
	pos  uint64
	// skipped: entries came from the tail since the consumer last
	// delivered, so it is moved to pos before it fetches again.
	skipped bool
	// fromTailN counts the entries taken from the tail.
	fromTailN int
}

// NewReader returns a reader positioned at offset from (1 = the beginning).
func (b *Broker) NewReader(ctx context.Context, topic string, from uint64) (app.LogReader, error) {
	r, err := b.newReader(ctx, topic, from, true)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// newReader is NewReader, with or without the topic's tail.
func (b *Broker) newReader(ctx context.Context, topic string, from uint64, withTail bool) (*Reader, error) {
	if !app.IsTopic(topic) {
		return nil, app.Errorf(app.ENOTFOUND, "topic %q does not exist", topic)
	}
	if from < 1 {
		from = 1
	}
	cons, err := b.newReaderConsumer(ctx, topic, from)
	if err != nil {
		return nil, fmt.Errorf("reader %s@%d: %w", topic, from, err)
	}
	r := &Reader{b: b, topic: topic, cons: cons, pos: from}
	if withTail {
		r.tail = b.readerTail(topic)
	}
	r.read = r.next
	return r, nil
}

func (b *Broker) newReaderConsumer(ctx context.Context, topic string, from uint64) (jetstream.Consumer, error) {
	return b.js.CreateConsumer(ctx, topic, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       from,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 5 * time.Minute,
	})
}

// Next returns up to max entries, waiting up to wait for the first one. It
// returns whatever is available as soon as something is, and an empty
// slice, not an error, when nothing arrived in time.
//
// A fetch takes no context, and one whose server is lost may wait out
// timeouts well past its own wait (half a minute, measured after a
// SIGKILL with the ordered consumer used before): Next returns ctx's
// error as soon as ctx ends, so a node that closes does not wait for it,
// and an error once the fetch has taken stallGrace longer than wait, so
// that the caller reads again from its stored position with a new
// reader, which finds the new leader. Either way the reader is done.
func (r *Reader) Next(ctx context.Context, max int, wait time.Duration) ([]app.LogEntry, error) {
	if r.abandoned {
		return nil, fmt.Errorf("read %s: the reader gave up on a fetch that did not answer", r.topic)
	}
	type result struct {
		out []app.LogEntry
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := r.read(max, wait)
		done <- result{out, err}
	}()
	stalled := time.NewTimer(wait + stallGrace)
	defer stalled.Stop()
	select {
	case res := <-done:
		if res.err != nil {
			r.abandoned = true
		}
		return res.out, res.err
	case <-ctx.Done():
		r.abandoned = true
		return nil, ctx.Err()
	case <-stalled.C:
		r.abandoned = true
		return nil, app.Errorf(app.EUNAVAILABLE, "read %s: the log did not answer a fetch within %s (its leader may be changing); reading again from the stored position", r.topic, wait+stallGrace)
	}
}

// stallGrace is how much longer than its wait a fetch may take before
// the reader gives it up. A healthy fetch answers within its wait.
const stallGrace = 4 * time.Second

// tailWait bounds a reader's wait for a group on its way to the log (a
// commit takes milliseconds). A read waits for at most two, and for the
// consumer's reset (tailWait) or a new consumer (2 tailWait): well inside
// stallGrace.
const tailWait = 500 * time.Millisecond

// next takes what is there; if nothing is, waits for one entry, then
// takes what came with it. A reader whose last read did not fill max is
// at the head, and starts with the wait. The wait asks the server for
// heartbeats, so a consumer whose server stopped answering (a node
// stopped or cut off) fails the fetch instead of looking like a quiet
// topic.
//
// Entries this node committed are taken from its tail when it holds the
// reader's next offset; the consumer delivers the rest, and the first
// entry of each new group, whose end then comes from the tail (decision
// 0031).
func (r *Reader) next(max int, wait time.Duration) (out []app.LogEntry, err error) {
	defer func() {
		r.atHead = len(out) < max
		if len(out) > 0 {
			r.pos = out[len(out)-1].Offset + 1
		}
	}()
	// Only a reader at the head waits for a group on its way: one
	// catching up has the log to read meanwhile.
	if out = r.fromTail(max, r.atHead); len(out) > 0 {
		return out, nil
	}
	if err := r.resync(); err != nil {
		return nil, err
	}
	if !r.atHead {
		out, err = r.fetch(r.cons.FetchNoWait(max))
		if err != nil || len(out) > 0 {
			return out, err
		}
	}
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(wait)}
	// As long as the client allows (under half the wait): it fails the
	// fetch after two missed, and a busy box must not look like a lost
	// server.
	if hb := wait * 2 / 5; hb >= 100*time.Millisecond {
		opts = append(opts, jetstream.FetchHeartbeat(hb))
	}
	out, err = r.fetch(r.cons.Fetch(1, opts...))
	if err != nil || len(out) == 0 || max == 1 {
		return out, err
	}
	r.pos = out[0].Offset + 1
	if more := r.fromTail(max-1, true); len(more) > 0 {
		return append(out, more...), nil
	}
	more, err := r.fetch(r.cons.FetchNoWait(max - 1))
	return append(out, more...), err
}

// fromTail takes up to max entries from r.pos on from the tail; with
// await, it first waits (at most tailWait) for a group still on its way
// to the log.
func (r *Reader) fromTail(max int, await bool) []app.LogEntry {
	if r.tail == nil {
		return nil
	}
	if await {
		r.tail.await(r.pos, tailWait)
	}
	out := r.tail.from(r.pos, max)
	if len(out) > 0 {
		r.skipped = true
		r.fromTailN += len(out)
	}
	return out
}

// resync moves the consumer to r.pos after entries came from the tail,
// so that it delivers from there.
func (r *Reader) resync() error {
	if !r.skipped {
		return nil
	}
	// The server does not answer a reset of a consumer it no longer has
	// (one that reached its inactivity limit while the reader took
	// everything from the tail): after tailWait, a new consumer.
	ctx, cancel := context.WithTimeout(context.Background(), tailWait)
	defer cancel()
	if _, err := r.b.js.ResetConsumerToSequence(ctx, r.topic, r.cons.CachedInfo().Name, r.pos); err != nil {
		cctx, ccancel := context.WithTimeout(context.Background(), 2*tailWait)
		defer ccancel()
		cons, cerr := r.b.newReaderConsumer(cctx, r.topic, r.pos)
		if cerr != nil {
			return app.Errorf(app.EUNAVAILABLE, "read %s: move the reader's consumer to %d: %v; a new one: %v; reading again from the stored position", r.topic, r.pos, err, cerr)
		}
		r.consMu.Lock()
		old, closed := r.cons, r.closed
		if !closed {
			r.cons = cons
		}
		r.consMu.Unlock()
		if closed {
			// Closed meanwhile (this fetch was given up): not kept.
			r.b.deleteConsumer(r.topic, cons.CachedInfo().Name)
			return app.Errorf(app.EUNAVAILABLE, "read %s: the reader was closed", r.topic)
		}
		r.b.deleteConsumer(r.topic, old.CachedInfo().Name)
	}
	// A reset consumer counts its deliveries from 1 again.
	r.skipped, r.delivered = false, 0
	return nil
}

func (r *Reader) fetch(batch jetstream.MessageBatch, err error) ([]app.LogEntry, error) {
	if err != nil {
		if errors.Is(err, jetstream.ErrNoMessages) || errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, fmt.Errorf("fetch %s: %w", r.topic, err)
	}
	var out []app.LogEntry
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			return out, fmt.Errorf("metadata: %w", err)
		}
		if r.delivered > 0 && meta.Sequence.Consumer != r.delivered+1 {
			return out, app.Errorf(app.EUNAVAILABLE, "read %s: delivery went from %d to %d, so something between was not delivered; reading again from the stored position",
				r.topic, r.delivered, meta.Sequence.Consumer)
		}
		r.delivered = meta.Sequence.Consumer
		out = append(out, app.LogEntry{
			Topic:   r.topic,
			Offset:  meta.Sequence.Stream,
			Subject: m.Subject(),
			Key:     keyOf(r.topic, m.Subject()),
			Stored:  logTime(m.Headers(), meta.Timestamp),
			Headers: m.Headers(),
			Data:    m.Data(),
		})
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		return out, fmt.Errorf("fetch %s: %w", r.topic, err)
	}
	return out, nil
}

// Close releases the reader: it deletes its consumer without waiting (the
// server removes it anyway once inactive, and a stalled fetch may still
// hold the reader).
func (r *Reader) Close() {
	// An abandoned fetch may still be replacing the consumer.
	r.consMu.Lock()
	name := r.cons.CachedInfo().Name
	r.closed = true
	r.consMu.Unlock()
	r.b.deleteConsumer(r.topic, name)
}

// deleteConsumer deletes a reader's consumer without waiting.
func (b *Broker) deleteConsumer(topic, name string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = b.js.DeleteConsumer(ctx, topic, name)
	}()
}

func keyOf(topic, subject string) string {
	return app.KeyFromSubjectToken(strings.TrimPrefix(subject, topic+"."))
}

// Topics returns the state of every topic.
func (b *Broker) Topics(ctx context.Context) ([]app.TopicInfo, error) {
	out := make([]app.TopicInfo, 0, len(app.Topics))
	for _, t := range app.Topics {
		ti, err := b.Topic(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, ti)
	}
	return out, nil
}

// Topic returns the state of one topic.
func (b *Broker) Topic(ctx context.Context, topic string) (app.TopicInfo, error) {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return app.TopicInfo{}, fmt.Errorf("topic %s: %w", topic, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return app.TopicInfo{}, fmt.Errorf("topic %s info: %w", topic, err)
	}
	st := info.State
	return app.TopicInfo{Name: topic, FirstOffset: st.FirstSeq, LastOffset: st.LastSeq, Messages: st.Msgs, Bytes: st.Bytes, Keys: st.NumSubjects, LastTime: st.LastTime}, nil
}

// Get returns the entry at offset.
func (b *Broker) Get(ctx context.Context, topic string, offset uint64) (app.LogEntry, error) {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return app.LogEntry{}, fmt.Errorf("topic %s: %w", topic, err)
	}
	m, err := s.GetMsg(ctx, offset)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return app.LogEntry{}, app.Errorf(app.ENOTFOUND, "no entry at %s@%d", topic, offset)
		}
		return app.LogEntry{}, err
	}
	return storedEntry(topic, m), nil
}

// PurgeKeyBefore removes every entry of key on topic below offset. Erasure
// uses it so that a forgotten person's earlier records leave the log too.
func (b *Broker) PurgeKeyBefore(ctx context.Context, topic, key string, offset uint64) error {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	b.forgetTail(topic)
	return s.Purge(ctx, jetstream.WithPurgeSubject(app.LogSubject(topic, key)), jetstream.WithPurgeSequence(offset))
}

// EntryTime returns when the log stored the first entry of topic at or
// after offset (an entry at offset may have been compacted away). Returns
// ENOTFOUND when there is none.
func (b *Broker) EntryTime(ctx context.Context, topic string, offset uint64) (time.Time, error) {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return time.Time{}, fmt.Errorf("topic %s: %w", topic, err)
	}
	m, err := s.GetMsg(ctx, offset, jetstream.WithGetMsgSubject(topic+".>"))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return time.Time{}, app.Errorf(app.ENOTFOUND, "no entry at or after %s@%d", topic, offset)
		}
		return time.Time{}, fmt.Errorf("read %s@%d: %w", topic, offset, err)
	}
	return logTime(m.Header, m.Time), nil
}

// Last returns the latest entry of key on topic. Returns ENOTFOUND when
// the key has none.
func (b *Broker) Last(ctx context.Context, topic, key string) (app.LogEntry, error) {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return app.LogEntry{}, fmt.Errorf("topic %s: %w", topic, err)
	}
	m, err := s.GetLastMsgForSubject(ctx, app.LogSubject(topic, key))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return app.LogEntry{}, app.Errorf(app.ENOTFOUND, "no entry of %s on %s", key, topic)
		}
		return app.LogEntry{}, fmt.Errorf("last of %s on %s: %w", key, topic, err)
	}
	return storedEntry(topic, m), nil
}

// EraseKeyBefore removes every entry of key on topic below offset with
// JetStream's secure delete, which overwrites the record in its message
// block with random bytes (a purge only drops it from the index and
// leaves the bytes until the block is rewritten). It returns how many
// entries it erased. See docs/decisions/0017-erasure.md.
func (b *Broker) EraseKeyBefore(ctx context.Context, topic, key string, offset uint64) (int, error) {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	b.forgetTail(topic)
	subject := app.LogSubject(topic, key)
	n := 0
	for seq := uint64(1); seq < offset; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("erase %s@%d: %w", topic, seq, err)
		}
		if m.Sequence >= offset {
			break
		}
		if err := s.SecureDeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("erase %s@%d: %w", topic, m.Sequence, err)
		}
		n++
		seq = m.Sequence + 1
	}
	return n, nil
}

// Entries calls fn with each entry of key on topic (every key when key
// is ""), in offset order, up to the topic's last offset when called.
func (b *Broker) Entries(ctx context.Context, topic, key string, fn func(app.LogEntry) error) error {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	subject := topic + ".>"
	if key != "" {
		subject = app.LogSubject(topic, key)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s@%d: %w", topic, seq, err)
		}
		if m.Sequence > info.State.LastSeq {
			return nil
		}
		le := storedEntry(topic, m)
		if err := fn(le); err != nil {
			return err
		}
		seq = m.Sequence + 1
	}
	return nil
}

// EraseEntry removes the entry at offset of topic with JetStream's
// secure delete (see EraseKeyBefore); one already gone is no error.
func (b *Broker) EraseEntry(ctx context.Context, topic string, offset uint64) error {
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return fmt.Errorf("topic %s: %w", topic, err)
	}
	b.forgetTail(topic)
	if err := s.SecureDeleteMsg(ctx, offset); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("erase %s@%d: %w", topic, offset, err)
	}
	return nil
}

// forgetTail empties topic's tail before entries leave the log, so that
// no reader takes from it what the log no longer holds.
func (b *Broker) forgetTail(topic string) {
	if t := b.tailOf(topic); t != nil {
		t.clear()
	}
}

// storedEntry is the log entry of a message read straight from the
// stream (Get, Last, Entries).
func storedEntry(topic string, m *jetstream.RawStreamMsg) app.LogEntry {
	return app.LogEntry{Topic: topic, Offset: m.Sequence, Subject: m.Subject, Key: keyOf(topic, m.Subject), Stored: logTime(m.Header, m.Time), Headers: m.Header, Data: m.Data}
}
