package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// MustOpenBroker opens a broker on dir (a fresh temp dir when empty).
func MustOpenBroker(tb testing.TB, dir string) *broker.Broker {
	tb.Helper()
	if dir == "" {
		dir = tb.TempDir()
	}
	cfg := broker.DefaultConfig()
	cfg.Dir = dir
	cfg.ClientAddr = "127.0.0.1:0"
	b := broker.New(cfg)
	if err := b.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func flightEvent(tb testing.TB, id, key string, at time.Time, status string) *app.Event {
	tb.Helper()
	f := app.Flight{Flight: key, Carrier: "LH", Number: "400", Date: "2026-11-25", Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: at, ScheduledArrival: at.Add(8 * time.Hour), Status: status}
	e, err := app.NewEvent(id, "test", app.TypeFlightStatus, key, at, f)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func readAll(tb testing.TB, b *broker.Broker, topic string, from uint64) []app.LogEntry {
	tb.Helper()
	ctx := context.Background()
	ti, err := b.Topic(ctx, topic)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := b.NewReader(ctx, topic, from)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out []app.LogEntry
	deadline := time.Now().Add(10 * time.Second)
	for (len(out) == 0 || out[len(out)-1].Offset < ti.LastOffset) && time.Now().Before(deadline) {
		es, err := r.Next(ctx, 500, 200*time.Millisecond)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, es...)
	}
	return out
}

func TestAppendBatchOffsetsAndDuplicates(t *testing.T) {
	b := MustOpenBroker(t, "")
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	var evs []*app.Event
	for i := 0; i < 5; i++ {
		evs = append(evs, flightEvent(t, fmt.Sprintf("e%d", i), "LH400-2026-11-25", t0.Add(time.Duration(i)*time.Minute), "delayed"))
	}
	res, err := b.Append(ctx, app.TopicFlights, evs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Offset != uint64(i+1) || r.Duplicate || r.ID != evs[i].ID {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	// A retry of part of the batch plus a new event: the retried ones are
	// reported as duplicates and stored once.
	res, err = b.Append(ctx, app.TopicFlights, []*app.Event{evs[1], flightEvent(t, "e5", "LH400-2026-11-25", t0, "boarding"), evs[3]})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[0].Offset != 2 || res[1].Duplicate || res[1].Offset != 6 || !res[2].Duplicate || res[2].Offset != 4 {
		t.Fatalf("retry results: %+v", res)
	}
	// The same id twice in one request is stored once.
	dup := flightEvent(t, "e6", "LH400-2026-11-25", t0, "boarding")
	res, err = b.Append(ctx, app.TopicFlights, []*app.Event{dup, dup})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Duplicate || !res[1].Duplicate || res[0].Offset != res[1].Offset {
		t.Fatalf("in-batch duplicate: %+v", res)
	}
	ti, _ := b.Topic(ctx, app.TopicFlights)
	if ti.Messages != 7 || ti.LastOffset != 7 {
		t.Fatalf("topic info: %+v", ti)
	}
	entries := readAll(t, b, app.TopicFlights, 1)
	if len(entries) != 7 || entries[0].Key != "LH400-2026-11-25" || first(entries[0].Headers[broker.HeaderEventType]) != app.TypeFlightStatus {
		t.Fatalf("entries: %d %+v", len(entries), entries[0])
	}
	if got := readAll(t, b, app.TopicFlights, 6); len(got) != 2 || got[0].Offset != 6 {
		t.Fatalf("read from offset 6: %+v", got)
	}
}

func TestConcurrentAppendsKeepPerKeyOrder(t *testing.T) {
	b := MustOpenBroker(t, "")
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	const writers, perWriter = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			key := fmt.Sprintf("LH%d-2026-11-25", 100+w)
			for i := 0; i < perWriter; i++ {
				// Mix single events and small batches.
				n := 1 + i%3
				var evs []*app.Event
				for j := 0; j < n; j++ {
					evs = append(evs, flightEvent(t, fmt.Sprintf("w%d-%d-%d", w, i, j), key, t0, "scheduled"))
				}
				if _, err := b.Append(ctx, app.TopicFlights, evs); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := map[string]string{}
	count := 0
	for _, e := range readAll(t, b, app.TopicFlights, 1) {
		count++
		id := eventID(t, e)
		parts := strings.Split(id, "-")
		key := e.Key
		if prev, ok := last[key]; ok && !less(prev, id) {
			t.Fatalf("key %s out of order: %s after %s", key, id, prev)
		}
		last[key] = id
		_ = parts
	}
	want := 0
	for i := 0; i < perWriter; i++ {
		want += 1 + i%3
	}
	if count != writers*want {
		t.Fatalf("stored %d, want %d", count, writers*want)
	}
}

// less orders ids "w<w>-<i>-<j>" of one writer.
func less(a, b string) bool {
	var wa, ia, ja, wb, ib, jb int
	fmt.Sscanf(a, "w%d-%d-%d", &wa, &ia, &ja)
	fmt.Sscanf(b, "w%d-%d-%d", &wb, &ib, &jb)
	return ia < ib || (ia == ib && ja < jb)
}

func TestLogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	cfg := broker.DefaultConfig()
	cfg.Dir, cfg.ClientAddr = dir, ""
	b := broker.New(cfg)
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, app.TopicFlights, []*app.Event{flightEvent(t, "a", "LH1-2026-11-25", t0, "scheduled"), flightEvent(t, "b", "LH2-2026-11-25", t0, "scheduled")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := broker.New(cfg)
	if err := b2.Open(); err != nil {
		t.Fatal(err)
	}
	defer b2.Close(ctx)
	ti, _ := b2.Topic(ctx, app.TopicFlights)
	if ti.Messages != 2 {
		t.Fatalf("after restart: %+v", ti)
	}
	// De-duplication survives the restart too.
	res, err := b2.Append(ctx, app.TopicFlights, []*app.Event{flightEvent(t, "a", "LH1-2026-11-25", t0, "scheduled")})
	if err != nil || !res[0].Duplicate {
		t.Fatalf("dedupe after restart: %+v %v", res, err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*broker.Config)
		field  string
	}{
		{"defaults", func(c *broker.Config) {}, ""},
		{"no dir", func(c *broker.Config) { c.Dir = "" }, "nats.dir"},
		{"bad sync", func(c *broker.Config) { c.Sync = "sometimes" }, "nats.sync"},
		{"interval without duration", func(c *broker.Config) { c.Sync, c.SyncInterval = broker.SyncInterval, 0 }, "nats.sync_interval"},
		{"public without auth", func(c *broker.Config) { c.ClientAddr = "0.0.0.0:4222" }, "nats.addr"},
		{"public with auth", func(c *broker.Config) { c.ClientAddr, c.ClientUser, c.ClientPassword = "0.0.0.0:4222", "u", "p" }, ""},
		{"bad addr", func(c *broker.Config) { c.ClientAddr = "nohost" }, "nats.addr"},
		{"half tls", func(c *broker.Config) { c.TLSCert = "x.pem" }, "nats.tls_cert"},
		{"batch too big", func(c *broker.Config) { c.MaxBatch = broker.MaxRequestEvents + 1 }, "nats.max_batch"},
	}
	for _, tt := range tests {
		c := broker.DefaultConfig()
		c.Dir = "x"
		tt.mutate(&c)
		err := c.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(app.ErrorMessage(err), tt.field) {
			t.Errorf("%s: want error naming %s, got %v", tt.name, tt.field, err)
		}
	}
}

func TestExternalClientNeedsCredentials(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.ClientUser, cfg.ClientPassword = "site", "s3cret"
	b := broker.New(cfg)
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	if nc, err := nats.Connect(b.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("anonymous client connected")
	}
	nc, err := nats.Connect(b.ClientURL(), nats.UserInfo("site", "s3cret"))
	if err != nil {
		t.Fatalf("authenticated client: %v", err)
	}
	nc.Close()
	// The node itself still works.
	if _, err := b.Append(context.Background(), app.TopicFlights, []*app.Event{flightEvent(t, "x", "LH9-2026-11-25", time.Now(), "scheduled")}); err != nil {
		t.Fatal(err)
	}
}

// eventID is the CloudEvents id of a stored entry (its JetStream message
// id is a hash of source and id).
func eventID(tb testing.TB, le app.LogEntry) string {
	tb.Helper()
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(le.Data, &e); err != nil {
		tb.Fatal(err)
	}
	return e.ID
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func TestCompactionKeepsTheDecidingEventPerKey(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Dir, cfg.ClientAddr = t.TempDir(), ""
	cfg.HistoryWindow = time.Hour
	b := broker.New(cfg)
	later := time.Now().Add(2 * time.Hour) // every stored entry is outside the window
	b.Now = func() time.Time { return later }
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	k1, k2 := "LH1-2026-11-25", "LH2-2026-11-25"
	evs := []*app.Event{
		flightEvent(t, "a1", k1, t0, "scheduled"),                    // 1: superseded by 2
		flightEvent(t, "a2", k1, t0.Add(2*time.Minute), "delayed"),   // 2: the state of k1
		flightEvent(t, "a3", k1, t0.Add(time.Minute), "boarding"),    // 3: late, older than 2: superseded
		flightEvent(t, "b1", k2, t0, "scheduled"),                    // 4: only one of k2: kept
		flightEvent(t, "a4", k1, t0.Add(2*time.Minute), "cancelled"), // 5: same time as 2, later offset: the new state
	}
	if _, err := b.Append(ctx, app.TopicFlights, evs); err != nil {
		t.Fatal(err)
	}
	n, err := b.Compact(ctx, app.TopicFlights)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("removed %d, want 3", n)
	}
	var kept []string
	for _, e := range readAll(t, b, app.TopicFlights, 1) {
		kept = append(kept, eventID(t, e))
	}
	if strings.Join(kept, ",") != "b1,a4" {
		t.Fatalf("kept %v", kept)
	}
}

// TestDuplicatesBySourceAndID: an event is the same event only when its
// source and its id are; ids that NATS headers would fold together stay
// apart.
func TestDuplicatesBySourceAndID(t *testing.T) {
	b := MustOpenBroker(t, "")
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	ev := func(source, id string) *app.Event {
		e := flightEvent(t, id, "LH400-2026-11-25", t0, "delayed")
		e.Source = source
		return e
	}
	res, err := b.Append(ctx, app.TopicFlights, []*app.Event{
		ev("central", "42"), ev("crew", "42"), ev("central", "ws-collide"), ev("central", "ws-collide "), ev("central", "a\nb"), ev("central", "a b"),
		ev("central", "42"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res[:6] {
		if r.Duplicate {
			t.Fatalf("event %d taken for a duplicate: %+v", i, res)
		}
	}
	if !res[6].Duplicate || res[6].Offset != res[0].Offset {
		t.Fatalf("the same source and id twice: %+v", res[6])
	}
}

// TestAppUserCannotAdministerTheLog: without credentials nobody connects;
// the site applications' user publishes and reads but cannot delete or
// purge a topic, delete a message or change a stream.
func TestAppUserCannotAdministerTheLog(t *testing.T) {
	b := MustOpenBroker(t, "")
	ctx := context.Background()
	if _, err := b.Append(ctx, app.TopicFlights, []*app.Event{flightEvent(t, "x1", "LH9-2026-11-25", time.Now(), "scheduled")}); err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(b.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials connected")
	}
	cr := b.AppCredentials()
	nc, err := nats.Connect(b.ClientURL(), nats.UserInfo(cr.User, cr.Password))
	if err != nil {
		t.Fatalf("app user: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := js.Publish(actx, "flights.LH10-2026-11-25", flightEvent(t, "x2", "LH10-2026-11-25", time.Now(), "scheduled").Raw); err != nil {
		t.Fatalf("publish: %v", err)
	}
	s, err := js.Stream(actx, app.TopicFlights)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if m, err := s.GetMsg(actx, 1); err != nil || len(m.Data) == 0 {
		t.Fatalf("read: %v", err)
	}
	c, err := s.OrderedConsumer(actx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	if batch, err := c.FetchNoWait(2); err != nil {
		t.Fatalf("fetch: %v", err)
	} else {
		n := 0
		for range batch.Messages() {
			n++
		}
		if n != 2 {
			t.Fatalf("read %d of 2 entries", n)
		}
	}
	admin := map[string]func(context.Context) error{
		"delete stream":  func(ctx context.Context) error { return js.DeleteStream(ctx, app.TopicAssist) },
		"purge stream":   func(ctx context.Context) error { return s.Purge(ctx) },
		"delete message": func(ctx context.Context) error { return s.DeleteMsg(ctx, 1) },
		"update stream": func(ctx context.Context) error {
			_, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: app.TopicFlights, Subjects: []string{"flights.>"}, MaxMsgs: 1})
			return err
		},
		"publish a rebooking": func(ctx context.Context) error {
			_, err := js.Publish(ctx, "rebookings.X", []byte("{}"))
			return err
		},
	}
	for name, f := range admin {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			t.Errorf("%s: allowed", name)
		}
	}
	ti, _ := b.Topic(ctx, app.TopicFlights)
	if ti.Messages != 2 {
		t.Fatalf("flights holds %d entries, want 2", ti.Messages)
	}
	if _, err := b.Topic(ctx, app.TopicAssist); err != nil {
		t.Fatalf("assist: %v", err)
	}
}

// TestFullLogAnswersNoSpace: when the log's storage is used up, an append
// is refused at once with ENOSPACE (HTTP 507), not left to time out.
func TestFullLogAnswersNoSpace(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.ClientAddr = ""
	cfg.MaxStore = 1 << 20
	b := broker.New(cfg)
	if err := b.Open(); err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	ctx := context.Background()
	acked := 0
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		e := flightEvent(t, fmt.Sprintf("full-%d", i), "LH400-2026-11-25", time.Now(), "delayed")
		e.Raw = []byte(strings.Replace(string(e.Raw), `"status":"delayed"`, `"status":"delayed","x_pad":"`+strings.Repeat("a", 32<<10)+`"`, 1))
		start := time.Now()
		_, err = b.Append(ctx, app.TopicFlights, []*app.Event{e})
		if err == nil {
			acked++
		} else if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("refusal took %s", d)
		}
	}
	t.Logf("acknowledged %d events before the log was full", acked)
	if app.ErrorCode(err) != app.ENOSPACE {
		t.Fatalf("want %s, got %v", app.ENOSPACE, err)
	}
}
