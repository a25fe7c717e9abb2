package bench_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/vectors"
)

// t0 is the benchmark documents' event and log time.
var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// BenchmarkKNN measures vector search latency through Store.Search on
// synthetic 384-dimension vectors (random vectors are fine for latency,
// not for recall), with and without a partition filter, float and binary
// with rescoring, beside a plain Go scan of the same vectors in the same
// run. Reports p50 and p99. `apron bench search` runs the same comparison
// at 100k and 1M with recall on real embeddings.
//
//	go test -tags sqlite_fts5 -run '^$' -bench KNN -benchtime 200x ./bench/
//	APRON_BENCH_N=1000000 for the 1M case (slow to build).
func BenchmarkKNN(b *testing.B) {
	n := 100_000
	if v := benchEnvInt("APRON_BENCH_N"); v > 0 {
		n = v
	}
	const dim = 384
	model := app.EmbedModel{Name: "bench", Digest: "sha256:beefbeefbeefbeef", Dim: dim}
	rng := rand.New(rand.NewPCG(1, 2))
	s := vectors.NewStore(filepath.Join(b.TempDir(), "bench.db"))
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	start := time.Now()
	scan := buildKNNIndex(b, s, model, rng, n)
	b.Logf("built an index of %d x %d in %s", n, dim, time.Since(start).Round(time.Millisecond))
	queries := make([][]float32, 64)
	for i := range queries {
		queries[i] = randomUnit(rng, dim)
	}
	const k = 10
	ctx := context.Background()
	b.Run("sqlite-vec", func(b *testing.B) {
		runKNN(b, queries, func(q []float32) {
			if hits, err := s.Search(ctx, app.SearchQuery{Vector: q, Model: model, K: k}); err != nil || len(hits) != k {
				b.Fatal(err, len(hits))
			}
		})
	})
	b.Run("sqlite-vec-filtered", func(b *testing.B) {
		runKNN(b, queries, func(q []float32) {
			if _, err := s.Search(ctx, app.SearchQuery{Vector: q, Model: model, K: k, Airport: "FRA", From: "2026-11-10", To: "2026-11-12"}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("sqlite-vec-binary-rescored", func(b *testing.B) {
		runKNN(b, queries, func(q []float32) {
			if hits, err := s.Nearest(ctx, app.SearchQuery{Vector: q, Model: model}, k, vectors.NearestOptions{Quantized: true, Oversample: 8}); err != nil || len(hits) != k {
				b.Fatal(err, len(hits))
			}
		})
	})
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("go-scan-%d", workers), func(b *testing.B) {
			runKNN(b, queries, func(q []float32) { scan.Nearest(q, k, workers, nil) })
		})
	}
}

// buildKNNIndex indexes n random flight documents in s, spread over ten
// airports and thirty days, and the same vectors in a Scan.
func buildKNNIndex(b *testing.B, s *vectors.Store, model app.EmbedModel, rng *rand.Rand, n int) *bench.Scan {
	airports := []string{"FRA", "JFK", "LHR", "CDG", "MUC", "ZRH", "VIE", "AMS", "MAD", "FCO"}
	scan := &bench.Scan{Dim: model.Dim}
	dates := make([]string, n)
	aps := make([]string, n)
	var off uint64
	for lo := 0; lo < n; lo += 2000 {
		var ents []app.EntityDocs
		vm := map[string][]float32{}
		for i := lo; i < min(lo+2000, n); i++ {
			v := randomUnit(rng, model.Dim)
			scan.Add(v)
			dates[i] = fmt.Sprintf("2026-11-%02d", 1+i%30)
			aps[i] = airports[i%len(airports)]
			off++
			key := fmt.Sprintf("XX%d-%s", i, dates[i])
			text := fmt.Sprintf("Flight XX%d from %s on %s", i, aps[i], dates[i])
			ver := app.Version{EventID: key, EventTime: t0, Offset: off}
			d := app.Doc{DocID: "flight:" + key, EntityKey: key, Kind: app.KindFlight, Version: ver, LogTime: t0, Airports: []string{aps[i]}, Date: dates[i],
				Title: key, Text: text, TextHash: app.TextHash(text)}
			vm[d.TextHash] = v
			ents = append(ents, app.EntityDocs{Kind: app.KindFlight, Key: key, Version: ver, LogTime: t0, Docs: []app.Doc{d}})
		}
		if err := s.ApplyDocs(context.Background(), app.IndexConsumer, app.TopicFlights, app.DocBatch{Model: model, Entities: ents, Vectors: vm}, off, t0); err != nil {
			b.Fatal(err)
		}
	}
	return scan
}

// runKNN times b.N searches over queries and reports p50 and p99.
func runKNN(b *testing.B, queries [][]float32, search func(q []float32)) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		search(queries[i%len(queries)])
		lat = append(lat, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
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

func benchEnvInt(name string) int {
	var n int
	fmt.Sscan(os.Getenv(name), &n)
	return n
}
