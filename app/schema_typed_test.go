package app_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
)

// agreement compares the validator with its typed path against the full
// JSON Schema validator on one event.
type agreement struct {
	typed, full                     *app.Validator
	typedDecided, fullOnly, refused int
}

func newAgreement() *agreement {
	v := app.DefaultValidator().WithFutureSkew(5*time.Minute, func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) }, "max_future_skew")
	return &agreement{typed: v, full: v.WithoutTypedPath()}
}

// check fails t unless both validators give the same answer: the same
// Event, or the same refusal word for word.
func (a *agreement) check(t *testing.T, name string, raw []byte, topic string) {
	t.Helper()
	got, gotErr := a.typed.Parse(raw, topic)
	want, wantErr := a.full.Parse(raw, topic)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s: typed path says %v, the schema says %v\n%s", name, gotErr, wantErr, raw)
	}
	if wantErr != nil {
		a.refused++
		if app.TypedAccepts(a.typed, raw, topic) {
			t.Fatalf("%s: the typed checks accept an event the schema refuses (%v)\n%s", name, wantErr, raw)
		}
		return
	}
	if !sameEvent(got, want) {
		t.Fatalf("%s: typed path built\n%+v\nthe schema path\n%+v", name, got, want)
	}
	if app.TypedAccepts(a.typed, raw, topic) {
		a.typedDecided++
	} else {
		a.fullOnly++
	}
}

func sameEvent(a, b *app.Event) bool {
	if !a.Time.Equal(b.Time) || a.Time.Location().String() != b.Time.Location().String() {
		return false
	}
	ac, bc := *a, *b
	ac.Time, bc.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(ac, bc)
}

// dayEvents are the events of a simulated day: every type the simulator
// makes, as central sends them.
func dayEvents() []*app.Event {
	day := sim.Generate(sim.Config{Seed: 11, Date: "2026-11-25", Departures: 12, Now: time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)})
	var out []*app.Event
	for _, te := range day.Events {
		out = append(out, te.Event)
	}
	return out
}

// TestTypedPathAgrees: on every event of a simulated day, on the events
// of the schema tests and on thousands of mutations of them (each member
// removed, retyped, emptied, lengthened; escapes, duplicates, case,
// numbers and times written differently), the validator with its typed
// path gives exactly what the full JSON Schema validator gives, and the
// typed path alone decides every valid simulator event.
func TestTypedPathAgrees(t *testing.T) {
	a := newAgreement()
	seeds := map[string]bool{}
	for _, e := range dayEvents() {
		a.check(t, e.Type+" "+e.ID, e.Raw, e.Topic())
		if !app.TypedAccepts(a.typed, e.Raw, e.Topic()) {
			t.Fatalf("the typed path does not decide the valid %s event %s", e.Type, e.Raw)
		}
		if !seeds[e.Type] {
			seeds[e.Type] = true
			mutateAll(t, a, e.Type, e.Raw, e.Topic())
		}
	}
	for _, raw := range []string{goodFlight, oneLine(goodFlight), rebookingEvent, documentEvent, erasureCompleted} {
		a.check(t, "fixture", []byte(raw), "")
		mutateAll(t, a, "fixture", []byte(raw), "")
	}
	for i, raw := range textCases() {
		a.check(t, fmt.Sprintf("text case %d", i), []byte(raw), "flights")
	}
	t.Logf("typed path decided %d, full validator alone %d, refused %d", a.typedDecided, a.fullOnly, a.refused)
	if a.refused < 1000 || a.typedDecided < 100 {
		t.Fatalf("the corpus is too small to show agreement: %+v", a)
	}
}

const rebookingEvent = `{"specversion":"1.0","id":"r1","source":"apron","type":"rebooking.executed","time":"2026-11-25T08:00:00.123456789+01:00","subject":"ABC123",` +
	`"data":{"proposal_id":"p1","locator":"ABC123","to_flights":["LH402-2026-11-25"],"note":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/"}}`

const documentEvent = `{"specversion":"1.0","id":"d1","source":"central","type":"document.upserted","time":"2026-11-25T08:00:00Z","subject":"policy-x",` +
	`"data":{"id":"policy-x","title":"Hotel","body":"line one\nline two\ttab","tags":["hotel","night"],"airport":"","valid_from":null,"valid_to":"2027-01-01T00:00:00Z"}}`

const erasureCompleted = `{"specversion":"1.0","id":"x1","source":"apron","type":"passenger.erasure.completed","time":"2026-11-25T08:00:00Z","subject":"P1",` +
	`"data":{"erasure":"e1","requested_by":"dpo","requested_at":"2026-11-25T07:00:00Z","completed_at":"2026-11-25T07:00:01Z","bookings_redacted":2,"duration_ms":10}}`

// mutateAll checks every mutation of every member of raw's data and
// envelope.
func mutateAll(t *testing.T, a *agreement, name string, raw []byte, topic string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, path := range leafPaths(doc, nil) {
		for vi, val := range mutations(at(doc, path)) {
			mutated := withValue(doc, path, val)
			b, err := json.Marshal(mutated)
			if err != nil {
				t.Fatal(err)
			}
			a.check(t, fmt.Sprintf("%s %s #%d", name, strings.Join(path, "."), vi), b, topic)
		}
	}
}

// removed marks a member to delete.
type removed struct{}

func mutations(v any) []any {
	out := []any{removed{}, nil, true, 0, -1, 1.5, 1001, "", " ", "x", "A", "ABC", "abc", "ZZZ999", strings.Repeat("é", 300),
		[]any{}, []any{"X"}, []any{1}, map[string]any{}, map[string]any{"J": 1}, "2026-11-25", "2026-11-25T10:00:00Z", "2026-13-01T00:00:00Z",
		"2026-11-25T23:59:60Z", "2026-11-25t10:00:00z", "2026-11-25T10:00:00", "2026-11-25T10:00:00+24:00", "2999-01-01T00:00:00Z",
		"2026-02-30", "LH400-2026-11-25", "cancelled", "gold", "WCHR", "wchr", "1A", "12K", "active"}
	switch x := v.(type) {
	case string:
		out = append(out, x+" ", " "+x, strings.ToLower(x), strings.ToUpper(x), x+x, x+"\x00", x+"\t", x[:len(x)/2])
	case float64:
		out = append(out, x+1, -x, fmt.Sprint(x))
	case []any:
		out = append(out, append(append([]any{}, x...), x...), append([]any{nil}, x...))
	}
	return out
}

// leafPaths lists the path of every member and item under v.
func leafPaths(v any, prefix []string) [][]string {
	var out [][]string
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(append([]string{}, prefix...), k)
			out = append(out, p)
			out = append(out, leafPaths(x[k], p)...)
		}
	case []any:
		for i := range x {
			p := append(append([]string{}, prefix...), fmt.Sprint(i))
			out = append(out, p)
			out = append(out, leafPaths(x[i], p)...)
		}
	}
	return out
}

func at(v any, path []string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			var i int
			fmt.Sscan(p, &i)
			v = x[i]
		}
	}
	return v
}

// withValue returns a deep copy of v with the value at path replaced
// (or removed).
func withValue(v any, path []string, val any) any {
	if len(path) == 0 {
		return val
	}
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = e
		}
		if _, del := val.(removed); del && len(path) == 1 {
			delete(c, path[0])
		} else {
			c[path[0]] = withValue(x[path[0]], path[1:], val)
		}
		return c
	case []any:
		var i int
		fmt.Sscan(path[0], &i)
		c := append([]any{}, x...)
		if _, del := val.(removed); del && len(path) == 1 {
			return append(c[:i], c[i+1:]...)
		}
		c[i] = withValue(x[i], path[1:], val)
		return c
	}
	return v
}

// textCases are spellings that a re-encoded document cannot produce:
// duplicates, case, whitespace, escapes, numbers, bytes.
func textCases() []string {
	g := oneLine(goodFlight)
	r := func(old, new string) string { return strings.Replace(g, old, new, 1) }
	return []string{
		r(`"id":"e1",`, `"id":"e1","id":"e2",`),
		r(`"id":"e1",`, `"id":"e1","ID":"e2",`),
		r(`"id":"e1",`, `"Id":"e1",`),
		r(`"id":"e1",`, `"id":"e1","ſpecversion":"1.0",`),
		r(`"origin":"FRA"`, `"origin":"FRA","origin":"JFK"`),
		r(`"origin":"FRA"`, `"Origin":"FRA"`),
		r(`"origin":"FRA"`, `"origin" : "FRA"`),
		r(`"origin":"FRA"`, `"origin":"F\u0052A"`),
		r(`"origin":"FRA"`, `"origin":"FR\u0000"`),
		r(`"origin":"FRA"`, `"or\u0069gin":"FRA"`),
		r(`"x_extra":"kept"`, `"x_extra":"\ud83d"`),
		r(`"x_extra":"kept"`, `"x_extra":"\ud83d\ude00"`),
		r(`"x_extra":"kept"`, `"x_extra":"\uDE00\ud83d"`),
		r(`"x_extra":"kept"`, `"x_extra":"bad \x escape"`),
		r(`"x_extra":"kept"`, "\"x_extra\":\"ke\xffpt\""),
		r(`"x_extra":"kept"`, "\"x_extra\":\"tab\tinside\""),
		r(`"x_extra":"kept"`, `"x_extra":[1,2,]`),
		r(`"x_extra":"kept"`, `"x_extra":{"a":1,}`),
		r(`"x_extra":"kept"`, `"x_extra":01`),
		r(`"x_extra":"kept"`, `"x_extra":-`),
		r(`"x_extra":"kept"`, `"x_extra":1e400`),
		r(`"x_extra":"kept"`, `"x_extra":tru`),
		r(`"x_extra":"kept"`, `"x_extra":nul`),
		// The envelope's pass reads only the data's extent: strings that
		// hold brackets, quotes and backslashes, and data cut short or
		// closed too often, must come out as the full validator says.
		r(`"x_extra":"kept"`, `"x_extra":"}]{[\"}\\"`),
		r(`"x_extra":"kept"`, `"x_extra":"\\"},"id":"e9"`),
		r(`"x_extra":"kept"`, `"x_extra":{"a":["}",{"b":"]"}]}`),
		r(`"x_extra":"kept"`, `"x_extra":"kept"}}`),
		r(`"x_extra":"kept"`, `"x_extra":"kept"]`),
		r(`"x_extra":"kept"`, `"x_extra":"kept\"`),
		r(`"x_extra":"kept"`, `"x_extra":[{]}`),
		r(`"data":{`, `"data":[{`),
		r(`"data":{`, `"data": \n {`),
		strings.Split(g, `"data":`)[0] + `"data":{"flight":"LH400`,
		strings.Split(g, `"data":`)[0] + `"data":{"a":"\`,
		r(`"Y":250`, `"Y":250.0`),
		r(`"Y":250`, `"Y":2.5e2`),
		r(`"Y":250`, `"Y":1000`),
		r(`"Y":250`, `"Y":1000.5`),
		r(`"Y":250`, `"Y":99999999999999999999`),
		r(`"Y":250`, `"y":250`),
		r(`"time":"2026-11-25T08:00:00Z"`, `"time":"2026-11-25T08:00:00.5Z"`),
		r(`"time":"2026-11-25T08:00:00Z"`, `"time":"2026-11-25T08:00:00.Z"`),
		r(`"time":"2026-11-25T08:00:00Z"`, `"time":"2026-11-25T08:00:00.1234567891234Z"`),
		r(`"time":"2026-11-25T08:00:00Z"`, `"time":"2026-11-25T23:59:60+00:00"`),
		r(`"time":"2026-11-25T08:00:00Z"`, `"time":"2026-11-25T08:00:00\u005A"`),
		r(`"subject":"LH400-2026-11-25"`, `"subject":"LH400-2026-11-25 "`),
		g + " ",
		" \n" + g + "\n",
		g + "x",
		g + "{}",
		"\u00a0" + g,
		"{}",
		"[]",
		"null",
		"",
		`{"specversion":"1.0"`,
	}
}

// TestTypedPathDecidesDataWithBracketsInStrings: strings in the data that
// hold brackets, quotes and backslashes do not send a valid event to the
// full validator (the envelope's pass skips the data by its extent).
func TestTypedPathDecidesDataWithBracketsInStrings(t *testing.T) {
	a := newAgreement()
	g := oneLine(goodFlight)
	for _, extra := range []string{`"}]{["`, `"\"}"`, `"\\"`, `"a\\\"{"`, `{"a":["}",{"b":"]"}],"c":"\u007d"}`, `[[],{},"]]"]`} {
		raw := strings.Replace(g, `"x_extra":"kept"`, `"x_extra":`+extra, 1)
		a.check(t, extra, []byte(raw), "flights")
		if !app.TypedAccepts(a.typed, []byte(raw), "flights") {
			t.Errorf("the typed path does not decide the valid event with x_extra %s", extra)
		}
	}
}

// TestParseTrustedEnvelopeAgrees: the materialiser's reading of a
// trusted event's envelope by the typed checks gives the Event the JSON
// decoder gives (ParseTrusted), on every event of a simulated day (each
// read by the typed checks), on mutations of them and on the text cases;
// where the decoder refuses an event, the data it gives does not decode.
func TestParseTrustedEnvelopeAgrees(t *testing.T) {
	typed := 0
	check := func(name string, raw []byte) {
		t.Helper()
		got, gotErr := app.ParseTrustedEnvelope(raw)
		want, wantErr := app.ParseTrusted(raw)
		if !app.TrustedTyped(raw) {
			return // the decoder read it: the same call
		}
		typed++
		switch {
		case gotErr != nil:
			t.Fatalf("%s: the typed envelope refuses (%v)\n%s", name, gotErr, raw)
		case wantErr != nil && json.Valid(got.Data):
			t.Fatalf("%s: the typed envelope accepts what the decoder refuses (%v), with data that decodes\n%s", name, wantErr, raw)
		case wantErr == nil && !sameEvent(got, want):
			t.Fatalf("%s: typed envelope gave\n%+v\nthe decoder\n%+v", name, got, want)
		}
	}
	seeds := map[string]bool{}
	for _, e := range dayEvents() {
		if !app.TrustedTyped(e.Raw) {
			t.Fatalf("the typed envelope does not read the valid %s event %s", e.Type, e.Raw)
		}
		check(e.Type, e.Raw)
		if seeds[e.Type] {
			continue
		}
		seeds[e.Type] = true
		var doc map[string]any
		if err := json.Unmarshal(e.Raw, &doc); err != nil {
			t.Fatal(err)
		}
		for _, path := range leafPaths(doc, nil) {
			for vi, val := range mutations(at(doc, path)) {
				b, err := json.Marshal(withValue(doc, path, val))
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("%s %s #%d", e.Type, strings.Join(path, "."), vi), b)
			}
		}
	}
	for i, raw := range textCases() {
		check(fmt.Sprintf("text case %d", i), []byte(raw))
	}
	if typed < 1000 {
		t.Errorf("the typed envelope read only %d events", typed)
	}
}

// FuzzTypedPathAgrees looks for an event on which the typed path and the
// full validator disagree: `go test -run '^$' -fuzz TypedPath ./app/`.
func FuzzTypedPathAgrees(f *testing.F) {
	for _, s := range append(textCases(), goodFlight, rebookingEvent, documentEvent, erasureCompleted) {
		f.Add([]byte(s))
	}
	a := newAgreement()
	f.Fuzz(func(t *testing.T, raw []byte) {
		a.check(t, "fuzz", raw, "")
	})
}
