package bench_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/vectors"
)

// BenchmarkMaterialize measures the materialiser alone on a real SQLite
// file: flight events already in the log (trusted, as the node's own
// appends are) applied to state in batches, as events per second. The
// "repeated" keys are the 250 flights of a day changing again and again;
// "distinct" keys are a new flight each event. decode is the decoding
// step alone and store-only the store's part alone (500 a transaction).
//
//	go test -tags sqlite_fts5 -run '^$' -bench Materialize -benchtime 3x ./bench/
func BenchmarkMaterialize(b *testing.B) {
	const n = 20000
	for _, keys := range []string{"repeated", "distinct"} {
		entries := flightEntries(n, keys == "distinct")
		for _, batch := range []int{500, 2000, 5000} {
			b.Run(fmt.Sprintf("%s/batch-%d", keys, batch), func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					s := vectors.NewStore(filepath.Join(b.TempDir(), "state.db"))
					if err := s.Open(); err != nil {
						b.Fatal(err)
					}
					m := &app.Materializer{Store: s, Trusted: func(app.LogEntry) bool { return true }}
					b.StartTimer()
					start, cpu := time.Now(), bench.CPUTime()
					for i := 0; i < len(entries); i += batch {
						if err := m.ApplyEntries(context.Background(), app.TopicFlights, entries[i:min(i+batch, len(entries))]); err != nil {
							b.Fatal(err)
						}
					}
					reportRates(b, n, start, cpu)
					b.StopTimer()
					_ = s.Close(context.Background())
					b.StartTimer()
				}
			})
		}
		for _, collapse := range []bool{false, true} {
			name := keys + "/store-only"
			if collapse {
				name += "/newest-per-key"
			}
			b.Run(name, func(b *testing.B) { benchStoreOnly(b, decodeAll(b, entries), collapse) })
		}
		b.Run(keys+"/decode", func(b *testing.B) {
			m := &app.Materializer{Trusted: func(app.LogEntry) bool { return true }}
			for b.Loop() {
				start, cpu := time.Now(), bench.CPUTime()
				for _, le := range entries {
					if _, err := m.Decode(app.TopicFlights, le); err != nil {
						b.Fatal(err)
					}
				}
				reportRates(b, n, start, cpu)
			}
		})
	}
}

// benchStoreOnly applies decoded changes to a new store, 500 a
// transaction, all of them or only the newest of each key of a batch.
func benchStoreOnly(b *testing.B, changes []app.StateChange, collapse bool) {
	for b.Loop() {
		b.StopTimer()
		s := vectors.NewStore(filepath.Join(b.TempDir(), "state.db"))
		if err := s.Open(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, cpu := time.Now(), bench.CPUTime()
		for i := 0; i < len(changes); i += 500 {
			batch := changes[i:min(i+500, len(changes))]
			last := batch[len(batch)-1].Version.Offset
			if collapse {
				batch = app.NewestPerKey(app.TopicFlights, batch)
			}
			if err := s.ApplyState(context.Background(), app.StateConsumer, app.TopicFlights, batch, last, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		reportRates(b, len(changes), start, cpu)
		b.StopTimer()
		_ = s.Close(context.Background())
		b.StartTimer()
	}
}

func reportRates(b *testing.B, n int, start time.Time, cpu time.Duration) {
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64((bench.CPUTime()-cpu).Microseconds())/float64(n), "cpu-µs/event")
}

func decodeAll(b *testing.B, entries []app.LogEntry) []app.StateChange {
	m := &app.Materializer{Trusted: func(app.LogEntry) bool { return true }}
	out := make([]app.StateChange, len(entries))
	for i, le := range entries {
		ch, err := m.Decode(app.TopicFlights, le)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = ch
	}
	return out
}

// flightEntries are n flight events as log entries; distinct gives each
// its own flight.
func flightEntries(n int, distinct bool) []app.LogEntry {
	evs := bench.FlightEvents(n, "mat")
	out := make([]app.LogEntry, n)
	stored := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	for i, e := range evs {
		if distinct {
			var f app.Flight
			if err := app.DecodeData(e, &f); err != nil {
				panic(err)
			}
			f.Number = fmt.Sprint(1000 + i%9000)
			f.Date = fmt.Sprintf("2026-%02d-%02d", 1+i/9000%12, 1+i/9000/12%28)
			f.Flight = fmt.Sprintf("%s%s-%s", f.Carrier, f.Number, f.Date)
			ne, err := app.NewEvent(e.ID, e.Source, e.Type, f.Flight, e.Time, f)
			if err != nil {
				panic(err)
			}
			e = ne
		}
		// The headers the log stores with each event it appends.
		h := map[string][]string{app.LogHeaderEventType: {e.Type}, app.LogHeaderEventTime: {e.Time.UTC().Format(time.RFC3339Nano)}}
		out[i] = app.LogEntry{Topic: app.TopicFlights, Offset: uint64(i + 1), Subject: app.LogSubject(app.TopicFlights, e.Subject), Key: e.Subject, Stored: stored, Headers: h, Data: e.Raw}
	}
	return out
}
