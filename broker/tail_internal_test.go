package broker

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go"
)

func openTailBroker(t *testing.T) *Broker {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = t.TempDir()
	b := New(cfg)
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func tailFlight(t *testing.T, id, key string, i int) *app.Event {
	t.Helper()
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	f := app.Flight{Flight: key, Carrier: "LH", Number: "400", Date: "2026-11-25", Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: at, ScheduledArrival: at.Add(8 * time.Hour), Status: "scheduled", Gate: fmt.Sprintf("A%d", i)}
	e, err := app.NewEvent(id, "test", app.TypeFlightStatus, key, at, f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readUpTo reads r until it has returned the entry at last.
func readUpTo(t *testing.T, r *Reader, last uint64) []app.LogEntry {
	t.Helper()
	var out []app.LogEntry
	deadline := time.Now().Add(20 * time.Second)
	for len(out) == 0 || out[len(out)-1].Offset < last {
		if time.Now().After(deadline) {
			t.Fatalf("read up to %d: stopped at %d entries", last, len(out))
		}
		es, err := r.Next(context.Background(), 37, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, es...)
	}
	return out
}

// sameEntries fails unless got and want are the same entries, field by
// field: what a stage gets must not depend on where the reader took it.
func sameEntries(t *testing.T, got, want []app.LogEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d entries, the log has %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Topic != w.Topic || g.Offset != w.Offset || g.Subject != w.Subject || g.Key != w.Key || !g.Stored.Equal(w.Stored) ||
			!bytes.Equal(g.Data, w.Data) || !reflect.DeepEqual(map[string][]string(g.Headers), map[string][]string(w.Headers)) {
			t.Fatalf("entry %d differs:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// TestReaderTailGivesWhatTheLogGives: a reader following the topic while
// this node appends (atomic batches, single events, a batch refused for
// a duplicate and stored one by one) and a NATS client publishes on the
// same topic gets every entry once, in offset order, exactly as a reader
// of the log alone gets it (headers, data, log time), and takes most of
// them from the tail.
func TestReaderTailGivesWhatTheLogGives(t *testing.T) {
	b := openTailBroker(t)
	ctx := context.Background()
	follower, err := b.NewReader(ctx, app.TopicFlights, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	fr := follower.(*Reader)

	var evs []*app.Event
	for i := 0; i < 400; i++ {
		evs = append(evs, tailFlight(t, fmt.Sprintf("e%d", i), fmt.Sprintf("LH%d-2026-11-25", i%7), i))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := b.Append(ctx, app.TopicFlights, evs[:100]); err != nil {
			t.Error(err)
			return
		}
		// Single events from several callers share groups.
		var singles sync.WaitGroup
		for _, e := range evs[100:140] {
			singles.Add(1)
			go func() {
				defer singles.Done()
				if _, err := b.Append(ctx, app.TopicFlights, []*app.Event{e}); err != nil {
					t.Error(err)
				}
			}()
		}
		singles.Wait()
		// Another writer: not in the tail.
		raw := nats.NewMsg(app.LogSubject(app.TopicFlights, "LH9-2026-11-25"))
		raw.Data = evs[140].Raw
		if _, err := b.js.PublishMsg(ctx, raw); err != nil {
			t.Error(err)
			return
		}
		// A duplicate refuses the atomic batch: stored one by one.
		if _, err := b.Append(ctx, app.TopicFlights, append([]*app.Event{evs[5]}, evs[141:200]...)); err != nil {
			t.Error(err)
			return
		}
		if _, err := b.Append(ctx, app.TopicFlights, evs[200:380]); err != nil {
			t.Error(err)
		}
		// Headers of the caller's (a mirrored record's), with white
		// space the log trims.
		var msgs []Message
		for _, e := range evs[380:] {
			m := MessageOf(e)
			m.Headers = map[string][]string{HeaderKafkaKey: {" LH 400 "}, HeaderKafkaTopic: {"flights\r\nx"}}
			msgs = append(msgs, m)
		}
		if _, err := b.AppendMessages(ctx, app.TopicFlights, msgs); err != nil {
			t.Error(err)
		}
	}()
	// 399 events and the client's entry, read while they are appended.
	const last = 400
	got := readUpTo(t, fr, last)
	wg.Wait()
	if t.Failed() {
		return
	}

	fromLog, err := b.NewReader(ctx, app.TopicFlights, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer fromLog.Close()
	lr := fromLog.(*Reader)
	lr.tail = nil // the log alone
	want := readUpTo(t, lr, last)
	if len(want) != 400 {
		t.Fatalf("the log has %d entries, want 400 (399 events and the client's)", len(want))
	}
	sameEntries(t, got, want)
	if fr.fromTailN < len(got)/2 {
		t.Fatalf("the follower took %d of %d entries from the tail", fr.fromTailN, len(got))
	}

	// A reader that starts behind reads the log, then the tail.
	late, err := b.NewReader(ctx, app.TopicFlights, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	lateR := late.(*Reader)
	sameEntries(t, readUpTo(t, lateR, last), want[49:])

	// A reader that read the tail past its consumer's inactivity limit
	// finds the consumer gone, and reads on through a new one.
	if !lateR.skipped {
		t.Fatal("the late reader did not end on the tail")
	}
	if err := b.js.DeleteConsumer(ctx, app.TopicFlights, lateR.cons.CachedInfo().Name); err != nil {
		t.Fatal(err)
	}
	raw := nats.NewMsg(app.LogSubject(app.TopicFlights, "LH9-2026-11-25"))
	raw.Data = evs[141].Raw
	if _, err := b.js.PublishMsg(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if more := readUpTo(t, lateR, last+1); len(more) != 1 || more[0].Offset != last+1 {
		t.Fatalf("after its consumer went, the reader read %+v", more)
	}

	// The log time is the group's, on every path; the client's entry
	// keeps the log's own.
	e, err := b.Get(ctx, app.TopicFlights, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Stored.Equal(want[0].Stored) || nats.Header(e.Headers).Get(HeaderLogTime) == "" {
		t.Fatalf("Get's log time %v (header %q), the reader's %v", e.Stored, nats.Header(e.Headers).Get(HeaderLogTime), want[0].Stored)
	}
	for _, w := range want {
		if w.Key == "LH9-2026-11-25" {
			if _, ok := w.Headers[HeaderLogTime]; ok || w.Stored.IsZero() {
				t.Fatalf("the client's entry: %+v", w)
			}
		}
	}
}

// TestReaderTailForgetsErasedEntries: an entry erased from the log is not
// handed out by the tail either.
func TestReaderTailForgetsErasedEntries(t *testing.T) {
	b := openTailBroker(t)
	ctx := context.Background()
	var evs []*app.Event
	for i := 0; i < 30; i++ {
		evs = append(evs, tailFlight(t, fmt.Sprintf("e%d", i), fmt.Sprintf("LH%d-2026-11-25", i%3), i))
	}
	res, err := b.Append(ctx, app.TopicFlights, evs)
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.EraseKeyBefore(ctx, app.TopicFlights, "LH0-2026-11-25", res[len(res)-1].Offset)
	if err != nil || n != 10 {
		t.Fatalf("erased %d, %v; want 10", n, err)
	}
	r, err := b.NewReader(ctx, app.TopicFlights, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := readUpTo(t, r.(*Reader), res[len(res)-1].Offset)
	if len(got) != 20 {
		t.Fatalf("%d entries after erasing 10 of 30", len(got))
	}
	for _, e := range got {
		if e.Key == "LH0-2026-11-25" {
			t.Fatalf("erased entry %d handed out", e.Offset)
		}
	}
}

func TestTailKeepsOnlyAnUnbrokenRun(t *testing.T) {
	tl := newTail(0, 0)
	entries := func(from, to uint64) []app.LogEntry {
		var out []app.LogEntry
		for o := from; o <= to; o++ {
			out = append(out, app.LogEntry{Offset: o})
		}
		return out
	}
	tl.end(tl.begin(), entries(1, 5))
	if got := tl.from(3, 10); len(got) != 3 || got[0].Offset != 3 {
		t.Fatalf("from 3: %v", got)
	}
	if tl.from(6, 10) != nil || tl.from(0, 10) != nil || tl.from(2, 0) != nil {
		t.Fatal("the tail handed out offsets it does not hold")
	}
	// A gap (another writer's entry at 6) starts it again.
	tl.end(tl.begin(), entries(7, 8))
	if tl.from(5, 10) != nil || len(tl.from(7, 10)) != 2 {
		t.Fatalf("after a gap: from 5 %v, from 7 %v", tl.from(5, 10), tl.from(7, 10))
	}
	// It keeps the newest tailMax, in order, whatever the ring's turns.
	tl.end(tl.begin(), entries(9, 9+2*tailMax))
	tl.end(tl.begin(), entries(10+2*tailMax, 9+2*tailMax+tailMax/3))
	last := uint64(9 + 2*tailMax + tailMax/3)
	if got := tl.from(last-tailMax+1, tailMax+1); tl.n != tailMax || len(got) != tailMax || got[tailMax-1].Offset != last {
		t.Fatalf("kept %d entries, handed out %d", tl.n, len(got))
	}
	for i, e := range tl.from(last-tailMax+1, tailMax) {
		if e.Offset != last-tailMax+1+uint64(i) {
			t.Fatalf("entry %d has offset %d", i, e.Offset)
		}
	}
	if tl.from(last-tailMax, 1) != nil {
		t.Fatal("the tail handed out an entry it let go")
	}
	// A gap in a full ring starts it again too.
	tl.end(tl.begin(), entries(last+2, last+3))
	if tl.n != 2 || tl.from(last, 1) != nil || len(tl.from(last+2, 5)) != 2 {
		t.Fatalf("after a gap in a full ring: %d entries", tl.n)
	}
	last += 3
	// And at most tailMaxBytes of data.
	big := make([]byte, 1<<20)
	var large []app.LogEntry
	for o := uint64(1); o <= 2*tailMaxBytes>>20; o++ {
		large = append(large, app.LogEntry{Offset: last + o, Data: big})
	}
	tl.end(tl.begin(), large)
	if tl.bytes > tailMaxBytes || tl.bytes < tailMaxBytes-len(big) || tl.n*len(big) != tl.bytes {
		t.Fatalf("kept %d bytes in %d entries", tl.bytes, tl.n)
	}
	if got := tl.from(last+uint64(len(large)), 5); len(got) != 1 || len(got[0].Data) != len(big) {
		t.Fatalf("the newest large entry: %v", got)
	}
	tl.clear()
	if tl.from(last+uint64(len(large)), 1) != nil || tl.ring != nil {
		t.Fatal("a cleared tail handed out an entry")
	}

	// await returns once the group in flight is answered, and at once
	// when none is.
	start := time.Now()
	tl.await(100, time.Minute)
	if time.Since(start) > time.Second {
		t.Fatal("await waited with no group in flight")
	}
	gen := tl.begin()
	go func() {
		time.Sleep(50 * time.Millisecond)
		tl.end(gen, entries(100, 101))
	}()
	tl.await(100, time.Minute)
	if len(tl.from(100, 5)) != 2 {
		t.Fatal("await returned before the group was answered")
	}
	// Nor for a group that cannot hold pos: the tail starts past it.
	gen = tl.begin()
	start = time.Now()
	tl.await(99, time.Minute)
	if time.Since(start) > time.Second {
		t.Fatal("await waited for a group that cannot hold its offset")
	}
	// A group begun before a clear is not kept: something may have left
	// the log in between.
	tl.clear()
	tl.end(gen, entries(102, 103))
	if tl.from(102, 5) != nil {
		t.Fatal("a group begun before a clear was kept")
	}

	// Under a topic's byte limit the tail keeps a quarter of it, and
	// under its age limit it hands out nothing older than half of it.
	small := newTail(1<<20, time.Hour)
	small.end(small.begin(), large[:3])
	if small.bytes > 1<<18 || small.n != 0 {
		t.Fatalf("under a 1 MiB topic limit: %d bytes in %d entries", small.bytes, small.n)
	}
	// A ring that grows after it let its oldest entries go keeps them in
	// order: large entries move its start, then small ones fill it.
	grows := newTail(4*30000, 0)
	var mixed []app.LogEntry
	for o := uint64(1); o <= 700; o++ {
		size := 10
		if o <= 100 {
			size = 1000
		}
		data := fmt.Appendf(nil, "%d:", o)
		mixed = append(mixed, app.LogEntry{Offset: o, Data: append(data, make([]byte, size-len(data))...)})
	}
	grows.end(grows.begin(), mixed)
	held := grows.from(701-uint64(grows.n), 1000)
	if len(held) != grows.n || len(held) < 600 || len(grows.ring) < len(held) {
		t.Fatalf("held %d entries, handed out %d", grows.n, len(held))
	}
	for i, e := range held {
		if want := 701 - uint64(len(held)) + uint64(i); e.Offset != want || !bytes.HasPrefix(e.Data, fmt.Appendf(nil, "%d:", want)) {
			t.Fatalf("entry %d: offset %d, data %.8q", i, e.Offset, e.Data)
		}
	}
	aged := newTail(0, time.Hour)
	aged.end(aged.begin(), []app.LogEntry{{Offset: 1, Stored: time.Now().Add(-31 * time.Minute)}, {Offset: 2, Stored: time.Now()}})
	if aged.from(1, 5) != nil || len(aged.from(2, 5)) != 1 {
		t.Fatal("an entry past half the age limit was handed out, or a fresh one was not")
	}
}
