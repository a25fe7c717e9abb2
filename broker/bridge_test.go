package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const testSite = "fra"

var siteSeq atomic.Int64

// uniqueSite names a site of its own for a test on the shared Kafka, so
// that topics and groups of tests (and of -count repeats) never meet.
func uniqueSite(prefix string) string { return fmt.Sprintf("%s%d", prefix, siteSeq.Add(1)) }

// mustOpenLog opens the embedded log as the bridge tests use it.
func mustOpenLog(tb testing.TB) *broker.Broker {
	tb.Helper()
	b := broker.New(broker.Config{Dir: tb.TempDir(), Sync: broker.SyncAlways, DuplicateWindow: time.Hour, MaxBatch: 1000})
	b.Logger = testLogger(tb)
	if err := b.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func testLogger(tb testing.TB) *slog.Logger {
	if t, ok := tb.(*testing.T); ok {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// mustOpenBridge opens a bridge and closes it when the test ends.
func mustOpenBridge(tb testing.TB, cfg broker.BridgeConfig, b *broker.Broker) *broker.Bridge {
	tb.Helper()
	br := broker.NewBridge(cfg, b)
	br.Logger = testLogger(tb)
	if err := br.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { closeBridge(tb, br) })
	return br
}

func closeBridge(tb testing.TB, br *broker.Bridge) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := br.Close(ctx); err != nil {
		tb.Errorf("close bridge: %v", err)
	}
}

func bridgeConfig(addr, site string) broker.BridgeConfig {
	cfg := broker.DefaultBridgeConfig(site)
	cfg.Brokers = []string{addr}
	cfg.Inbound = nil
	cfg.Outbound = nil
	cfg.HeartbeatInterval = 200 * time.Millisecond
	cfg.RetryMin = 50 * time.Millisecond
	cfg.RetryMax = time.Second
	return cfg
}

func rebookingEvent(tb testing.TB, i int, locator string) *app.Event {
	tb.Helper()
	e, err := app.NewEvent(fmt.Sprintf("rb-%05d", i), "apron/test", app.TypeRebookingProposed, locator,
		time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Millisecond),
		map[string]any{"proposal_id": fmt.Sprintf("P%05d", i), "locator": locator})
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func header(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func first1(h map[string][]string, k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// binaryRecord is e in CloudEvents binary mode: attributes in ce_ headers,
// data in the value.
func binaryRecord(topic string, e *app.Event, key string, extra ...kgo.RecordHeader) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: e.Data, Headers: append([]kgo.RecordHeader{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte(e.ID)},
		{Key: "ce_source", Value: []byte(e.Source)},
		{Key: "ce_type", Value: []byte(e.Type)},
		{Key: "ce_time", Value: []byte(e.Time.Format(time.RFC3339Nano))},
		{Key: "ce_subject", Value: []byte(e.Subject)},
		{Key: "content-type", Value: []byte("application/json")},
	}, extra...)}
}

func produceSync(tb testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("produce: %v", err)
	}
}

func countEntries(b *broker.Broker, topic string) (uint64, error) {
	ti, err := b.Topic(context.Background(), topic)
	return ti.Messages, err
}

func waitEntries(tb testing.TB, b *broker.Broker, topic string, want uint64, d time.Duration) {
	tb.Helper()
	checkFor(tb, d, func() error {
		n, err := countEntries(b, topic)
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%s holds %d entries, want %d", topic, n, want)
		}
		return nil
	})
}

func TestBridgeConfigValidate(t *testing.T) {
	ok := func() broker.BridgeConfig {
		c := broker.DefaultBridgeConfig("fra")
		c.Brokers = []string{"kafka-1:9092"}
		return c
	}
	for _, tc := range []struct {
		name  string
		edit  func(*broker.BridgeConfig)
		field string
	}{
		{"defaults", func(*broker.BridgeConfig) {}, ""},
		{"no brokers", func(c *broker.BridgeConfig) { c.Brokers = nil }, "bridge.brokers"},
		{"broker without port", func(c *broker.BridgeConfig) { c.Brokers = []string{"kafka-1"} }, "bridge.brokers"},
		{"bad site", func(c *broker.BridgeConfig) { c.Site = "Fra Main" }, "bridge.site"},
		{"unknown local topic", func(c *broker.BridgeConfig) { c.Inbound["x"] = "nope" }, "bridge.inbound"},
		{"into deadletter", func(c *broker.BridgeConfig) { c.Inbound["x"] = app.TopicDeadLetter }, "bridge.inbound"},
		{"unknown outbound", func(c *broker.BridgeConfig) { c.Outbound = []string{"nope"} }, "bridge.outbound"},
		{"naming", func(c *broker.BridgeConfig) { c.RemoteNaming = "suffix" }, "bridge.remote_naming"},
		{"identity loop", func(c *broker.BridgeConfig) {
			c.RemoteNaming = broker.RemoteNameIdentity
			c.Inbound["rebookings"] = app.TopicRebookings
		}, "bridge.remote_naming"},
		{"cert without key", func(c *broker.BridgeConfig) { c.TLSCertFile = "c.pem" }, "bridge.tls_cert"},
		{"sasl mechanism", func(c *broker.BridgeConfig) { c.SASLMechanism = "GSSAPI" }, "bridge.sasl_mechanism"},
		{"sasl without password", func(c *broker.BridgeConfig) {
			c.SASLMechanism, c.SASLUser = broker.SASLScramSHA512, "apron"
		}, "bridge.sasl_user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if app.ErrorCode(err) != app.EINVALID || !strings.HasPrefix(app.ErrorMessage(err), tc.field) {
				t.Fatalf("got %v, want an invalid error on %s", err, tc.field)
			}
		})
	}
}

// TestBridgeRunsWithoutKafka: the node opens and buffers while the cluster
// is unreachable, and says so.
func TestBridgeRunsWithoutKafka(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	b := mustOpenLog(t)
	var events []*app.Event
	for i := range 25 {
		events = append(events, rebookingEvent(t, i, "ABC123"))
	}
	if _, err := b.Append(context.Background(), app.TopicRebookings, events); err != nil {
		t.Fatal(err)
	}
	cfg := bridgeConfig(dead, testSite)
	cfg.Inbound = map[string]string{"flights": app.TopicFlights}
	cfg.Outbound = []string{app.TopicRebookings}
	br := mustOpenBridge(t, cfg, b)
	checkFor(t, 15*time.Second, func() error {
		st := br.Status(context.Background())
		if st.Connected || st.LastError == "" {
			return fmt.Errorf("connected %v, last error %q; want disconnected with an error", st.Connected, st.LastError)
		}
		if len(st.Outbound) != 1 || st.Outbound[0].Backlog != 25 || st.Outbound[0].Remote != "fra.rebookings" {
			return fmt.Errorf("outbound %+v, want a backlog of 25 for fra.rebookings", st.Outbound)
		}
		return nil
	})
	start := time.Now()
	closeBridge(t, br)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("close took %v while the cluster was down", d)
	}
}

// TestBridgeInbound: structured and binary CloudEvents from Kafka (one of
// them written by kcat) reach the local log in order per key with their
// headers; refused records go to the deadletter topic with their Kafka
// coordinates; a redelivery is stored once; offsets are committed.
func TestBridgeInbound(t *testing.T) {
	k := SharedKafka(t)
	site := uniqueSite("in")
	topic := "flights-" + site // the central flights topic
	k.CreateTopics(t, 3, topic, site+".heartbeats")
	b := mustOpenLog(t)
	cl := k.Client(t)

	keys := []string{"LH400-2026-11-25", "LH401-2026-11-25", "LH402-2026-11-25"}
	statuses := []string{"scheduled", "boarding", "delayed", "departed", "arrived", "cancelled"}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	want := map[string][]string{} // key -> event ids in produce order
	var recs []*kgo.Record
	for i, st := range statuses {
		for _, key := range keys {
			e := flightEvent(t, fmt.Sprintf("%s-%d", key, i), key, at.Add(time.Duration(i)*time.Minute), st)
			trace := kgo.RecordHeader{Key: "trace-id", Value: []byte("t-" + e.ID)}
			if i%2 == 0 {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: e.Raw,
					Headers: []kgo.RecordHeader{trace, {Key: "content-type", Value: []byte("application/cloudevents+json")}}})
			} else {
				recs = append(recs, binaryRecord(topic, e, key, trace))
			}
			want[key] = append(want[key], e.ID)
		}
	}
	produceSync(t, cl, recs...)

	// An independent client.
	kcatEvent := flightEvent(t, "kcat-1", "LH499-2026-11-25", at, "scheduled")
	cmd := exec.Command("kcat", "-P", "-b", k.Addr, "-t", topic, "-k", "LH499-2026-11-25", "-H", "trace-id=kcat")
	cmd.Stdin = strings.NewReader(string(kcatEvent.Raw) + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}

	// Refused: not JSON; wrong schema; binary mode with data that is not
	// an object. And one that came from this site and a tombstone, which
	// are skipped.
	badSchema := flightEvent(t, "bad-schema", "LH400-2026-11-25", at, "scheduled")
	badSchema.Raw = []byte(strings.Replace(string(badSchema.Raw), `"origin":"FRA",`, "", 1))
	badBinary := flightEvent(t, "bad-binary", "LH401-2026-11-25", at, "scheduled")
	bad := []*kgo.Record{
		{Topic: topic, Key: []byte("bad-1"), Value: []byte("this is not json")},
		{Topic: topic, Key: []byte("LH400-2026-11-25"), Value: badSchema.Raw},
		binaryRecord(topic, badBinary, "LH401-2026-11-25"),
	}
	bad[2].Value = []byte("<flight/>")
	loop := flightEvent(t, "from-fra", "LH400-2026-11-25", at, "scheduled")
	bad = append(bad, &kgo.Record{Topic: topic, Key: []byte("LH400-2026-11-25"), Value: loop.Raw,
		Headers: []kgo.RecordHeader{{Key: broker.HeaderOrigin, Value: []byte(site)}}},
		&kgo.Record{Topic: topic, Key: []byte("LH402-2026-11-25")}) // a tombstone, skipped too
	produceSync(t, cl, bad...)

	cfg := bridgeConfig(k.Addr, site)
	cfg.Inbound = map[string]string{topic: app.TopicFlights}
	br := mustOpenBridge(t, cfg, b)
	waitEntries(t, b, app.TopicFlights, uint64(len(recs)+1), 60*time.Second)
	waitEntries(t, b, app.TopicDeadLetter, 3, 10*time.Second)

	entries := readAll(t, b, app.TopicFlights, 1)
	got := map[string][]string{}
	for _, le := range entries {
		e, err := app.DefaultValidator().Parse(le.Data, app.TopicFlights)
		if err != nil {
			t.Fatalf("offset %d: %v", le.Offset, err)
		}
		got[le.Key] = append(got[le.Key], e.ID)
		if !b.Trusted(le) {
			t.Errorf("offset %d: not sealed as validated", le.Offset)
		}
		if e.ID == "kcat-1" {
			if first1(le.Headers, "Kafka-Header-trace-id") != "kcat" || first1(le.Headers, broker.HeaderKafkaKey) != "LH499-2026-11-25" {
				t.Errorf("kcat record headers: %v", le.Headers)
			}
			continue
		}
		if h := first1(le.Headers, "Kafka-Header-trace-id"); h != "t-"+e.ID {
			t.Errorf("%s: trace-id header %q", e.ID, h)
		}
		if h := first1(le.Headers, broker.HeaderKafkaKey); h != le.Key {
			t.Errorf("%s: Kafka-Key %q, want %q", e.ID, h, le.Key)
		}
		if first1(le.Headers, broker.HeaderKafkaTopic) != topic || first1(le.Headers, broker.HeaderKafkaOffset) == "" {
			t.Errorf("%s: provenance headers %v", e.ID, le.Headers)
		}
		i, _ := strconv.Atoi(e.ID[strings.LastIndex(e.ID, "-")+1:])
		if binary := first1(le.Headers, broker.HeaderKafkaBinary) == "true"; binary != (i%2 == 1) {
			t.Errorf("%s: binary mode %v", e.ID, binary)
		}
	}
	for _, key := range keys {
		if fmt.Sprint(got[key]) != fmt.Sprint(want[key]) {
			t.Errorf("key %s: got %v, want %v", key, got[key], want[key])
		}
	}
	if fmt.Sprint(got["LH499-2026-11-25"]) != "[kcat-1]" {
		t.Errorf("kcat record: %v", got["LH499-2026-11-25"])
	}

	// Dead letters name the Kafka record they wrap.
	reasons := map[string]string{}
	for _, le := range readAll(t, b, app.TopicDeadLetter, 1) {
		var e struct {
			Type string             `json:"type"`
			Data app.DeadLetterData `json:"data"`
		}
		if err := json.Unmarshal(le.Data, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type != app.TypeDeadLetter || e.Data.Origin["kafka_topic"] != topic {
			t.Fatalf("dead letter %s", le.Data)
		}
		var match *kgo.Record
		for _, r := range bad[:3] {
			if float64(r.Partition) == e.Data.Origin["partition"] && float64(r.Offset) == e.Data.Origin["offset"] {
				match = r
			}
		}
		if match == nil {
			t.Fatalf("dead letter with origin %v matches no refused record", e.Data.Origin)
		}
		if e.Data.Payload != string(match.Value) {
			t.Errorf("payload %q, want %q", e.Data.Payload, match.Value)
		}
		reasons[string(match.Key)] = e.Data.Reason
	}
	if len(reasons) != 3 || !strings.Contains(reasons["bad-1"], "not valid JSON") || !strings.Contains(reasons["LH400-2026-11-25"], "origin") {
		t.Errorf("reasons: %v", reasons)
	}

	checkFor(t, 10*time.Second, func() error {
		st := br.Status(context.Background())
		if len(st.Inbound) != 1 {
			return fmt.Errorf("inbound %+v", st.Inbound)
		}
		in := st.Inbound[0]
		if !st.Connected || in.Records != uint64(len(recs)+1) || in.DeadLetters != 3 || in.Skipped != 2 || in.Backlog != 0 || in.LastRecord.IsZero() {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})

	// Offsets are committed up to the end.
	checkFor(t, 10*time.Second, func() error {
		adm := kadm.NewClient(cl)
		ctx := context.Background()
		offs, err := adm.FetchOffsets(ctx, "apron-"+site) // the default group
		if err != nil {
			return err
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		var bad []string
		ends.Each(func(o kadm.ListedOffset) {
			c, ok := offs.Lookup(topic, o.Partition)
			if !ok || c.At != o.Offset {
				bad = append(bad, fmt.Sprintf("p%d committed %d end %d", o.Partition, c.At, o.Offset))
			}
		})
		if len(bad) > 0 {
			return errors.New(strings.Join(bad, "; "))
		}
		return nil
	})

	// A second group reads everything again: nothing is stored twice.
	closeBridge(t, br)
	cfg.Group = "apron-" + site + "-replay"
	br2 := mustOpenBridge(t, cfg, b)
	checkFor(t, 30*time.Second, func() error {
		st := br2.Status(context.Background())
		if in := st.Inbound[0]; in.Records != uint64(len(recs)+1) || in.DeadLetters != 3 {
			return fmt.Errorf("replay status %+v", in)
		}
		return nil
	})
	for topic, want := range map[string]uint64{app.TopicFlights: uint64(len(recs) + 1), app.TopicDeadLetter: 3} {
		if n, err := countEntries(b, topic); err != nil || n != want {
			t.Errorf("%s after replay: %d entries (%v), want %d", topic, n, err, want)
		}
	}
}

// TestBridgeOutbound: local rebookings reach <site>.rebookings once each,
// in order per key, with their headers; entries mirrored from Kafka are
// not sent back; heartbeats flow.
func TestBridgeOutbound(t *testing.T) {
	k := SharedKafka(t)
	site := uniqueSite("out")
	remote := site + ".rebookings"
	k.CreateTopics(t, 3, remote, site+".heartbeats")
	b := mustOpenLog(t)
	ctx := context.Background()

	const n = 300
	var events []*app.Event
	for i := range n {
		events = append(events, rebookingEvent(t, i, fmt.Sprintf("ABC%03d", i%10)))
	}
	for i := 0; i < n; i += 50 {
		if _, err := b.Append(ctx, app.TopicRebookings, events[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	mirrored := rebookingEvent(t, 9999, "ZZZ999")
	m := broker.MessageOf(mirrored)
	m.Headers = map[string][]string{broker.HeaderKafkaTopic: {"central.rebookings"}}
	if _, err := b.AppendMessages(ctx, app.TopicRebookings, []broker.Message{m}); err != nil {
		t.Fatal(err)
	}

	cfg := bridgeConfig(k.Addr, site)
	cfg.Outbound = []string{app.TopicRebookings}
	cfg.MaxInFlight = 64
	br := mustOpenBridge(t, cfg, b)

	recs := k.ReadAll(t, remote, n, 60*time.Second)
	checkOutbound(t, site, recs, n)
	checkFor(t, 10*time.Second, func() error {
		st := br.Status(ctx)
		if len(st.Outbound) != 1 {
			return fmt.Errorf("outbound %+v", st.Outbound)
		}
		out := st.Outbound[0]
		if !st.Connected || out.Records != n || out.Skipped != 1 || out.Backlog != 0 || st.Heartbeats == 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if hb := k.ReadAll(t, site+".heartbeats", 1, 10*time.Second); len(hb) == 0 || string(hb[0].Key) != site {
		t.Fatalf("heartbeats: %v", hb)
	}
	// Nothing more arrives later (no duplicate, no mirrored entry).
	if recs := k.ReadAll(t, remote, n+1, 2*time.Second); len(recs) != n {
		t.Fatalf("%s holds %d records, want %d", remote, len(recs), n)
	}
}

// checkOutbound checks that recs hold the rebookings rb-00000 .. rb-<n-1>
// exactly once, in order per key.
func checkOutbound(tb testing.TB, site string, recs []*kgo.Record, n int) {
	tb.Helper()
	seen := map[string]int{}
	last := map[string]int{}
	for _, r := range recs {
		id := header(r, "ce_id")
		seen[id]++
		var e app.Event
		if err := json.Unmarshal(r.Value, &e); err != nil || e.ID != id {
			tb.Fatalf("record %s[%d]@%d: value %s (ce_id %q)", r.Topic, r.Partition, r.Offset, r.Value, id)
		}
		if string(r.Key) != e.Subject || header(r, broker.HeaderOrigin) != site || header(r, broker.HeaderOriginOffset) == "" {
			tb.Fatalf("record %s: key %q, headers %v", id, r.Key, r.Headers)
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "rb-"))
		if p, ok := last[string(r.Key)]; ok && p > i {
			tb.Fatalf("key %s: %s after rb-%05d", r.Key, id, p)
		}
		last[string(r.Key)] = i
	}
	var missing, dup []string
	for i := range n {
		id := fmt.Sprintf("rb-%05d", i)
		switch seen[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			dup = append(dup, fmt.Sprintf("%s x%d", id, seen[id]))
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(recs) != n {
		tb.Fatalf("%d records; %d missing %v; %d duplicated %v", len(recs), len(missing), head(missing), len(dup), head(dup))
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// TestBridgeSurvivesKafkaKill: Kafka is killed while the bridge forwards
// 2000 rebookings and mirrors 2000 flight events, and restarted on the
// same data. Every rebooking reaches Kafka once and every flight event the
// local log once, in order per key.
func TestBridgeSurvivesKafkaKill(t *testing.T) {
	k := MustRunKafka(t)
	k.CreateTopics(t, 3, "flights", "fra.rebookings", "fra.heartbeats")
	b := mustOpenLog(t)
	ctx := context.Background()
	const n = 2000

	// Inbound: half before the kill, half after the restart.
	keys := 20
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	flights := func(from, to int) []*kgo.Record {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			key := fmt.Sprintf("LH%d-2026-11-25", 1000+i%keys)
			e := flightEvent(t, fmt.Sprintf("f-%05d", i), key, at.Add(time.Duration(i)*time.Second), "delayed")
			recs = append(recs, &kgo.Record{Topic: "flights", Key: []byte(key), Value: e.Raw})
		}
		return recs
	}
	producer := k.Client(t)
	produceSync(t, producer, flights(0, n/2)...)

	cfg := bridgeConfig(k.Addr, testSite)
	cfg.Inbound = map[string]string{"flights": app.TopicFlights}
	cfg.Outbound = []string{app.TopicRebookings}
	cfg.MaxInFlight = 50
	cfg.MaxPollRecords = 50
	br := mustOpenBridge(t, cfg, b)

	// Outbound: a writer appends the first half while the link is up and
	// the second half while it is down.
	killed := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		defer close(writeErr)
		for i := 0; i < n; i += 10 {
			if i == n/2 {
				<-killed
			}
			var events []*app.Event
			for j := i; j < i+10; j++ {
				events = append(events, rebookingEvent(t, j, fmt.Sprintf("ABC%03d", j%7)))
			}
			if _, err := b.Append(ctx, app.TopicRebookings, events); err != nil {
				writeErr <- err
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()

	checkFor(t, 30*time.Second, func() error {
		if st := br.Status(ctx); st.Outbound[0].Records < 200 || st.Inbound[0].Records < 50 {
			return fmt.Errorf("forwarded %d, mirrored %d", st.Outbound[0].Records, st.Inbound[0].Records)
		}
		return nil
	})
	k.Kill(t)
	close(killed)
	before := br.Status(ctx)
	t.Logf("killed kafka after %d outbound, %d inbound records", before.Outbound[0].Records, before.Inbound[0].Records)
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	checkFor(t, 30*time.Second, func() error {
		st := br.Status(ctx)
		if st.Connected {
			return errors.New("still connected")
		}
		if st.Outbound[0].Backlog < int64(n/2) {
			return fmt.Errorf("backlog %d while down, want at least %d", st.Outbound[0].Backlog, n/2)
		}
		return nil
	})
	k.Start(t)
	produceSync(t, producer, flights(n/2, n)...)

	restarted := time.Now()
	recs := k.ReadAll(t, "fra.rebookings", n, 120*time.Second)
	t.Logf("outbound complete %v after the restart", time.Since(restarted).Round(time.Millisecond))
	waitEntries(t, b, app.TopicFlights, n, 120*time.Second)
	t.Logf("inbound complete %v after the restart", time.Since(restarted).Round(time.Millisecond))
	checkOutbound(t, testSite, recs, n)

	seen := map[string]int{}
	last := map[string]int{}
	for _, le := range readAll(t, b, app.TopicFlights, 1) {
		var e app.Event
		if err := json.Unmarshal(le.Data, &e); err != nil {
			t.Fatal(err)
		}
		seen[e.ID]++
		i, _ := strconv.Atoi(strings.TrimPrefix(e.ID, "f-"))
		if p, ok := last[le.Key]; ok && p > i {
			t.Fatalf("key %s: %s after f-%05d", le.Key, e.ID, p)
		}
		last[le.Key] = i
	}
	for i := range n {
		if id := fmt.Sprintf("f-%05d", i); seen[id] != 1 {
			t.Fatalf("%s stored %d times", id, seen[id])
		}
	}
	checkFor(t, 30*time.Second, func() error {
		st := br.Status(ctx)
		if !st.Connected || st.Outbound[0].Backlog != 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
}

// TestBridgeRestartDoesNotDuplicate: the bridge is closed and opened again
// while it forwards; the new run resumes after what Kafka already holds.
func TestBridgeRestartDoesNotDuplicate(t *testing.T) {
	k := SharedKafka(t)
	site := uniqueSite("rst")
	remote := site + ".rebookings"
	k.CreateTopics(t, 3, remote, site+".heartbeats")
	b := mustOpenLog(t)
	ctx := context.Background()
	const n = 2000
	var events []*app.Event
	for i := range n {
		events = append(events, rebookingEvent(t, i, fmt.Sprintf("ABC%03d", i%7)))
	}
	if _, err := b.Append(ctx, app.TopicRebookings, events); err != nil {
		t.Fatal(err)
	}
	cfg := bridgeConfig(k.Addr, site)
	cfg.Outbound = []string{app.TopicRebookings}
	cfg.MaxInFlight = 50
	for round := range 3 {
		br := broker.NewBridge(cfg, b)
		br.Logger = testLogger(t)
		if err := br.Open(); err != nil {
			t.Fatal(err)
		}
		want := uint64(200 + 300*round)
		checkFor(t, 30*time.Second, func() error {
			if st := br.Status(ctx); st.Outbound[0].Records < want/3 {
				return fmt.Errorf("forwarded %d", st.Outbound[0].Records)
			}
			return nil
		})
		closeBridge(t, br)
	}
	mustOpenBridge(t, cfg, b)
	checkOutbound(t, site, k.ReadAll(t, remote, n, 60*time.Second), n)
	if recs := k.ReadAll(t, remote, n+1, 2*time.Second); len(recs) != n {
		t.Fatalf("%s holds %d records, want %d", remote, len(recs), n)
	}
}

// TestBridgeResumesAfterCrash: a crash between Kafka's acknowledgement and
// the local one leaves entries that JetStream delivers again. The state is
// built by hand: entries 1-20 acknowledged locally, 1-40 already in Kafka,
// 41-50 delivered but never produced. The bridge must produce 41 onwards
// only.
func TestBridgeResumesAfterCrash(t *testing.T) {
	k := SharedKafka(t)
	site := uniqueSite("crash")
	remote := site + ".rebookings"
	k.CreateTopics(t, 3, remote, site+".heartbeats")
	b := mustOpenLog(t)
	ctx := context.Background()
	const n = 500
	var events []*app.Event
	for i := range n {
		events = append(events, rebookingEvent(t, i, fmt.Sprintf("ABC%03d", i%7)))
	}
	if _, err := b.Append(ctx, app.TopicRebookings, events); err != nil {
		t.Fatal(err)
	}

	s, err := b.JetStream().Stream(ctx, app.TopicRebookings)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bridge-out-rebookings",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxAckPending: 50, MaxDeliver: -1})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(50, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for m := range batch.Messages() {
		meta, _ := m.Metadata()
		if meta.Sequence.Stream <= 20 {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if meta.Sequence.Stream > 40 {
			continue
		}
		e := events[meta.Sequence.Stream-1]
		recs = append(recs, &kgo.Record{Topic: remote, Key: []byte(e.Subject), Value: m.Data(), Headers: []kgo.RecordHeader{
			{Key: "ce_id", Value: []byte(e.ID)},
			{Key: broker.HeaderOrigin, Value: []byte(site)},
			{Key: broker.HeaderOriginTopic, Value: []byte(app.TopicRebookings)},
			{Key: broker.HeaderOriginOffset, Value: []byte(strconv.FormatUint(meta.Sequence.Stream, 10))},
		}})
	}
	if len(recs) != 40 {
		t.Fatalf("fetched %d", len(recs))
	}
	produceSync(t, k.Client(t), recs...)

	cfg := bridgeConfig(k.Addr, site)
	cfg.Outbound = []string{app.TopicRebookings}
	cfg.MaxInFlight = 50
	br := mustOpenBridge(t, cfg, b)
	checkOutbound(t, site, k.ReadAll(t, remote, n, 60*time.Second), n)
	checkFor(t, 10*time.Second, func() error {
		if st := br.Status(ctx); st.Outbound[0].Records != n-40 || st.Outbound[0].Skipped != 20 || st.Outbound[0].Backlog != 0 {
			return fmt.Errorf("status %+v", st.Outbound[0])
		}
		return nil
	})
	if recs := k.ReadAll(t, remote, n+1, 2*time.Second); len(recs) != n {
		t.Fatalf("%s holds %d records, want %d", remote, len(recs), n)
	}
}
