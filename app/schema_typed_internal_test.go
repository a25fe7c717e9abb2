package app

import (
	"fmt"
	"testing"
	"time"
)

// TestStrictDateIsTimeParse: the date check accepts exactly what
// time.Parse does with the layout 2006-01-02.
func TestStrictDateIsTimeParse(t *testing.T) {
	var inputs []string
	for _, y := range []int{0, 1, 1900, 1999, 2000, 2024, 2025, 2026, 2100, 2400, 9999} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	inputs = append(inputs, "", "2026-1-17", "2026-01-7", "26-01-17", "+2026-01-17", "2026/01/17", "2026-01-17 ", " 2026-01-17",
		"2026-0a-17", "2026-01-1a", "2a26-01-17", "2026-01-17T00:00:00Z", "20260-01-17", "2026--1-17", "2026-00-00", "2026-99-99")
	accepted := 0
	for _, in := range inputs {
		_, err := time.Parse("2006-01-02", in)
		if got, want := strictDate([]byte(in)), err == nil; got != want {
			t.Errorf("strictDate(%q) = %v, time.Parse says %v", in, got, want)
		}
		if err == nil {
			accepted++
		}
	}
	if accepted < 11*360 {
		t.Errorf("only %d dates accepted", accepted)
	}
}

// TestEnvelopeReadsDataOnce: the envelope's pass skips the data, which
// its type's schema checks in full.
func TestEnvelopeReadsDataOnce(t *testing.T) {
	v := DefaultValidator()
	d := v.typedEnvelope.props["data"]
	if d == nil || !d.extentOnly {
		t.Fatalf("the envelope's data schema %+v is read in full: each event's data would be read twice", d)
	}
	for typ, file := range dataSchemaOfType {
		if s := v.typedData[typ]; s == nil || s.kinds != kindObject {
			t.Errorf("%s (%s): the data schema does not ask for an object by itself, so the envelope's pass must check its kind", typ, file)
		}
	}
}
