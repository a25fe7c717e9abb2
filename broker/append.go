package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Message is one record to append to a topic. DedupID de-duplicates (the
// JetStream message id; ID when empty); ID is reported back; Key orders
// (the subject's last token).
type Message struct {
	ID        string
	DedupID   string
	Validated bool // passed schema validation: the entry is sealed
	Key       string
	Data      []byte
	EventType string
	EventTime time.Time
	Headers   map[string][]string
}

// MessageOf turns a validated event into a log message. It is
// de-duplicated by source and id (app.UniqueID), never by the id alone:
// NATS headers fold white space, and another source may use the same id.
func MessageOf(e *app.Event) Message {
	return Message{ID: e.ID, DedupID: app.UniqueID(e.Source, e.ID), Key: e.Subject, Data: e.Raw, EventType: e.Type, EventTime: e.Time, Validated: true}
}

// Append stores events on topic in order. The events must have passed
// app.Validator.Parse or have been built by the node itself; they are
// sealed as validated. and returns after the log has
// acknowledged (and, with Sync "always", fsynced) all of them. Concurrent
// appends to the same topic are group-committed: the committer publishes
// whatever is queued as one JetStream atomic batch, which the server makes
// durable with one fsync. Results are in input order; a duplicate id is
// reported as such and stored once.
func (b *Broker) Append(ctx context.Context, topic string, events []*app.Event) ([]app.AppendResult, error) {
	msgs := make([]Message, len(events))
	for i, e := range events {
		msgs[i] = MessageOf(e)
	}
	return b.AppendMessages(ctx, topic, msgs)
}

// AppendMessages is Append for records that are not (or not yet) parsed
// events, such as dead letters and mirrored Kafka records. A call is all
// or nothing: its records are committed in one group (one atomic batch
// when there are several), so a refusal stores none of them. Returns
// ETOOLARGE for an oversized record or more than MaxRequestEvents records,
// ENOSPACE while the log's disk is full.
func (b *Broker) AppendMessages(ctx context.Context, topic string, msgs []Message) ([]app.AppendResult, error) {
	if !app.IsTopic(topic) {
		return nil, app.Errorf(app.ENOTFOUND, "topic %q does not exist", topic)
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	if len(msgs) > MaxRequestEvents {
		return nil, app.Errorf(app.ETOOLARGE, "%d events in one request; the log takes at most %d at once; nothing was stored", len(msgs), MaxRequestEvents)
	}
	for i, m := range msgs {
		if len(m.Data) > MaxEventBytes {
			return nil, app.Errorf(app.ETOOLARGE, "event %d of %d (counting from 1, id %q) is %d bytes; the log takes at most %d bytes per event; nothing was stored",
				i+1, len(msgs), m.ID, len(m.Data), MaxEventBytes)
		}
	}
	// Refused at once while the disk is full: no 30 s wait for an answer.
	if err := b.Writable(); err != nil {
		return nil, err
	}
	c := b.committer(topic)
	if c == nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "log is shutting down")
	}
	results := make([]app.AppendResult, len(msgs))
	// The messages are built (headers, seal) here, in the caller's
	// goroutine: the committer is the one serial step of every append.
	nmsgs := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		nmsgs[i] = c.natsMsg(m)
	}
	r := &appendReq{topic: topic, msgs: msgs, nmsgs: nmsgs, results: results, done: make(chan error, 1)}
	select {
	case c.queue <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.ctx.Done():
		return nil, app.Errorf(app.EUNAVAILABLE, "log is shutting down")
	}
	// Once queued, a request is committed or failed by the committer;
	// waiting for it keeps the answer truthful even if ctx ends.
	if err := <-r.done; err != nil {
		return nil, err
	}
	return results, nil
}

// MaxRequestEvents is the most events one append takes: they are stored
// as one atomic batch (the server's batch limit is raised to it).
const MaxRequestEvents = 10000

// MaxEventBytes is the largest event the log takes: the server's message
// limit (maxPayload) less room for the headers apron sets.
const MaxEventBytes = maxPayload - 64<<10

const maxPayload = 8 << 20

type appendReq struct {
	topic   string
	msgs    []Message
	nmsgs   []*nats.Msg // msgs as built for the log, for an atomic batch
	results []app.AppendResult
	done    chan error
}

type committer struct {
	b     *Broker
	topic string
	queue chan *appendReq
}

func (b *Broker) committer(topic string) *committer {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx == nil || b.ctx.Err() != nil {
		return nil
	}
	c, ok := b.committers[topic]
	if !ok {
		c = &committer{b: b, topic: topic, queue: make(chan *appendReq, 4096)}
		b.committers[topic] = c
		b.wg.Add(1)
		go c.run()
	}
	return c
}

func (c *committer) run() {
	defer c.b.wg.Done()
	var carry *appendReq
	for {
		var first *appendReq
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-c.queue:
			case <-c.b.ctx.Done():
				c.failPending()
				return
			}
		}
		batch := []*appendReq{first}
		n := len(first.msgs)
	drain:
		for n < c.b.Config.MaxBatch {
			select {
			case r := <-c.queue:
				if n+len(r.msgs) > c.b.Config.MaxBatch {
					carry = r
					break drain
				}
				batch = append(batch, r)
				n += len(r.msgs)
			default:
				break drain
			}
		}
		err := c.commit(batch, n)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (c *committer) failPending() {
	for {
		select {
		case r := <-c.queue:
			r.done <- app.Errorf(app.EUNAVAILABLE, "log is shutting down")
		default:
			return
		}
	}
}

func (c *committer) natsMsg(m Message) *nats.Msg {
	nm := nats.NewMsg(app.LogSubject(c.topic, m.Key))
	// Room for the headers below and the batch's (its id, sequence and
	// log time), so that the map is made once.
	nm.Header = make(nats.Header, len(m.Headers)+8)
	nm.Data = m.Data
	for k, vs := range m.Headers {
		for _, v := range vs {
			// As the log will hold it: a reader of the tail gets the same.
			nm.Header.Add(k, logHeaderValue(v))
		}
	}
	if m.DedupID != "" {
		nm.Header.Set(jetstream.MsgIDHeader, m.DedupID)
	} else if m.ID != "" {
		nm.Header.Set(jetstream.MsgIDHeader, m.ID)
	}
	if m.EventType != "" {
		nm.Header.Set(HeaderEventType, m.EventType)
	}
	if !m.EventTime.IsZero() {
		nm.Header.Set(HeaderEventTime, m.EventTime.UTC().Format(time.RFC3339Nano))
	}
	if m.Validated {
		nm.Header.Set(HeaderValidated, c.b.seal(m.Data))
	}
	return nm
}

// commit stores one group. A group whose requests are all single events
// and that is small is published message by message, pipelined (decision
// 0002: cheaper than a batch below minAtomicBatch); any other group is one
// atomic batch (one fsync), so that no request is stored in part.
// JetStream refuses a whole atomic batch that contains a duplicate id;
// only then is the group stored message by message, which reports
// duplicates individually. A refusal for lack of space stores nothing.
func (c *committer) commit(batch []*appendReq, n int) error {
	size := int64(0)
	single := true
	for _, r := range batch {
		single = single && len(r.msgs) == 1
		for _, m := range r.msgs {
			size += int64(len(m.Data))
		}
	}
	if err := c.b.checkRoom(c.topic, size); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.b.appends, 30*time.Second)
	defer cancel()
	// The server does not answer a publish whose store failed; its log
	// line about it ends the wait.
	failed := c.b.storage.writeFailed(c.topic)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-failed:
			cancel()
		case <-stop:
		}
	}()
	// One log time for the group (HeaderLogTime), taken as it goes to
	// the log; one slice, shared by every message's header. Not in a
	// cluster: there the log's own time stays the entry's, the same
	// whichever node appended it.
	at := time.Now().UTC().Round(0)
	var logTimeHeader []string
	if !c.b.Config.Cluster.Clustered() {
		logTimeHeader = []string{at.Format(time.RFC3339Nano)}
	}
	// A topic has a tail once something reads it.
	t := c.b.tailOf(c.topic)
	var gen uint64
	if t != nil {
		gen = t.begin()
	}
	var stored []app.LogEntry
	var err error
	if single && n < minAtomicBatch {
		stored, err = c.publishEach(ctx, batch, logTimeHeader, at, t != nil)
	} else {
		stored, err = c.publishBatch(ctx, batch, n, logTimeHeader, at, t != nil)
	}
	if t != nil {
		t.end(gen, stored)
	}
	if err == nil {
		return nil
	}
	select {
	case <-failed:
		// Refused or stored: the server cannot say. Its write cache may
		// still reach the disk when its streams reopen.
		return app.Errorf(app.EUNAVAILABLE, "the log's store failed while storing these events on %s: they may or may not be stored; "+
			"send the same request again once the log writes again (/readyz): events are de-duplicated by source and id", c.topic)
	default:
	}
	if werr := c.b.Writable(); werr != nil {
		return werr
	}
	if c.b.appends.Err() != nil {
		return app.Errorf(app.EUNAVAILABLE, "the node is shutting down and the log did not confirm these events on %s before its deadline: they may or may not be stored; "+
			"send the same request again, to another node or once this one is back (events are de-duplicated by source and id)", c.topic)
	}
	if qerr := c.b.quorumError(c.topic, err, ctx.Err()); qerr != nil {
		return qerr
	}
	if app.ErrorCode(err) == app.ENOSPACE {
		// The server's storage limit (nats.max_store) is reached: not
		// ready until retention or erasure makes room.
		c.b.storage.fault(err, false, c.b.Now())
	}
	return err
}

// publishBatch stores the group as one atomic batch, and returns its
// entries as the log stored them.
func (c *committer) publishBatch(ctx context.Context, batch []*appendReq, n int, logTimeHeader []string, at time.Time, keep bool) ([]app.LogEntry, error) {
	msgs := make([]*nats.Msg, 0, n)
	for _, r := range batch {
		for _, nm := range r.nmsgs {
			if logTimeHeader != nil {
				nm.Header[HeaderLogTime] = logTimeHeader
			}
			msgs = append(msgs, nm)
		}
	}
	ack, err := jetstreamext.PublishMsgBatch(ctx, c.b.js, msgs)
	if err == nil && ack != nil && ack.BatchSize == uint64(len(msgs)) {
		first := ack.Sequence - ack.BatchSize + 1
		seq := first
		for _, r := range batch {
			for i, m := range r.msgs {
				r.results[i] = app.AppendResult{ID: m.ID, Offset: seq}
				seq++
			}
		}
		var stored []app.LogEntry
		if keep {
			// The messages now carry the batch's headers too, as the
			// log stored them.
			stored = make([]app.LogEntry, len(msgs))
			for i, nm := range msgs {
				stored[i] = tailEntry(c.topic, first+uint64(i), nm, at)
			}
		}
		return stored, nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeBatchDuplicate {
		c.b.Logger.Debug("atomic batch holds a duplicate, storing one by one", "topic", c.topic, "size", len(msgs))
		return c.publishEach(ctx, batch, logTimeHeader, at, keep)
	}
	if err == nil {
		err = fmt.Errorf("batch of %d acknowledged as %d", len(msgs), ack.BatchSize)
	}
	return nil, appendError(c.topic, err)
}

// publishEach stores the group message by message, pipelined: every
// message is sent before the first acknowledgement is awaited. Order is
// kept, since one connection delivers in order. It returns the entries
// the log stored (not the duplicates), in offset order, even when a
// later message failed.
func (c *committer) publishEach(ctx context.Context, batch []*appendReq, logTimeHeader []string, at time.Time, keep bool) ([]app.LogEntry, error) {
	type pending struct {
		r   *appendReq
		i   int
		nm  *nats.Msg
		fut jetstream.PubAckFuture
	}
	var futs []pending
	for _, r := range batch {
		for i, m := range r.msgs {
			// Fresh messages: a refused batch left batch headers behind.
			nm := c.natsMsg(m)
			if logTimeHeader != nil {
				nm.Header[HeaderLogTime] = logTimeHeader
			}
			fut, err := c.b.js.PublishMsgAsync(nm)
			if err != nil {
				return nil, app.Errorf(app.EUNAVAILABLE, "append to %s: %v", c.topic, err)
			}
			futs = append(futs, pending{r, i, nm, fut})
		}
	}
	var stored []app.LogEntry
	for _, p := range futs {
		select {
		case ack := <-p.fut.Ok():
			p.r.results[p.i] = app.AppendResult{ID: p.r.msgs[p.i].ID, Offset: ack.Sequence, Duplicate: ack.Duplicate}
			if keep && !ack.Duplicate {
				stored = append(stored, tailEntry(c.topic, ack.Sequence, p.nm, at))
			}
		case err := <-p.fut.Err():
			return stored, appendError(c.topic, err)
		case <-ctx.Done():
			return stored, app.Errorf(app.EUNAVAILABLE, "append to %s: %v", c.topic, ctx.Err())
		}
	}
	return stored, nil
}

// JetStream's answers when the log has no room: the server's storage limit
// is reached (insufficient resources) or the store could not write.
const (
	errCodeInsufficientResources jetstream.ErrorCode = 10023
	errCodeStorageExceeded       jetstream.ErrorCode = 10047
	errCodeStoreFailed           jetstream.ErrorCode = 10077
	errCodeBatchDuplicate        jetstream.ErrorCode = 10201
)

// appendError gives a refused append its code: ENOSPACE when the log has
// no room (HTTP 507), EUNAVAILABLE otherwise.
func appendError(topic string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeInsufficientResources || apiErr.ErrorCode == errCodeStorageExceeded ||
		apiErr.ErrorCode == errCodeStoreFailed && strings.Contains(apiErr.Description, "no space left")) {
		return app.Errorf(app.ENOSPACE, "the log has no room to store events on %s (%s); free disk space in the data directory", topic, apiErr.Description)
	}
	return app.Errorf(app.EUNAVAILABLE, "append to %s: %v", topic, err)
}

// minAtomicBatch is the group size from which an atomic batch is cheaper
// than publishing one by one (see docs/decisions/0002-group-commit.md).
const minAtomicBatch = 16

// PublishOne stores one message without group commit; benchmarks use it as
// the per-message baseline.
func (b *Broker) PublishOne(ctx context.Context, topic string, m Message) (app.AppendResult, error) {
	c := &committer{b: b, topic: topic}
	ack, err := b.js.PublishMsg(ctx, c.natsMsg(m))
	if err != nil {
		return app.AppendResult{}, fmt.Errorf("publish: %w", err)
	}
	return app.AppendResult{ID: m.ID, Offset: ack.Sequence, Duplicate: ack.Duplicate}, nil
}
