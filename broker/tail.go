package broker

import (
	"context"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go"
)

// HeaderLogTime carries the time this node sent the entry's group to the
// log. It is the entry's log time (app.LogEntry.Stored) on every path: a
// reader of the tail has no other, since JetStream does not return the
// time it stored a message in its acknowledgement. Entries appended
// without it (by a NATS client, or before it existed) keep the log's own
// store time. See docs/decisions/0031-readers-take-the-nodes-own-commits.md.
const HeaderLogTime = "Apron-Log-Time"

// tailMax and tailMaxBytes bound the tail: the newest entries up to the
// largest group, and up to 64 MiB of them (data, subject and headers), so
// a reader at the head finds the whole of a group.
const (
	tailMax      = MaxRequestEvents
	tailMaxBytes = 64 << 20
)

// tail keeps the entries of this node's latest commits on one topic, in
// offset order with no gap, as the log stores them. A reader at the head
// takes them from here instead of through its consumer, which costs the
// server and the client a delivery per entry (about a quarter of the
// node's CPU in batched ingest). Entries the node did not append itself
// (a NATS client's) are never in it, so a reader that does not find its
// next offset here reads the log.
//
// The entries are a ring: once it is full, each new entry takes the
// place of the oldest, so a steady stream of groups allocates and copies
// nothing here (a slice trimmed by copying cost a kilobyte an event of
// garbage in batched ingest).
type tail struct {
	mu    sync.Mutex
	ring  []tailSlot // at most tailMax; grows as it fills
	head  int        // the oldest entry's slot
	n     int        // entries held: at(i).Offset == at(0).Offset+i
	bytes int        // of the entries held (entrySize)
	// maxBytes bounds bytes: tailMaxBytes, or less under the topic's
	// own byte limit, so that the log still holds all the tail does.
	maxBytes int
	// maxAge: entries older than this are not handed out (the topic's
	// age limit would have removed them from the log); 0 for none.
	maxAge time.Duration
	// gen counts the clears: a group begun before one is not kept.
	gen uint64
	// inflight counts groups sent to the log and not yet answered.
	inflight int
	changed  chan struct{} // closed, and replaced, whenever entries or inflight change
}

type tailSlot struct {
	e    app.LogEntry
	size int // entrySize(e), kept so that letting it go does not walk its headers again
}

// newTail returns the tail of a topic whose log keeps at most
// topicMaxBytes (0 for no limit) and entries for at most maxAge (0 for
// ever).
func newTail(topicMaxBytes int64, maxAge time.Duration) *tail {
	t := &tail{changed: make(chan struct{}), maxBytes: tailMaxBytes, maxAge: maxAge}
	if topicMaxBytes > 0 {
		t.maxBytes = int(min(int64(tailMaxBytes), topicMaxBytes/4))
	}
	return t
}

// begin records a group on its way to the log, and returns the
// generation to give end.
func (t *tail) begin() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight++
	return t.gen
}

// end records the answer to a group begun at generation gen: es are the
// entries the log stored, in offset order (none when it refused the
// group or its answer is unknown). They are not kept if the tail was
// cleared since the group began: something may have left the log in
// between. An entry that does not follow the last one kept starts the
// tail again: something else was stored in between.
func (t *tail) end(gen uint64, es []app.LogEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight--
	if gen != t.gen {
		es = nil
	}
	for _, e := range es {
		if t.n > 0 && t.at(t.n-1).Offset+1 != e.Offset {
			t.empty(false)
		}
		t.push(e)
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// at is the i-th entry held, from the oldest.
func (t *tail) at(i int) *app.LogEntry { return &t.ring[(t.head+i)%len(t.ring)].e }

// push adds e as the newest entry, and lets the oldest go while the
// tail holds more than its bounds.
func (t *tail) push(e app.LogEntry) {
	if t.n == tailMax {
		t.dropOldest()
	}
	if t.n == len(t.ring) {
		// Not full size yet: grow, the entries in order from slot 0.
		grown := make([]tailSlot, min(tailMax, max(256, 2*len(t.ring))))
		for i := range t.n {
			grown[i] = t.ring[(t.head+i)%len(t.ring)]
		}
		t.ring, t.head = grown, 0
	}
	size := entrySize(e)
	t.ring[(t.head+t.n)%len(t.ring)] = tailSlot{e: e, size: size}
	t.n++
	t.bytes += size
	for t.n > 0 && t.bytes > t.maxBytes {
		t.dropOldest()
	}
}

func (t *tail) dropOldest() {
	s := &t.ring[t.head]
	t.bytes -= s.size
	*s = tailSlot{} // the ring must not keep what was let go
	t.head = (t.head + 1) % len(t.ring)
	t.n--
	if t.n == 0 {
		t.head = 0
	}
}

// empty lets every entry go; release also gives back the ring's memory.
func (t *tail) empty(release bool) {
	if release {
		t.ring = nil
	} else {
		clear(t.ring)
	}
	t.head, t.n, t.bytes = 0, 0, 0
}

// entrySize is what an entry holds in memory, near enough: its data,
// subject and headers.
func entrySize(e app.LogEntry) int {
	n := len(e.Data) + len(e.Subject)
	for k, vs := range e.Headers {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// clear forgets every entry: the log removed some (an erasure, a
// compaction), and the tail must never hand out what it no longer holds.
func (t *tail) clear() {
	t.mu.Lock()
	t.empty(true)
	t.gen++
	t.mu.Unlock()
}

// from returns up to max entries from offset pos on, if the tail holds
// pos; otherwise none.
func (t *tail) from(pos uint64, max int) []app.LogEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 || pos < t.at(0).Offset || max < 1 {
		return nil
	}
	i := pos - t.at(0).Offset
	if i >= uint64(t.n) {
		return nil
	}
	if t.maxAge > 0 && time.Since(t.at(int(i)).Stored) > t.maxAge/2 {
		return nil
	}
	j := min(uint64(t.n), i+uint64(max))
	out := make([]app.LogEntry, 0, j-i)
	for k := i; k < j; k++ {
		out = append(out, *t.at(int(k)))
	}
	return out
}

// await waits, at most d, while a group is on its way to the log and pos
// is past the tail's end (or the tail is empty): the entries from pos on
// are then most likely in that group, and taking them from here saves
// their delivery. It returns at once when no group is in flight, and
// when the tail holds pos or never will (it starts past pos).
func (t *tail) await(pos uint64, d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		next := t.n == 0 || pos > t.at(t.n-1).Offset
		inflight, changed := t.inflight, t.changed
		t.mu.Unlock()
		if !next || inflight == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		}
	}
}

// headerValueReplacer and textproto.TrimString make a header value what
// the client library writes to the log (and so what a reader gets back).
var headerValueReplacer = strings.NewReplacer("\r", " ", "\n", " ")

func logHeaderValue(v string) string { return headerValueReplacer.Replace(textproto.TrimString(v)) }

// tailEntry is the log entry of a message the log stored at offset: what
// a reader of the log gets for it.
func tailEntry(topic string, offset uint64, m *nats.Msg, stored time.Time) app.LogEntry {
	return app.LogEntry{Topic: topic, Offset: offset, Subject: m.Subject, Key: keyOf(topic, m.Subject), Stored: stored, Headers: m.Header, Data: m.Data}
}

// logTime is an entry's log time: its HeaderLogTime when it has one that
// reads, else when the log stored it.
func logTime(h nats.Header, stored time.Time) time.Time {
	if v := h[HeaderLogTime]; len(v) == 1 {
		if t, err := time.Parse(time.RFC3339Nano, v[0]); err == nil {
			return t
		}
	}
	return stored
}

// LogOnly is the log without the tail: its readers read what the log
// itself holds. The online check compares the state with a rebuild from
// it, so the tail cannot vouch for itself.
func (b *Broker) LogOnly() app.Log { return logOnly{b} }

type logOnly struct{ *Broker }

func (l logOnly) NewReader(ctx context.Context, topic string, from uint64) (app.LogReader, error) {
	r, err := l.newReader(ctx, topic, from, false)
	if err != nil {
		return nil, err
	}
	return r, nil
}
