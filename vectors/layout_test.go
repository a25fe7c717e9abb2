package vectors_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

// Nearest against a brute-force cosine scan in Go: sharded or not, in
// parallel or serial, filtered or not, exact or quantised with enough
// candidates, it returns the same documents with their cosine distance.
// It is long because the fixture, the reference scan and the table of
// search variants compared with it only make sense together.
func TestNearestMatchesABruteForceScan(t *testing.T) {
	for _, shards := range []int{1, 3} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			s := vectors.NewStore(filepath.Join(t.TempDir(), "state.db"))
			s.Shards = shards
			must(t, s.Open())
			t.Cleanup(func() { _ = s.Close(context.Background()) })
			ctx := context.Background()
			const dim, n, k = 64, 700, 10
			model := app.EmbedModel{Name: "test:64d", Digest: "sha256:fedcba9876543210", Dim: dim}
			rng := rand.New(rand.NewPCG(7, uint64(shards)))
			type item struct {
				v    []float32
				date string
			}
			byDoc := map[string]item{}
			var ents []app.EntityDocs
			vm := map[string][]float32{}
			for i := range n {
				key := fmt.Sprintf("XX%d", i)
				date := fmt.Sprintf("2026-11-%02d", 20+i%5)
				v := make([]float32, dim)
				for j := range v {
					v[j] = float32(rng.NormFloat64() * 3) // not unit length
				}
				vr := ver(uint64(i+1), t0)
				d := doc(app.KindFlight, key, vr, "flight "+key, []string{"FRA"}, date)
				vm[d.TextHash] = v
				byDoc[d.DocID] = item{v, date}
				ents = append(ents, app.EntityDocs{Kind: app.KindFlight, Key: key, Version: vr, LogTime: t0, Docs: []app.Doc{d}})
			}
			must(t, s.ApplyDocs(ctx, app.IndexConsumer, app.TopicFlights, app.DocBatch{Model: model, Entities: ents, Vectors: vm}, uint64(n), t0))
			rowDoc := map[int64]string{}
			rows, err := s.DB().Query(`SELECT rowid, doc_id FROM index_docs`)
			must(t, err)
			for rows.Next() {
				var id int64
				var d string
				must(t, rows.Scan(&id, &d))
				rowDoc[id] = d
			}
			rows.Close()

			brute := func(q []float32, date string) []string {
				type h struct {
					doc string
					d   float64
				}
				var all []h
				for id, it := range byDoc {
					if date == "" || it.date == date {
						all = append(all, h{id, 1 - cosine(q, it.v)})
					}
				}
				slices.SortFunc(all, func(a, b h) int {
					if a.d != b.d {
						if a.d < b.d {
							return -1
						}
						return 1
					}
					return 0
				})
				var out []string
				for _, x := range all[:k] {
					out = append(out, x.doc)
				}
				return out
			}
			for qi := range 15 {
				q := make([]float32, dim)
				for j := range q {
					q[j] = float32(rng.NormFloat64())
				}
				date := ""
				if qi%3 == 0 {
					date = "2026-11-22"
				}
				want := brute(q, date)
				sq := app.SearchQuery{Vector: q, Model: model, From: date, To: date}
				for name, o := range map[string]vectors.NearestOptions{
					"parallel":  {},
					"serial":    {Serial: true},
					"quantised": {Quantized: true, Oversample: n / k},
				} {
					hits, err := s.Nearest(ctx, sq, k, o)
					must(t, err)
					var got []string
					for _, h := range hits {
						d := rowDoc[h.Rowid]
						got = append(got, d)
						if want := 1 - cosine(q, byDoc[d].v); math.Abs(h.Distance-want) > 1e-4 {
							t.Fatalf("%s: distance of %s is %.6f, cosine distance is %.6f", name, d, h.Distance, want)
						}
						if date != "" && byDoc[d].date != date {
							t.Fatalf("%s: %s of %s passed the date filter %s", name, d, byDoc[d].date, date)
						}
					}
					if !slices.Equal(got, want) {
						t.Fatalf("query %d %s:\n got %v\nwant %v", qi, name, got, want)
					}
				}
				// Few candidates still give k results with true distances
				// (checked above for every hit), nearest first.
				hits, err := s.Nearest(ctx, sq, k, vectors.NearestOptions{Quantized: true, Oversample: 1})
				must(t, err)
				if len(hits) != k || !slices.IsSortedFunc(hits, func(a, b vectors.VectorHit) int {
					return int(math.Copysign(1, a.Distance-b.Distance))
				}) {
					t.Fatalf("quantised with oversample 1: %+v", hits)
				}
			}
			if _, err := s.Nearest(ctx, app.SearchQuery{Vector: make([]float32, 3), Model: model}, k, vectors.NearestOptions{}); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("wrong dimension: %v", err)
			}
		})
	}
}

// A table of the first layout (cosine, one shard, no binary copy) keeps
// serving after the migration that introduced the new one.
func TestNearestReadsTablesOfTheFirstLayout(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	db := s.DB()
	_, err := db.Exec(`CREATE VIRTUAL TABLE vec_aaaaaaaa USING vec0(embedding float[4] distance_metric=cosine, kind text, date text)`)
	must(t, err)
	_, err = db.Exec(`INSERT INTO index_models (digest, name, dim, vec_table, state, created_at) VALUES ('sha256:aaaaaaaa', 'old', 4, 'vec_aaaaaaaa', 'active', '2026-01-01T00:00:00Z')`)
	must(t, err)
	for i, v := range [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 1, 0, 0}} {
		_, err := db.Exec(`INSERT INTO vec_aaaaaaaa (rowid, embedding, kind, date) VALUES (?, ?, 'flight', '')`, i+1, blob(v))
		must(t, err)
	}
	m := app.EmbedModel{Name: "old", Digest: "sha256:aaaaaaaa", Dim: 4}
	hits, err := s.Nearest(ctx, app.SearchQuery{Vector: []float32{2, 0, 0, 0}, Model: m}, 2, vectors.NearestOptions{Quantized: true})
	must(t, err)
	if len(hits) != 2 || hits[0].Rowid != 1 || hits[1].Rowid != 3 || math.Abs(hits[1].Distance-(1-1/math.Sqrt2)) > 1e-6 {
		t.Fatalf("first layout: %+v", hits)
	}
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func blob(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}
