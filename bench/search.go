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
	store, err := openBenchStore(filepath.Join(c.Dir, fmt.Sprintf("search-%d.db", n)))
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	model := app.EmbedModel{Name: "bench", Digest: "sha256:5ea4c5ea4c5ea4c5", Dim: c.Dim}
	rng := rand.New(rand.NewPCG(uint64(n), 384))
	start := time.Now()
	scan, dates, err := buildLatencyIndex(ctx, c, store, model, rng, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "\n%d vectors x %d dimensions, k=%d, %d queries (index built in %s, %d shards)\n",
		n, c.Dim, c.K, c.Queries, time.Since(start).Round(time.Second), storeShards(store))
	r := &latencyRun{c: c, store: store, model: model, queries: make([][]float32, c.Queries)}
	for i := range r.queries {
		r.queries[i] = randomUnit(rng, c.Dim)
	}
	// The filter: one airport and three days, about 1% of the documents.
	keep := func(i int) bool { return i%len(benchAirports) == 0 && dates[i] >= 10 && dates[i] <= 12 }
	if err := r.measureAll(ctx, scan, keep); err != nil {
		return err
	}
	r.report()
	return nil
}

func openBenchStore(path string) (*vectors.Store, error) {
	store := vectors.NewStore(path)
	store.Logger = slog.New(slog.DiscardHandler)
	if err := store.Open(); err != nil {
		return nil, err
	}
	return store, nil
}

// buildLatencyIndex indexes n random flight documents in store and the
// same vectors in a Scan; dates[i] is the day of November of document i.
func buildLatencyIndex(ctx context.Context, c SearchConfig, store *vectors.Store, model app.EmbedModel, rng *rand.Rand, n int) (*Scan, []uint8, error) {
	scan := &Scan{Dim: c.Dim, Flat: make([]float32, 0, n*c.Dim)}
	dates := make([]uint8, n)
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
			return nil, nil, err
		}
	}
	return scan, dates, nil
}

// latencyRun holds the queries of one latency run and the rows measured.
type latencyRun struct {
	c       SearchConfig
	store   *vectors.Store
	model   app.EmbedModel
	queries [][]float32
	rows    []latencyRow
}

type latencyRow struct {
	name string
	q    Quantiles
}

// latencyFilter matches the documents keep selects in the scan.
var latencyFilter = app.SearchQuery{Airport: "FRA", From: "2026-11-10", To: "2026-11-12"}

func (r *latencyRun) measure(name string, f func(q []float32) error) error {
	lat := make([]time.Duration, 0, len(r.queries))
	for i := -3; i < len(r.queries); i++ { // three warm-up queries
		q := r.queries[max(i, 0)]
		t := time.Now()
		if err := f(q); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if i >= 0 {
			lat = append(lat, time.Since(t))
		}
	}
	r.rows = append(r.rows, latencyRow{name, Summarize(lat)})
	return nil
}

func (r *latencyRun) nearest(ctx context.Context, filtered bool, o vectors.NearestOptions) func(q []float32) error {
	return func(q []float32) error {
		sq := app.SearchQuery{Vector: q, Model: r.model}
		if filtered {
			sq.Airport, sq.From, sq.To = latencyFilter.Airport, latencyFilter.From, latencyFilter.To
		}
		hits, err := r.store.Nearest(ctx, sq, r.c.K, o)
		if err == nil && len(hits) != r.c.K {
			err = fmt.Errorf("%d results, want %d", len(hits), r.c.K)
		}
		return err
	}
}

// measureAll runs the Go scan and the index paths, unfiltered then
// filtered, and the whole hybrid query the API runs.
func (r *latencyRun) measureAll(ctx context.Context, scan *Scan, keep func(int) bool) error {
	c := r.c
	for _, filtered := range []bool{false, true} {
		suffix := ""
		var kf func(int) bool
		if filtered {
			suffix, kf = ", filtered", keep
		}
		for _, w := range []int{1, 2} {
			if err := r.measure(fmt.Sprintf("Go scan, %d goroutine(s)%s", w, suffix), func(q []float32) error {
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
			if err := r.measure(m.name+suffix, r.nearest(ctx, filtered, m.o)); err != nil {
				return err
			}
		}
	}
	// The whole hybrid query the API runs (vector, text and exact legs).
	return r.measure("Store.Search hybrid (vector + text), float", func(q []float32) error {
		_, err := r.store.Search(ctx, app.SearchQuery{Vector: q, Model: r.model, Text: "FRA", K: c.K})
		return err
	})
}

// report prints each row beside the two-goroutine Go scan with the same
// filter.
func (r *latencyRun) report() {
	base := map[bool]time.Duration{}
	for _, row := range r.rows {
		if strings.HasPrefix(row.name, "Go scan, 2") {
			base[strings.HasSuffix(row.name, "filtered")] = row.q.P99
		}
	}
	fmt.Fprintf(r.c.Out, "%-52s %10s %10s %10s %6s %16s\n", "run", "p50", "p95", "p99", "n", "p99 / Go scan 2")
	for _, row := range r.rows {
		ratio := "n/a"
		if b := base[strings.HasSuffix(row.name, "filtered")]; b > 0 && row.q.P99 > 0 {
			ratio = fmt.Sprintf("%.2fx", float64(row.q.P99)/float64(b))
		}
		fmt.Fprintf(r.c.Out, "%-52s %10s %10s %10s %6d %16s\n", row.name, row.q.Cell(50), row.q.Cell(95), row.q.Cell(99), row.q.N, ratio)
	}
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
	texts, err := recallTexts(c.RecallDocs)
	if err != nil {
		return err
	}
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
	store, err := openBenchStore(filepath.Join(c.Dir, "recall.db"))
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	if err := indexRecallCorpus(ctx, store, model, corpus, vecs[nq:]); err != nil {
		return err
	}
	fmt.Fprintf(c.Out, "\nrecall@%d of binary quantisation with float rescoring against exact search: %s (%d dimensions),\n%d simulator documents indexed, %d held out as queries (embedded in %s)\n",
		c.K, model.Name, model.Dim, len(corpus), nq, time.Since(start).Round(time.Second))
	return reportRecall(ctx, c, store, model, held)
}

// recallTexts are up to n distinct document texts of simulated days,
// shuffled.
func recallTexts(n int) ([]string, error) {
	var texts []string
	seen := map[string]bool{}
	m := &app.Materializer{Validator: app.DefaultValidator()}
	for seed := uint64(1); len(texts) < n && seed < 50; seed++ {
		day := sim.Generate(sim.Config{Seed: seed, Date: "2026-11-25", Departures: 120})
		for i, te := range day.Events {
			ch, err := m.Decode(te.Event.Topic(), app.LogEntry{Topic: te.Event.Topic(), Offset: uint64(i + 1), Key: te.Event.Subject, Stored: te.At, Data: te.Event.Raw})
			if err != nil {
				return nil, err
			}
			ed, err := app.DeriveDocs(ch, nil)
			if err != nil {
				return nil, err
			}
			for _, d := range ed.Docs {
				if !seen[d.TextHash] && len(texts) < n {
					seen[d.TextHash] = true
					texts = append(texts, d.Text)
				}
			}
		}
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(texts), func(i, j int) { texts[i], texts[j] = texts[j], texts[i] })
	return texts, nil
}

// indexRecallCorpus indexes corpus[i] as a policy document with vecs[i].
func indexRecallCorpus(ctx context.Context, store *vectors.Store, model app.EmbedModel, corpus []string, vecs [][]float32) error {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var ents []app.EntityDocs
	vm := map[string][]float32{}
	for i, text := range corpus {
		key := fmt.Sprintf("D%d", i)
		ver := app.Version{EventID: key, EventTime: t0, Offset: uint64(i + 1)}
		d := app.Doc{DocID: "policy:" + key, EntityKey: key, Kind: app.KindPolicy, Version: ver, LogTime: t0, Title: key, Text: text, TextHash: app.TextHash(text)}
		vm[d.TextHash] = vecs[i]
		ents = append(ents, app.EntityDocs{Kind: app.KindPolicy, Key: key, Version: ver, LogTime: t0, Docs: []app.Doc{d}})
	}
	return store.ApplyDocs(ctx, app.IndexConsumer, app.TopicDocuments, app.DocBatch{Model: model, Entities: ents, Vectors: vm}, 1, t0)
}

// reportRecall prints the mean and worst recall of the held-out queries
// at each oversampling factor.
func reportRecall(ctx context.Context, c SearchConfig, store *vectors.Store, model app.EmbedModel, held [][]float32) error {
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
