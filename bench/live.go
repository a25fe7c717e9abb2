package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
	"github.com/ollama/ollama/api"
)

// LiveConfig shapes the live assistant benchmark.
type LiveConfig struct {
	Dir        string
	Out        io.Writer
	OllamaURL  string
	Duration   time.Duration // how long the day plays while questions are asked
	Speed      float64       // the simulated clock's speed (the demo's default is 60)
	Departures int
	Seed       uint64
	Every      time.Duration // one question (and one search) this often
}

// liveSample is one staff question as a client saw it.
type liveSample struct {
	kind        string // facts or policy
	firstAnswer time.Duration
	total       time.Duration
	answered    bool // a real answer, not "Not in the data" nor an error
	summary     string
}

// AssistLive runs the node as `apron demo` does, with the real models and
// the simulated day flowing, and meanwhile asks staff questions and runs
// searches like a client: the time to the first useful answer (the SSE
// "answer" event), search latency, and the index's freshness sampled
// every second, beside raw /api/embed calls to the same Ollama in the
// same run.
func AssistLive(ctx context.Context, cfg LiveConfig) error {
	cfgN := node.DefaultConfig()
	cfgN.Data, cfgN.HTTP, cfgN.NATS.Addr, cfgN.Ollama.URL = cfg.Dir, "127.0.0.1:0", "127.0.0.1:0", cfg.OllamaURL
	zone, _ := time.LoadLocation(cfgN.TimeZone)
	day := sim.Generate(sim.Config{Seed: cfg.Seed, Hub: cfgN.Hub, Departures: cfg.Departures, Now: time.Now().In(zone)})
	clock := sim.NewClock(day.Start, cfg.Speed)
	m := node.NewMain(cfgN, slog.New(slog.DiscardHandler))
	m.Clock, m.Demo = clock.Now, true
	if err := m.Open(ctx); err != nil {
		_ = m.Close(context.Background())
		return err
	}
	defer func() { _ = m.Close(context.Background()) }()
	r := &liveRun{cfg: cfg, m: m, embedModel: cfgN.Ollama.EmbedModel, tok: app.NewSecret("apron_")}
	if _, err := m.Store.CreateToken(ctx, "bench", app.RoleAgent, app.HashSecret(r.tok), time.Now()); err != nil {
		return err
	}
	// Warm the model, then take enough idle samples for a p99.
	if _, err := r.rawEmbed(ctx, 3); err != nil {
		return fmt.Errorf("raw embed warm-up: %w", err)
	}
	idleEmbed, err := r.rawEmbed(ctx, MinSamplesP99)
	if err != nil {
		return fmt.Errorf("raw embed baseline: %w", err)
	}
	load := WatchLoad()

	dctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	go func() { _ = sim.Play(dctx, m.Broker, day, clock, slog.New(slog.DiscardHandler)) }()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.sampleFreshness(dctx)
	}()
	if err := r.askUntilDone(dctx); err != nil {
		return err
	}
	wg.Wait()
	fmt.Fprintf(cfg.Out, "apron bench assist-live: %s of a simulated %s day at %gx, %d departures, a question every %s\n\n", cfg.Duration, cfgN.Hub, cfg.Speed, cfg.Departures, cfg.Every)
	r.report(idleEmbed)
	fmt.Fprintf(cfg.Out, "\n%s\n", load.Report())
	return nil
}

// liveRun is the client side of AssistLive and what it measured.
type liveRun struct {
	cfg        LiveConfig
	m          *node.Main
	embedModel string
	tok        string

	mu        sync.Mutex
	lags      []float64 // worst index age in seconds, sampled every second
	vecLags   []float64 // worst age of the vectors (the embed consumer)
	asks      []liveSample
	searches  []time.Duration
	busyEmbed []time.Duration
}

// rawEmbed times n raw /api/embed calls to the node's Ollama.
func (r *liveRun) rawEmbed(ctx context.Context, n int) ([]time.Duration, error) {
	u, _ := url.Parse(r.cfg.OllamaURL)
	c := api.NewClient(u, http.DefaultClient)
	var d []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := c.Embed(ctx, &api.EmbedRequest{Model: r.embedModel, Input: fmt.Sprintf("hotel voucher overnight %d", i)}); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	return d, nil
}

// sampleFreshness records the index's worst topic age every second until
// ctx is done.
func (r *liveRun) sampleFreshness(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		idx, errIdx := worstAge(ctx, r.m, app.IndexConsumer)
		vec, errVec := worstAge(ctx, r.m, app.EmbedConsumer)
		r.mu.Lock()
		if errIdx == nil {
			r.lags = append(r.lags, idx)
		}
		if errVec == nil {
			r.vecLags = append(r.vecLags, vec)
		}
		r.mu.Unlock()
	}
}

// worstAge is the age in seconds of the oldest entry consumer has not
// applied on any state topic.
func worstAge(ctx context.Context, m *node.Main, consumer string) (float64, error) {
	fs, err := m.Fresh.Of(ctx, consumer, app.TopicFlights, app.TopicBookings, app.TopicPassengers, app.TopicDocuments)
	if err != nil {
		return 0, err
	}
	worst := 0.0
	for _, f := range fs {
		worst = max(worst, f.AgeSeconds)
	}
	return worst, nil
}

// askUntilDone asks a question and runs a search every cfg.Every, and a
// raw embed every fifth question, until ctx is done.
func (r *liveRun) askUntilDone(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 7))
	tick := time.NewTicker(r.cfg.Every)
	defer tick.Stop()
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil {
			break
		}
		q, kind := liveQuestion(ctx, r.m, rng, i)
		if q == "" {
			continue
		}
		s, err := askSSE(ctx, r.m.HTTP.URL(), r.tok, q)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("ask %q: %w", q, err)
		}
		s.kind = kind
		r.asks = append(r.asks, s)
		start := time.Now()
		if err := searchOnce(ctx, r.m.HTTP.URL(), r.tok, strings.Fields(q)[len(strings.Fields(q))-1]); err == nil {
			r.searches = append(r.searches, time.Since(start))
		}
		if i%5 == 0 {
			if d, err := r.rawEmbed(ctx, 1); err == nil {
				r.busyEmbed = append(r.busyEmbed, d...)
			}
		}
	}
	return nil
}

func (r *liveRun) report(idleEmbed []time.Duration) {
	out := r.cfg.Out
	for _, kind := range []string{app.AnswerFacts, app.AnswerPolicy} {
		var first, total []time.Duration
		answered, shown, asked := 0, 0, 0
		for _, s := range r.asks {
			if s.kind != kind {
				continue
			}
			first, total = append(first, s.firstAnswer), append(total, s.total)
			if s.answered {
				answered++
			}
			if s.summary != "" {
				asked++
				if s.summary == "shown" {
					shown++
				}
			}
		}
		fmt.Fprintf(out, "%-30s %s   answered %d of %d\n", kind+" questions, first answer", Summarize(first), answered, len(first))
		fmt.Fprintf(out, "%-30s %s\n", kind+" questions, whole answer", Summarize(total).String())
		if kind == app.AnswerPolicy {
			fmt.Fprintf(out, "%-30s %d of %d shown\n", "model summaries", shown, asked)
		}
	}
	fmt.Fprintf(out, "%-30s %s\n", "/api/v1/search", Summarize(r.searches).String())
	fmt.Fprintf(out, "%-30s %s\n", "raw /api/embed, idle", Summarize(idleEmbed).String())
	fmt.Fprintf(out, "%-30s %s\n", "raw /api/embed, during the day", Summarize(r.busyEmbed).String())
	sort.Float64s(r.lags)
	fmt.Fprintf(out, "%-30s %s\n", "index freshness (worst topic)", secondsQuantiles(r.lags))
	sort.Float64s(r.vecLags)
	fmt.Fprintf(out, "%-30s %s\n", "vector freshness (worst topic)", secondsQuantiles(r.vecLags))
	for _, st := range r.m.Sched.Stats() {
		fmt.Fprintf(out, "model %-12s served %d, preempted %d, timeouts %d, rejected %d, wait max %.1fs\n", st.Class, st.Served, st.Preempted, st.Timeouts, st.Rejected, st.WaitMax)
	}
}

// liveQuestion picks a staff question about the current day: about a
// flight departing soon (status, wheelchair passengers, connections) or
// one of the policy questions.
func liveQuestion(ctx context.Context, m *node.Main, rng *rand.Rand, i int) (string, string) {
	if i%2 == 1 {
		qs := []string{
			"What does the policy say about hotel vouchers for overnight cancellations?",
			"What is the minimum connection time for non-Schengen transfers?",
			"How much compensation for a long-haul flight?",
			"meal vouchers after a long delay?",
			"When must the assistance service be told about a wheelchair passenger?",
		}
		return qs[rng.IntN(len(qs))], app.AnswerPolicy
	}
	fs, err := m.Store.Flights(ctx, app.FlightFilter{Airport: m.Config.Hub, Limit: 400})
	if err != nil || len(fs) == 0 {
		return "", ""
	}
	f := fs[rng.IntN(len(fs))]
	des := f.Carrier + f.Number
	qs := []string{"Is %s on time?", "Which wheelchair passengers are on %s?", "who on %s misses their connection", "gate of %s", "how many passengers on %s"}
	return fmt.Sprintf(qs[rng.IntN(len(qs))], des), app.AnswerFacts
}

// askSSE asks one question as the console does and times the events.
func askSSE(ctx context.Context, base, tok, question string) (liveSample, error) {
	b, _ := json.Marshal(map[string]string{"question": question})
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/ask", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return liveSample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		return liveSample{}, fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	var s liveSample
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
			if event == "answer" && s.firstAnswer == 0 {
				s.firstAnswer = time.Since(start)
			}
		case strings.HasPrefix(line, "data: ") && event == "error":
			return s, fmt.Errorf("error event: %s", line)
		case strings.HasPrefix(line, "data: ") && event == "done":
			var a app.AskAnswer
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &a); err != nil {
				return s, err
			}
			s.answered = !a.NotInData
			s.summary = a.SummaryStatus
		}
	}
	s.total = time.Since(start)
	return s, sc.Err()
}

func searchOnce(ctx context.Context, base, tok, q string) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/search?q="+url.QueryEscape(q), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("search: %d", resp.StatusCode)
	}
	return nil
}

func secondsQuantiles(v []float64) string {
	q := func(p, need int) string {
		if len(v) < need {
			return "n/a"
		}
		return fmt.Sprintf("%.1fs", v[min(len(v)-1, len(v)*p/100)])
	}
	worst := "n/a"
	if len(v) > 0 {
		worst = fmt.Sprintf("%.1fs", v[len(v)-1])
	}
	return fmt.Sprintf("p50 %-8s p99 %-8s max %s (n=%d)", q(50, 1), q(99, 100), worst, len(v))
}
