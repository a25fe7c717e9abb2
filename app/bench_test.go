package app_test

import (
	"testing"

	"github.com/apron-edge/apron/app"
)

// BenchmarkParse measures schema validation of one flight event against a
// plain decode of the same bytes (the floor).
func BenchmarkParse(b *testing.B) {
	raw := []byte(oneLine(goodFlight))
	v := app.DefaultValidator()
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
