package bench_test

import (
	"testing"

	"github.com/apron-edge/apron/app"
)

// parseFlight is one flight event as central sends it, with an unknown
// field and a trace header the validator keeps.
const parseFlight = `{"specversion":"1.0","id":"e1","source":"central","type":"flight.status","time":"2026-11-25T08:00:00Z","subject":"LH400-2026-11-25",` +
	`"data":{"flight":"LH400-2026-11-25","carrier":"LH","number":"400","date":"2026-11-25","origin":"FRA","destination":"JFK",` +
	`"scheduled_departure":"2026-11-25T10:00:00+01:00","scheduled_arrival":"2026-11-25T13:00:00-05:00","status":"cancelled","capacity":{"J":30,"Y":250},"x_extra":"kept"},"traceparent":"00-abc"}`

// BenchmarkParse measures validation of one flight event by the typed
// path and by the full JSON Schema validator alone, against a plain
// decode of the same bytes (the floor).
//
//	go test -tags sqlite_fts5 -run '^$' -bench Parse -benchmem ./bench/
func BenchmarkParse(b *testing.B) {
	raw := []byte(parseFlight)
	v := app.DefaultValidator()
	b.Run("validate-full", func(b *testing.B) {
		full := v.WithoutTypedPath()
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := full.Parse(raw, "flights"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("validate", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := v.Parse(raw, "flights"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-only", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			if _, err := app.ParseTrusted(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
