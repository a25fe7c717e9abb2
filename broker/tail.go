package broker

import (
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
// largest group, and up to 64 MiB of their data, so a reader at the head
// finds the whole of a group. It holds at most a quarter more of either
// before it lets the oldest go.
const (
	tailMax      = MaxRequestEvents
	tailMaxBytes = 64 << 20
)

// tail keeps the entries of this node's latest commits on one topic, in
// offset order with no gap, as the log stores them. A reader at the head
// takes them from here instead of through its consumer, which costs the
// server and the client a delivery per entry (about a quarter of the
// node's CPU in batched ingest). Entries the node did not append itself
// (a NATS client's, another node's) are never in it, so a reader that
// does not find its next offset here reads the log.
type tail struct {
	mu      sync.Mutex
	entries []app.LogEntry // entries[i].Offset == entries[0].Offset+i
	bytes   int            // of the entries' data
	// inflight counts groups sent to the log and not yet answered.
	inflight int
	changed  chan struct{} // closed, and replaced, whenever entries or inflight change
}

func newTail() *tail { return &tail{changed: make(chan struct{})} }

// begin records a group on its way to the log.
func (t *tail) begin() {
	t.mu.Lock()
	t.inflight++
	t.mu.Unlock()
}

// end records the answer to a group begun: es are the entries the log
// stored, in offset order (none when it refused the group or its answer
// is unknown). An entry that does not follow the last one kept starts
// the tail again: something else was stored in between.
func (t *tail) end(es []app.LogEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight--
	for _, e := range es {
		if n := len(t.entries); n > 0 && t.entries[n-1].Offset+1 != e.Offset {
			t.entries, t.bytes = nil, 0
		}
		t.entries = append(t.entries, e)
		t.bytes += len(e.Data)
	}
	if len(t.entries) > tailMax+tailMax/4 || t.bytes > tailMaxBytes+tailMaxBytes/4 {
		drop := 0
		for len(t.entries)-drop > tailMax || t.bytes > tailMaxBytes {
			t.bytes -= len(t.entries[drop].Data)
			drop++
		}
		// Copied, so the array does not keep what was let go.
		t.entries = append([]app.LogEntry(nil), t.entries[drop:]...)
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// clear forgets every entry: the log removed some (an erasure, a
// compaction), and the tail must never hand out what it no longer holds.
func (t *tail) clear() {
	t.mu.Lock()
	t.entries, t.bytes = nil, 0
	t.mu.Unlock()
}

// from returns up to max entries from offset pos on, if the tail holds
// pos; otherwise none.
func (t *tail) from(pos uint64, max int) []app.LogEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) == 0 || pos < t.entries[0].Offset || max < 1 {
		return nil
	}
	i := pos - t.entries[0].Offset
	if i >= uint64(len(t.entries)) {
		return nil
	}
	j := min(uint64(len(t.entries)), i+uint64(max))
	return append([]app.LogEntry(nil), t.entries[i:j]...)
}

// await waits, at most d, while a group is on its way to the log and the
// tail does not hold pos yet: the entries from pos on are most likely in
// that group, and taking them from here saves their delivery. It returns
// at once when no group is in flight.
func (t *tail) await(pos uint64, d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		n := len(t.entries)
		held := n > 0 && pos >= t.entries[0].Offset && pos <= t.entries[n-1].Offset
		inflight, changed := t.inflight, t.changed
		t.mu.Unlock()
		if held || inflight == 0 {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		}
	}
}

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
