package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// switchProxy forwards TCP connections to target while on; while off it
// closes every connection it is given, and switching it off cuts the
// connections already open (the HTTP client's idle keep-alives with them),
// so the model server looks stopped to the node.
type switchProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	on    bool
	conns map[net.Conn]struct{}
}

func mustRunProxy(tb testing.TB, target string) *switchProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &switchProxy{ln: ln, target: target, on: true, conns: map[net.Conn]struct{}{}}
	go p.serve()
	tb.Cleanup(func() { ln.Close(); p.set(false) })
	return p
}

func (p *switchProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *switchProxy) set(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on = on
	if !on {
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}

func (p *switchProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *switchProxy) forward(c net.Conn) {
	p.mu.Lock()
	on := p.on
	p.mu.Unlock()
	if !on {
		c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if !p.on {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// consumerFreshness reads one consumer's freshness on topic from the
// topics API.
func consumerFreshness(base, consumer, topic string) (app.Freshness, error) {
	resp, err := authGet(base + "/api/v1/topics")
	if err != nil {
		return app.Freshness{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Consumers []app.Freshness `json:"consumers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return app.Freshness{}, fmt.Errorf("topics: %d: %w", resp.StatusCode, err)
	}
	for _, f := range body.Consumers {
		if f.Consumer == consumer && f.Topic == topic {
			return f, nil
		}
	}
	return app.Freshness{}, fmt.Errorf("no %s consumer on %s in %+v", consumer, topic, body.Consumers)
}

func metricsText(base string) (string, error) {
	resp, err := authGet(base + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestFreshnessWhileTheEmbeddingModelIsDown stops the embedding model
// (a proxy in front of Ollama refuses connections), ingests a stream of
// flight and document changes, and checks that the vectors' freshness
// (the embed consumer) in the topics API, the metrics and the stamp on
// answers counts exactly the entries ingested since, with an age that
// grows with the wall clock, while the state and the full text (the index
// consumer) stay current; with the model back, the vectors catch up and
// everything reads fresh again.
func TestFreshnessWhileTheEmbeddingModelIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	proxy := mustRunProxy(t, strings.TrimPrefix(ollamaTestURL(), "http://"))
	// A short bound, so that the vectors lag within seconds of the model
	// going away (the default is 30 s).
	const bound = 10 * time.Second
	m := MustRunMain(t, func(c *node.Config) {
		c.Ollama.URL, c.Ollama.ChatModel, c.FreshnessBound = proxy.URL(), "", node.Duration(bound)
	})
	base := m.HTTP.URL()
	topics := []string{app.TopicFlights, app.TopicDocuments}
	const question = `{"question":"What does the policy say about meal vouchers for long delays?"}`

	flight := func(i int) string {
		return flightJSON(fmt.Sprintf("fresh-f%d", i), fmt.Sprintf("LH%d-2026-11-25", 1000+i), app.FlightDelayed, time.Date(2026, 11, 25, 8, 0, i, 0, time.UTC))
	}
	document := func(i int) string {
		// Distinct texts: a text the index has a vector for needs no model.
		return policyEvent(t, fmt.Sprintf("fresh-policy-%d", i), fmt.Sprintf("Delay care %d", i),
			fmt.Sprintf("## Meal vouchers\nAfter a delay of %d hours or more, passengers receive meal vouchers worth %d euros at the service desk.", 2+i%5, 10+i))
	}
	ingest := func(i int) {
		t.Helper()
		if code, body := post(t, base+"/api/v1/topics/flights/events", flight(i)); code != 200 || body["accepted"].(float64) != 1 {
			t.Fatalf("flight %d: %d %v", i, code, body)
		}
		if code, body := post(t, base+"/api/v1/topics/documents/events", document(i)); code != 200 || body["accepted"].(float64) != 1 {
			t.Fatalf("document %d: %d %v", i, code, body)
		}
	}

	// With the model up, one change of each kind reaches the index, so the
	// index has a position on both topics.
	ingest(0)
	offsets := map[string]uint64{}
	checkFor(t, 90*time.Second, func() error {
		for _, topic := range topics {
			f, err := consumerFreshness(base, app.IndexConsumer, topic)
			if err != nil {
				return err
			}
			if f.Offset == 0 || f.Behind != 0 || f.AgeSeconds != 0 || !f.Known || f.Lagging {
				return fmt.Errorf("index not caught up: %+v", f)
			}
			v, err := consumerFreshness(base, app.EmbedConsumer, topic)
			if err != nil {
				return err
			}
			if v.Offset != f.Offset || v.Behind != 0 {
				return fmt.Errorf("vectors not caught up: %+v", v)
			}
			offsets[topic] = f.Offset
		}
		return nil
	})

	// The model stops; changes keep coming.
	proxy.set(false)
	// One change of each kind a second: the exact counts do not depend on
	// the rate, and the catch-up is short on a busy model server.
	const ingestFor, every = bound + 6*time.Second, time.Second
	var firstPost time.Time // before the first entry after the index's position was stored
	n := 0
	type reading struct {
		at  time.Time
		age float64
	}
	var last *reading
	read := func() app.Freshness {
		t.Helper()
		var docs app.Freshness
		checkFor(t, 10*time.Second, func() error {
			for _, topic := range topics {
				st, err := consumerFreshness(base, app.StateConsumer, topic)
				if err != nil {
					return err
				}
				if st.Behind != 0 || st.AgeSeconds != 0 || st.Lagging {
					return fmt.Errorf("state behind: %+v", st)
				}
				// The full text never waits for the model.
				ix, err := consumerFreshness(base, app.IndexConsumer, topic)
				if err != nil {
					return err
				}
				if ix.Behind != 0 || ix.Lagging {
					return fmt.Errorf("text index behind: %+v", ix)
				}
			}
			return nil
		})
		for _, topic := range topics {
			before := time.Now()
			f, err := consumerFreshness(base, app.EmbedConsumer, topic)
			after := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if f.Offset != offsets[topic] || f.Behind != uint64(n) || !f.Known {
				t.Fatalf("vectors on %s after %d changes with the model down: %+v (position was %d)", topic, n, f, offsets[topic])
			}
			// The age is the wall-clock time since the first unapplied entry
			// was stored, which happened after firstPost.
			if hi := after.Sub(firstPost).Seconds() + 0.5; f.AgeSeconds <= 0 || f.AgeSeconds > hi {
				t.Fatalf("index on %s: age %.2fs, want in (0, %.2f]", topic, f.AgeSeconds, hi)
			}
			if topic != app.TopicDocuments {
				continue
			}
			docs = f
			if last != nil {
				if grown, want := f.AgeSeconds-last.age, before.Sub(last.at).Seconds()-0.5; grown < want {
					t.Fatalf("index age on documents grew by %.2fs in %.2fs of wall clock", grown, before.Sub(last.at).Seconds())
				}
			}
			last = &reading{at: after, age: f.AgeSeconds}
			t.Logf("%5.1fs down: %d changes, index %d behind on documents, age %.2fs, lagging %v", time.Since(firstPost).Seconds(), n, f.Behind, f.AgeSeconds, f.Lagging)
		}
		return docs
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	askedEarly := false
	for deadline := time.Now().Add(ingestFor); time.Now().Before(deadline); <-tick.C {
		if n == 0 {
			firstPost = time.Now()
		}
		n++
		ingest(n)
		if n%2 != 0 {
			continue
		}
		f := read()
		if !askedEarly && f.Age() < bound-3*time.Second {
			// Behind but within the bound: the stamp says how far, without
			// a warning.
			askedEarly = true
			_, ans := askStream(t, m, question)
			want := fmt.Sprintf("embed documents@%d", offsets[app.TopicDocuments])
			if !strings.Contains(ans.Freshness, want) || !strings.Contains(ans.Freshness, fmt.Sprintf("embed is %d entries (", n)) || ans.Lagging {
				t.Fatalf("early stamp %q lagging %v, want %q and %d entries behind", ans.Freshness, ans.Lagging, want, n)
			}
			t.Logf("early stamp: %s", ans.Freshness)
		}
	}
	if !askedEarly {
		t.Fatalf("no reading within %s of the model going away: the stamp before the bound was not checked", bound-3*time.Second)
	}
	f := read()
	if f.Age() <= bound || !f.Lagging {
		t.Fatalf("after %s down the index should lag: %+v", ingestFor, f)
	}
	metrics, err := metricsText(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`apron_consumer_lag_messages{consumer="embed",topic="documents"} %d`, n),
		fmt.Sprintf(`apron_consumer_lag_messages{consumer="embed",topic="flights"} %d`, n),
		`apron_consumer_lag_messages{consumer="index",topic="documents"} 0`,
		`apron_consumer_lag_messages{consumer="state",topic="documents"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(metrics, `apron_consumer_lag_seconds{consumer="embed",topic="documents"} `) ||
		strings.Contains(metrics, `apron_consumer_lag_seconds{consumer="embed",topic="documents"} 0`+"\n") {
		t.Errorf("metrics lack a nonzero vector age on documents")
	}
	_, ans := askStream(t, m, question)
	t.Logf("stamp with the model down: %s", ans.Freshness)
	if ans.Kind != app.AnswerPolicy || !ans.Lagging ||
		!strings.Contains(ans.Freshness, fmt.Sprintf("index documents@%d", offsets[app.TopicDocuments]+uint64(n))) ||
		!strings.Contains(ans.Freshness, fmt.Sprintf("embed documents@%d", offsets[app.TopicDocuments])) ||
		!strings.Contains(ans.Freshness, fmt.Sprintf("embed is %d entries (", n)) ||
		!strings.Contains(ans.Freshness, "recent changes may be missing") {
		t.Fatalf("answer with the model down: kind %s lagging %v stamp %q", ans.Kind, ans.Lagging, ans.Freshness)
	}
	for _, d := range ans.FreshnessDetail {
		if d.Consumer == app.EmbedConsumer && (d.Behind != uint64(n) || d.AgeSeconds < f.AgeSeconds) {
			t.Fatalf("answer's index freshness %+v, the topics API said %+v", d, f)
		}
	}

	// The model is back: the vectors catch up and read fresh.
	proxy.set(true)
	took := checkFor(t, 2*time.Minute, func() error {
		for _, topic := range topics {
			f, err := consumerFreshness(base, app.EmbedConsumer, topic)
			if err != nil {
				return err
			}
			if f.Behind != 0 || f.AgeSeconds != 0 || f.Lagging || f.Offset != offsets[topic]+uint64(n) {
				return fmt.Errorf("index on %s: %+v", topic, f)
			}
		}
		return nil
	})
	t.Logf("index caught up %s after the model came back", took.Round(time.Millisecond))
	_, ans = askStream(t, m, question)
	t.Logf("stamp with the model back: %s", ans.Freshness)
	if ans.Lagging || !strings.Contains(ans.Freshness, "index documents@") || !strings.HasSuffix(ans.Freshness, ": up to date with the log") {
		t.Fatalf("answer with the model back: lagging %v stamp %q", ans.Lagging, ans.Freshness)
	}
	metrics, err = metricsText(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`apron_consumer_lag_messages{consumer="embed",topic="documents"} 0`,
		`apron_consumer_lag_seconds{consumer="embed",topic="documents"} 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q once caught up", want)
		}
	}
}
