package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/vectors"
)

// SearchConfig sizes `apron bench search`.
type SearchConfig struct {
	Dir        string
	Out        io.Writer
	Sizes      []int // vectors per latency run
	Dim        int
	K          int
	Queries    int
	Oversample int
	// Recall on real embeddings: documents of simulated days embedded by
	// the model at OllamaURL; none when RecallDocs is 0.
	OllamaURL  string
	EmbedModel string
	RecallDocs int
}

// Search measures KNN latency through the index at each size, float
// and quantised with rescoring, with and without a partition filter, beside
// a plain Go scan of the same vectors in the same run; then the recall@K
// of the quantised path against exact search on real embeddings.
func Search(ctx context.Context, c SearchConfig, args []string) error {
	fs := flag.NewFlagSet("bench search", flag.ContinueOnError)
	sizes := fs.String("n", joinInts(c.Sizes), "vectors per run, comma-separated")
	fs.IntVar(&c.Queries, "queries", c.Queries, "queries per measurement")
	fs.IntVar(&c.K, "k", c.K, "results per query")
	fs.IntVar(&c.Oversample, "oversample", c.Oversample, "quantised candidates per result")
	fs.IntVar(&c.RecallDocs, "recall-docs", c.RecallDocs, "real documents for the recall run (0: skip)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.Sizes = nil
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < c.K {
			return app.Errorf(app.EINVALID, "-n: %q is not a count of at least k=%d", f, c.K)
		}
		c.Sizes = append(c.Sizes, n)
	}
	for _, n := range c.Sizes {
		if err := benchSearchLatency(ctx, c, n); err != nil {
			return err
		}
	}
	if c.RecallDocs > 0 {
		return benchSearchRecall(ctx, c)
	}
	return nil
}

var benchAirports = []string{"FRA", "JFK", "LHR", "CDG", "MUC", "ZRH", "VIE", "AMS", "MAD", "FCO"}

func benchSearchLatency(ctx context.Context, c SearchConfig, n int) error {
	store := vectors.NewStore(filepath.Join(c.Dir, fmt.Sprintf("search-%d.db", n)))
	store.Logger = slog.New(slog.DiscardHandler)
	if err := store.Open(); err != nil {
		return err
	}
	defer store.Close(context.Background())
	model := app.EmbedModel{Name: "bench", Digest: "sha256:5ea4c5ea4c5ea4c5", Dim: c.Dim}
	rng := rand.New(rand.NewPCG(uint64(n), 384))
	scan := &Scan{Dim: c.Dim, Flat: make([]float32, 0, n*c.Dim)}
	dates := make([]uint8, n)
	start := time.Now()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const batch = 5000
	for lo := 0; lo < n; lo += batch {
		var ents []app.EntityDocs
		vm := map[string][]float32{}
		for i := lo; i < min(lo+batch, n); i++ {
			v := randomUnit(rng, c.Dim)
			scan.Add(v)
			dates[i] = uint8(1 + i%30)
			key := fmt.Sprintf("XX%d-2026-11-%02d", i, dates[i])
			text := key + " " + benchAirports[i%len(benchAirports)]
			ver := app.Version{EventID: key, EventTime: t0, Offset: uint64(i + 1)}
			d := app.Doc{DocID: "flight:" + key, EntityKey: key, Kind: app.KindFlight, Version: ver, LogTime: t0,
				Airports: []string{benchAirports[i%len(benchAirports)]}, Date: fmt.Sprintf("2026-11-%02d", dates[i]), Title: key, Text: text, TextHash: app.TextHash(text)}
			vm[d.TextHash] = v
			ents = append(ents, app.EntityDocs{Kind: app.KindFlight, Key: key, Version: ver, LogTime: t0, Docs: []app.Doc{d}})
		}
		if err := store.ApplyDocs(ctx, app.IndexConsumer, app.TopicFlights, app.DocBatch{Model: model, Entities: ents, Vectors: vm}, uint64(min(lo+batch, n)), t0); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.Out, "\n%d vectors x %d dimensions, k=%d, %d queries (index built in %s, %d shards)\n",
		n, c.Dim, c.K, c.Queries, time.Since(start).Round(time.Second), storeShards(store))
	queries := make([][]float32, c.Queries)
	for i := range queries {
		queries[i] = randomUnit(rng, c.Dim)
	}
	// The filter: one airport and three days, about 1% of the documents.
	filter := app.SearchQuery{Airport: "FRA", From: "2026-11-10", To: "2026-11-12"}
	keep := func(i int) bool { return i%len(benchAirports) == 0 && dates[i] >= 10 && dates[i] <= 12 }

	type row struct {
		name     string
		p50, p99 time.Duration
	}
	var rows []row
	measure := func(name string, f func(q []float32) error) error {
		lat := make([]time.Duration, 0, len(queries))
		for i := -3; i < len(queries); i++ { // three warm-up queries
			q := queries[max(i, 0)]
			t := time.Now()
			if err := f(q); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if i >= 0 {
				lat = append(lat, time.Since(t))
			}
		}
		slices.Sort(lat)
		rows = append(rows, row{name, pct(lat, 50), pct(lat, 99)})
		return nil
	}
	nearest := func(filtered bool, o vectors.NearestOptions) func(q []float32) error {
		return func(q []float32) error {
			sq := app.SearchQuery{Vector: q, Model: model}
			if filtered {
				sq.Airport, sq.From, sq.To = filter.Airport, filter.From, filter.To
			}
			hits, err := store.Nearest(ctx, sq, c.K, o)
			if err == nil && len(hits) != c.K {
				err = fmt.Errorf("%d results, want %d", len(hits), c.K)
			}
			return err
		}
	}
	for _, filtered := range []bool{false, true} {
		suffix := ""
		var kf func(int) bool
		if filtered {
			suffix, kf = ", filtered", keep
		}
		for _, w := range []int{1, 2} {
			if err := measure(fmt.Sprintf("Go scan, %d goroutine(s)%s", w, suffix), func(q []float32) error {
				if got := scan.Nearest(q, c.K, w, kf); len(got) != c.K {
					return fmt.Errorf("%d results", len(got))
				}
				return nil
			}); err != nil {
				return err
			}
		}
		for _, m := range []struct {
			name string
			o    vectors.NearestOptions
		}{
			{"sqlite-vec float, serial", vectors.NearestOptions{Serial: true}},
			{"sqlite-vec float, shards in parallel", vectors.NearestOptions{}},
			{fmt.Sprintf("sqlite-vec binary+rescore x%d, parallel", c.Oversample), vectors.NearestOptions{Quantized: true, Oversample: c.Oversample}},
		} {
			if err := measure(m.name+suffix, nearest(filtered, m.o)); err != nil {
				return err
			}
		}
	}
	// The whole hybrid query the API runs (vector, text and exact legs).
	if err := measure("Store.Search hybrid (vector + text), float", func(q []float32) error {
		_, err := store.Search(ctx, app.SearchQuery{Vector: q, Model: model, Text: "FRA", K: c.K})
		return err
	}); err != nil {
		return err
	}
	base := map[bool]time.Duration{}
	for _, r := range rows {
		if strings.HasPrefix(r.name, "Go scan, 2") {
			base[strings.HasSuffix(r.name, "filtered")] = r.p99
		}
	}
	fmt.Fprintf(c.Out, "%-52s %10s %10s %16s\n", "run", "p50", "p99", "p99 / Go scan 2")
	for _, r := range rows {
		ratio := float64(r.p99) / float64(base[strings.HasSuffix(r.name, "filtered")])
		fmt.Fprintf(c.Out, "%-52s %10s %10s %15.2fx\n", r.name, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), ratio)
	}
	return nil
}

func storeShards(s *vectors.Store) int {
	var n int
	_ = s.DB().QueryRow(`SELECT MAX(shards) FROM index_models`).Scan(&n)
	return n
}

// benchSearchRecall embeds documents of simulated days with the real model,
// indexes most of them and queries with the held-out rest, and reports the
// recall@K of the quantised path against exact search.
func benchSearchRecall(ctx context.Context, c SearchConfig) error {
	var texts []string
	seen := map[string]bool{}
	m := &app.Materializer{Validator: app.DefaultValidator()}
	for seed := uint64(1); len(texts) < c.RecallDocs && seed < 50; seed++ {
		day := sim.Generate(sim.Config{Seed: seed, Date: "2026-11-25", Departures: 120})
		for i, te := range day.Events {
			ch, err := m.Decode(te.Event.Topic(), app.LogEntry{Topic: te.Event.Topic(), Offset: uint64(i + 1), Key: te.Event.Subject, Stored: te.At, Data: te.Event.Raw})
			if err != nil {
				return err
			}
			ed, err := app.DeriveDocs(ch, nil)
			if err != nil {
				return err
			}
			for _, d := range ed.Docs {
				if !seen[d.TextHash] && len(texts) < c.RecallDocs {
					seen[d.TextHash] = true
					texts = append(texts, d.Text)
				}
			}
		}
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	client := &inference.Client{BaseURL: c.OllamaURL, EmbedModel: c.EmbedModel, Timeout: 5 * time.Minute, MaxConcurrency: 2, BatchSize: 64}
	if err := client.Open(); err != nil {
		return err
	}
	defer client.Close(context.Background())
	model, err := client.Model(ctx)
	if err != nil {
		return fmt.Errorf("recall needs the embedding model: %w", err)
	}
	start := time.Now()
	vecs, err := client.Embed(ctx, texts)
	if err != nil {
		return fmt.Errorf("recall needs the embedding model: %w", err)
	}
	nq := max(len(texts)/10, 1)
	corpus, held := texts[nq:], vecs[:nq]
	store := vectors.NewStore(filepath.Join(c.Dir, "recall.db"))
	store.Logger = slog.New(slog.DiscardHandler)
	if err := store.Open(); err != nil {
		return err
	}
	defer store.Close(context.Background())
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var ents []app.EntityDocs
	vm := map[string][]float32{}
	for i, text := range corpus {
		key := fmt.Sprintf("D%d", i)
		ver := app.Version{EventID: key, EventTime: t0, Offset: uint64(i + 1)}
		d := app.Doc{DocID: "policy:" + key, EntityKey: key, Kind: app.KindPolicy, Version: ver, LogTime: t0, Title: key, Text: text, TextHash: app.TextHash(text)}
		vm[d.TextHash] = vecs[nq+i]
		ents = append(ents, app.EntityDocs{Kind: app.KindPolicy, Key: key, Version: ver, LogTime: t0, Docs: []app.Doc{d}})
	}
	if err := store.ApplyDocs(ctx, app.IndexConsumer, app.TopicDocuments, app.DocBatch{Model: model, Entities: ents, Vectors: vm}, 1, t0); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "\nrecall@%d of binary quantisation with float rescoring against exact search: %s (%d dimensions),\n%d simulator documents indexed, %d held out as queries (embedded in %s)\n",
		c.K, model.Name, model.Dim, len(corpus), nq, time.Since(start).Round(time.Second))
	fmt.Fprintf(c.Out, "%-12s %10s %12s\n", "oversample", "recall", "worst query")
	for _, over := range []int{1, 2, 4, 8, 16} {
		var sum, worst float64 = 0, 1
		for _, q := range held {
			sq := app.SearchQuery{Vector: q, Model: model}
			exact, err := store.Nearest(ctx, sq, c.K, vectors.NearestOptions{})
			if err != nil {
				return err
			}
			approx, err := store.Nearest(ctx, sq, c.K, vectors.NearestOptions{Quantized: true, Oversample: over})
			if err != nil {
				return err
			}
			r := recallOf(exact, approx)
			sum += r
			worst = math.Min(worst, r)
		}
		fmt.Fprintf(c.Out, "x%-11d %10.3f %12.2f\n", over, sum/float64(len(held)), worst)
	}
	return nil
}

// recallOf is the share of exact's results that approx found.
func recallOf(exact, approx []vectors.VectorHit) float64 {
	if len(exact) == 0 {
		return 1
	}
	found := 0
	for _, e := range exact {
		if slices.ContainsFunc(approx, func(a vectors.VectorHit) bool { return a.Rowid == e.Rowid }) {
			found++
		}
	}
	return float64(found) / float64(len(exact))
}

func randomUnit(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var s float64
	for i := range v {
		x := rng.NormFloat64()
		v[i] = float32(x)
		s += x * x
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(s))
	}
	return v
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
