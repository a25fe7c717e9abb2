package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/node"
)

// Embed measures the embedding stage against raw /api/embed calls with
// the same texts and batch size in the same run, and freshness from the
// log's acknowledgement to searchable, idle and under load, over samples
// changes each (MinSamplesP99 or more for a p99).
func Embed(ctx context.Context, dir string, out io.Writer, ollamaURL, model string, departures, samples int) error {
	load := WatchLoad()
	day := sim.Generate(sim.Config{Seed: 6, Date: "2026-11-25", Departures: departures})
	texts, err := dayTexts(day)
	if err != nil {
		return err
	}
	// The raw baseline runs before and after the stage, so that neither
	// side alone has the warm (or the loaded) machine.
	rawBefore, err := benchRawEmbed(ctx, ollamaURL, model, texts)
	if err != nil {
		return err
	}
	edge, err := openEmbedNode(ctx, dir, ollamaURL, model)
	if err != nil {
		return err
	}
	defer func() { _ = edge.Close(context.Background()) }()
	stageDur, err := benchEmbedStage(ctx, edge, day)
	if err != nil {
		return err
	}
	counts, _ := edge.Store.IndexCounts(ctx)
	rawAfter, err := benchRawEmbed(ctx, ollamaURL, model, texts)
	if err != nil {
		return err
	}
	rawDur := (rawBefore + rawAfter) / 2
	fmt.Fprintf(out, "raw /api/embed over the day's texts: %s before the stage, %s after\n", rawBefore.Round(time.Millisecond), rawAfter.Round(time.Millisecond))
	idle := embedFreshness(ctx, edge, samples, "fresh-idle")
	stop := make(chan struct{})
	go loadBookings(ctx, edge, stop)
	loaded := embedFreshness(ctx, edge, samples, "fresh-load")
	close(stop)
	reportEmbed(out, model, len(texts), rawDur, counts["cache"], stageDur, idle, loaded)
	fmt.Fprintln(out, load.Report())
	return nil
}

// dayTexts are the texts the stage will embed: the documents of every
// final entity version of day, distinct and sorted.
func dayTexts(day *sim.Day) ([]string, error) {
	m := &app.Materializer{Validator: app.DefaultValidator()}
	latest := map[string]app.StateChange{}
	for i, te := range day.Events {
		ch, err := m.Decode(te.Event.Topic(), app.LogEntry{Topic: te.Event.Topic(), Offset: uint64(i + 1), Key: te.Event.Subject, Stored: te.At, Data: te.Event.Raw})
		if err != nil {
			return nil, err
		}
		latest[te.Event.Topic()+"/"+ch.Key] = ch
	}
	uniq := map[string]string{}
	for _, ch := range latest {
		ed, err := app.DeriveDocs(ch, nil)
		if err != nil {
			return nil, err
		}
		for _, d := range ed.Docs {
			uniq[d.TextHash] = d.Text
		}
	}
	var texts []string
	for _, t := range uniq {
		texts = append(texts, t)
	}
	sort.Strings(texts)
	return texts, nil
}

// benchRawEmbed is the baseline: raw /api/embed calls over texts.
func benchRawEmbed(ctx context.Context, ollamaURL, model string, texts []string) (time.Duration, error) {
	raw := &inference.Client{BaseURL: ollamaURL, EmbedModel: model, Timeout: 5 * time.Minute, MaxConcurrency: 2, BatchSize: 64}
	if err := raw.Open(); err != nil {
		return 0, err
	}
	if _, err := raw.Embed(ctx, texts[:min(8, len(texts))]); err != nil { // warm the model
		return 0, err
	}
	start := time.Now()
	for i := 0; i < len(texts); i += 128 {
		if _, err := raw.Embed(ctx, texts[i:min(i+128, len(texts))]); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func openEmbedNode(ctx context.Context, dir, ollamaURL, model string) (*node.Main, error) {
	cfg := node.DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.NATS.Addr = filepath.Join(dir, "embed"), "127.0.0.1:0", ""
	cfg.Ollama.URL, cfg.Ollama.ChatModel, cfg.Ollama.EmbedModel = ollamaURL, "", model
	edge := node.NewMain(cfg, slog.New(slog.DiscardHandler))
	edge.Demo = true
	if err := edge.Open(ctx); err != nil {
		return nil, err
	}
	return edge, nil
}

// benchEmbedStage plays day into the node and times the stage until the
// vectors have caught up with every state topic: a large batch commits
// its text at once and its vectors after (decision 0023), so the index's
// own position would time only the text.
func benchEmbedStage(ctx context.Context, edge *node.Main, day *sim.Day) (time.Duration, error) {
	start := time.Now()
	if err := sim.Play(ctx, edge.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		return 0, err
	}
	caughtUp := func() bool {
		for _, topic := range app.StateTopics {
			ti, _ := edge.Broker.Topic(ctx, topic)
			pos, _ := edge.Store.Position(ctx, app.EmbedConsumer, topic)
			if pos < ti.LastOffset {
				return false
			}
		}
		return true
	}
	for !caughtUp() {
		if time.Since(start) > 30*time.Minute {
			return 0, fmt.Errorf("the stage did not catch up in 30 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), nil
}

// embedFreshness appends n flight changes one at a time and returns,
// sorted, the time from acknowledgement until each is searchable by its
// vector (EmbedConsumer's position).
func embedFreshness(ctx context.Context, edge *node.Main, n int, tag string) []time.Duration {
	var d []time.Duration
	// New gates, so every change is a new text to embed (no cache hit).
	var evs []*app.Event
	for i, e := range FlightEvents(n, tag) {
		var f app.Flight
		if err := app.DecodeData(e, &f); err != nil {
			return d
		}
		f.Gate = fmt.Sprintf("%s%d", map[bool]string{true: "C", false: "D"}[tag == "fresh-idle"], i+1)
		ne, err := app.NewEvent(e.ID, e.Source, e.Type, e.Subject, e.Time.Add(time.Hour), f)
		if err != nil {
			return d
		}
		evs = append(evs, ne)
	}
	for _, e := range evs {
		res, err := edge.Broker.Append(ctx, app.TopicFlights, []*app.Event{e})
		if err != nil {
			return d
		}
		acked := time.Now()
		for {
			pos, _ := edge.Store.Position(ctx, app.EmbedConsumer, app.TopicFlights)
			if pos >= res[0].Offset {
				break
			}
			time.Sleep(time.Millisecond)
		}
		d = append(d, time.Since(acked))
	}
	return d
}

// loadBookings is background load for embedFreshness: bookings keep
// changing until stop is closed.
func loadBookings(ctx context.Context, edge *node.Main, stop <-chan struct{}) {
	bs := sim.Generate(sim.Config{Seed: 99, Date: "2026-11-25", Departures: 60})
	var batch []*app.Event
	for _, te := range bs.Events {
		if te.Event.Topic() != app.TopicBookings {
			continue
		}
		batch = append(batch, te.Event)
		if len(batch) == 20 {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = edge.Broker.Append(ctx, app.TopicBookings, batch)
			batch = nil
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func reportEmbed(out io.Writer, model string, texts int, rawDur time.Duration, embedded int, stageDur time.Duration, idle, loaded []time.Duration) {
	fmt.Fprintf(out, "apron bench embed: %d distinct texts of a simulated day, %s, batches of 128 (64 per call)\n\n", texts, model)
	fmt.Fprintf(out, "%-44s %10s\n", "run", "texts/s")
	fmt.Fprintf(out, "%-44s %10.1f\n", "raw /api/embed calls (mean of both runs)", float64(texts)/rawDur.Seconds())
	fmt.Fprintf(out, "%-44s %10.1f   (%d texts embedded)\n", "embedding stage (log -> vectors, committed)", float64(embedded)/stageDur.Seconds(), embedded)
	fmt.Fprintf(out, "\nstage / raw: %.0f%%\n", 100*(float64(embedded)/stageDur.Seconds())/(float64(texts)/rawDur.Seconds()))
	fmt.Fprintf(out, "acknowledgement to vector, idle:       %s\n", Summarize(idle))
	fmt.Fprintf(out, "acknowledgement to vector, under load: %s\n", Summarize(loaded))
}
