package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/inference"
	"github.com/ollama/ollama/api"
)

// Assist measures option generation for a cancellation that strands
// 300 passengers, and a proposal's ranking through apron beside the same
// prompt sent straight to Ollama in the same run.
func Assist(ctx context.Context, out io.Writer, ollamaURL, chatModel string, rounds int) error {
	load := WatchLoad()
	day := sim.Generate(sim.Config{Seed: 9, Date: "2026-11-25"})
	var flights []*app.Flight
	for _, f := range day.Flights {
		flights = append(flights, f)
	}
	base := time.Date(2026, 11, 25, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	gen, options := benchOptionGeneration(flights, base)
	rk, err := newRankRun(ctx, ollamaURL, chatModel, base)
	if err != nil {
		return err
	}
	if err := rk.run(ctx, rounds); err != nil {
		return err
	}
	fmt.Fprintf(out, "apron bench assist\n\n")
	fmt.Fprintf(out, "option generation, 300 stranded bookings over %d flights: %s (%d options in all)\n\n", len(flights), Summarize(gen), options)
	fmt.Fprintf(out, "proposal ranking, %d rounds of each in alternating order after a warm-up, %s\n", rounds, chatModel)
	fmt.Fprintf(out, "%-34s first token %s\n%-34s total       %s\n", "through apron", Summarize(rk.apronFirst), "", Summarize(rk.apronTotal))
	fmt.Fprintf(out, "%-34s first token %s\n%-34s total       %s\n", "straight to Ollama", Summarize(rk.rawFirst), "", Summarize(rk.rawTotal))
	at, rt := Summarize(rk.apronTotal), Summarize(rk.rawTotal)
	fmt.Fprintf(out, "\noverhead ratio (total, p50): %.2f\n", float64(at.P50)/float64(rt.P50))
	if at.P95 > 0 && rt.P95 > 0 {
		fmt.Fprintf(out, "overhead ratio (total, p95): %.2f\n", float64(at.P95)/float64(rt.P95))
	}
	fmt.Fprintf(out, "%s\n", load.Report())
	return nil
}

// benchOptionGeneration plans 300 stranded bookings from FRA over
// flights a hundred times; it returns the durations and the options of
// the first run.
func benchOptionGeneration(flights []*app.Flight, base time.Time) ([]time.Duration, int) {
	seats := func(string, string) int { return 40 }
	rules := app.DefaultRebookRules()
	dests := map[string]bool{}
	for _, f := range flights {
		if f.Origin == "FRA" {
			dests[f.Destination] = true
		}
	}
	var destList []string
	for d := range dests {
		destList = append(destList, d)
	}
	sort.Strings(destList)
	var needs []app.Need
	for i := 0; i < 300; i++ {
		needs = append(needs, app.Need{Locator: fmt.Sprintf("N%05d", i), Pax: 1, Origin: "FRA", Destination: destList[i%len(destList)],
			Cabin: "Y", Earliest: base, Latest: base.Add(24 * time.Hour), Priority: app.Priority{Tier: i % 4, SSR: i % 7 / 6}})
	}
	var gen []time.Duration
	options := 0
	for r := 0; r < MinSamplesP99; r++ {
		start := time.Now()
		plans := app.PlanAll(needs, flights, seats, rules)
		gen = append(gen, time.Since(start))
		if r == 0 {
			for _, p := range plans {
				options += len(p.Options)
			}
		}
	}
	return gen, options
}

// rankRun ranks one proposal through apron and sends the same prompt
// straight to Ollama, recording first-token and total times of each.
type rankRun struct {
	chat                   *inference.ChatClient
	raw                    *api.Client
	model                  string
	req                    app.ChatRequest
	apronFirst, apronTotal []time.Duration
	rawFirst, rawTotal     []time.Duration
}

func newRankRun(ctx context.Context, ollamaURL, chatModel string, base time.Time) (*rankRun, error) {
	chat := &inference.ChatClient{BaseURL: ollamaURL, Model: chatModel}
	if err := chat.Open(); err != nil {
		return nil, err
	}
	if _, err := chat.Digest(ctx); err != nil {
		return nil, err
	}
	t0 := base.Add(3 * time.Hour)
	p := &app.Proposal{ID: "bench", Locator: "BENCH1", Flight: "LH400-2026-11-25", Reason: app.ReasonCancelled, Chosen: "opt-1",
		Need: app.Need{Pax: 1, Origin: "FRA", Destination: "JFK", Replace: []string{"LH400-2026-11-25"}},
		Options: []app.Option{
			{ID: "opt-1", Flights: []string{"LH402-2026-11-25"}, Depart: t0, Arrive: t0.Add(9 * time.Hour)},
			{ID: "opt-2", Flights: []string{"LH404-2026-11-25", "AA100-2026-11-25"}, Depart: t0, Arrive: t0.Add(10 * time.Hour), Stops: 1, Via: "BOS"},
		}}
	docs := []app.PolicyExcerpt{{DocID: "policy-rebooking", Title: "Rebooking", Text: sim.Policies[0].Body[:600]}}
	u, _ := url.Parse(ollamaURL)
	return &rankRun{chat: chat, raw: api.NewClient(u, http.DefaultClient), model: chatModel,
		req: app.RankRequest(p, []string{"WCHR"}, "gold", docs, app.RankReasons, 64)}, nil
}

// throughApron uses the client apron uses, with its prompt, format and limits.
func (k *rankRun) throughApron(ctx context.Context) error {
	reply, err := k.chat.Chat(ctx, k.req, func(string) {})
	if err != nil {
		return err
	}
	k.apronFirst, k.apronTotal = append(k.apronFirst, reply.FirstToken), append(k.apronTotal, reply.Total)
	return nil
}

// straight sends the same completion, format and options straight to Ollama.
func (k *rankRun) straight(ctx context.Context) error {
	stream, rawMode := true, true
	start := time.Now()
	var first time.Duration
	err := k.raw.Generate(ctx, &api.GenerateRequest{Model: k.model, Prompt: k.req.Prompt, Raw: rawMode, Format: k.req.Format, Stream: &stream,
		Options: map[string]any{"num_predict": k.req.MaxTokens, "temperature": 0, "seed": 42, "stop": k.req.Stop}}, func(r api.GenerateResponse) error {
		if first == 0 && r.Response != "" {
			first = time.Since(start)
		}
		return nil
	})
	if err != nil {
		return err
	}
	k.rawFirst, k.rawTotal = append(k.rawFirst, first), append(k.rawTotal, time.Since(start))
	return nil
}

// run does one warm-up call of each, then rounds of both.
func (k *rankRun) run(ctx context.Context, rounds int) error {
	if err := k.throughApron(ctx); err != nil {
		return err
	}
	if err := k.straight(ctx); err != nil {
		return err
	}
	k.apronFirst, k.apronTotal, k.rawFirst, k.rawTotal = nil, nil, nil, nil
	for r := 0; r < rounds; r++ {
		// Alternate the order, so that neither side always runs warm.
		pair := []func(context.Context) error{k.throughApron, k.straight}
		if r%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0]
		}
		for _, f := range pair {
			if err := f(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}
