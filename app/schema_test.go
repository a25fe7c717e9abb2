package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

const goodFlight = `{"specversion":"1.0","id":"e1","source":"central","type":"flight.status","time":"2026-11-25T08:00:00Z","subject":"LH400-2026-11-25",
"data":{"flight":"LH400-2026-11-25","carrier":"LH","number":"400","date":"2026-11-25","origin":"FRA","destination":"JFK",
"scheduled_departure":"2026-11-25T10:00:00+01:00","scheduled_arrival":"2026-11-25T13:00:00-05:00","status":"cancelled","capacity":{"J":30,"Y":250},"x_extra":"kept"},"traceparent":"00-abc"}`

func TestValidatorParse(t *testing.T) {
	v := app.DefaultValidator()
	tests := []struct {
		name      string
		raw       string
		topic     string
		wantField string // "" = valid
		wantIn    string
	}{
		{"valid flight", goodFlight, "flights", "", ""},
		{"not json", `{"specversion":`, "flights", "(event)", "not valid JSON"},
		{"array", `[1]`, "flights", "(event)", "JSON object"},
		{"missing id", strings.Replace(goodFlight, `"id":"e1",`, "", 1), "flights", "id", "required"},
		{"bad specversion", strings.Replace(goodFlight, `"1.0"`, `"0.3"`, 1), "flights", "specversion", ""},
		{"bad time", strings.Replace(goodFlight, `"time":"2026-11-25T08:00:00Z"`, `"time":"yesterday"`, 1), "flights", "time", "date-time"},
		{"unknown type", strings.Replace(goodFlight, `"type":"flight.status"`, `"type":"flight.teleported"`, 1), "flights", "type", "unknown event type"},
		{"wrong topic", goodFlight, "bookings", "type", "does not belong"},
		{"bad origin", strings.Replace(goodFlight, `"origin":"FRA"`, `"origin":"Frankfurt"`, 1), "flights", "data.origin", ""},
		{"bad status", strings.Replace(goodFlight, `"status":"cancelled"`, `"status":"lost"`, 1), "flights", "data.status", ""},
		{"time without offset", strings.Replace(goodFlight, `"2026-11-25T10:00:00+01:00"`, `"2026-11-25T10:00:00"`, 1), "flights", "data.scheduled_departure", ""},
		{"negative capacity", strings.Replace(goodFlight, `"Y":250`, `"Y":-1`, 1), "flights", "data.capacity.Y", ""},
		{"subject mismatch", strings.Replace(goodFlight, `"subject":"LH400-2026-11-25"`, `"subject":"LH401-2026-11-25"`, 1), "flights", "subject", "entity key"},
		{"no topic check", goodFlight, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := v.Parse([]byte(tt.raw), tt.topic)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if e.ID != "e1" || e.Subject != "LH400-2026-11-25" || !strings.Contains(string(e.Raw), "x_extra") || !strings.Contains(string(e.Raw), "traceparent") {
					t.Fatalf("event not kept whole: %+v", e)
				}
				return
			}
			ve, ok := err.(*app.ValidationError)
			if !ok {
				t.Fatalf("want *ValidationError, got %T %v", err, err)
			}
			found := false
			for _, f := range ve.Fields {
				if f.Field == tt.wantField && strings.Contains(f.Reason, tt.wantIn) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want field %q with %q, got %+v", tt.wantField, tt.wantIn, ve.Fields)
			}
		})
	}
}

func TestParseEventsNDJSON(t *testing.T) {
	v := app.DefaultValidator()
	bad := strings.Replace(goodFlight, `"origin":"FRA"`, `"origin":"X"`, 1)
	second := strings.Replace(goodFlight, `"id":"e1"`, `"id":"e2"`, 1)
	body := strings.Join([]string{oneLine(goodFlight), "", oneLine(bad), oneLine(second), "not json"}, "\n")
	evs, errs := app.ParseEvents(v, "flights", []byte(body))
	if len(evs) != 2 || evs[0].ID != "e1" || evs[1].ID != "e2" {
		t.Fatalf("valid events: %+v", evs)
	}
	if len(errs) != 2 || errs[0].Line != 3 || errs[0].ID != "e1" || errs[0].Fields[0].Field != "data.origin" || errs[1].Line != 5 {
		t.Fatalf("line errors: %+v", errs)
	}
	if _, errs := app.ParseEvents(v, "flights", []byte("  \n")); len(errs) != 1 || !strings.Contains(errs[0].Fields[0].Reason, "no event") {
		t.Fatalf("empty body: %+v", errs)
	}
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "") }

func TestSubjectKeyRoundTrip(t *testing.T) {
	for _, k := range []string{"LH400-2026-11-25", "ABC123", "policy.v2 draft", "a*b>c%d", "ünï"} {
		tok := app.SubjectKey(k)
		if strings.ContainsAny(tok, ".*> ") {
			t.Fatalf("token %q of %q has a subject metacharacter", tok, k)
		}
		if got := app.KeyFromSubjectToken(tok); got != k {
			t.Fatalf("round trip %q -> %q -> %q", k, tok, got)
		}
	}
}

func TestValidatorRefusesAmbiguousText(t *testing.T) {
	v := app.DefaultValidator()
	tests := []struct {
		name, raw, wantField, wantIn string
	}{
		{"id with trailing space", strings.Replace(goodFlight, `"id":"e1"`, `"id":"e1 "`, 1), "id", "white space"},
		{"id of one space", strings.Replace(goodFlight, `"id":"e1"`, `"id":" "`, 1), "id", "white space"},
		{"id with a newline", strings.Replace(goodFlight, `"id":"e1"`, `"id":"a\nb"`, 1), "id", "control"},
		{"id with a tab", strings.Replace(goodFlight, `"id":"e1"`, `"id":"a\tb"`, 1), "id", "control"},
		{"id too long", strings.Replace(goodFlight, `"id":"e1"`, `"id":"`+strings.Repeat("x", 257)+`"`, 1), "id", ""},
		{"source with a control character", strings.Replace(goodFlight, `"source":"central"`, `"source":"cen\u0007tral"`, 1), "source", "control"},
		{"escaped NUL in a field", strings.Replace(goodFlight, `"x_extra":"kept"`, `"x_extra":"ke\u0000pt"`, 1), "data.x_extra", "NUL"},
		{"invalid UTF-8", strings.Replace(goodFlight, `"x_extra":"kept"`, "\"x_extra\":\"ke\xffpt\"", 1), "data.x_extra", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Parse([]byte(tt.raw), "flights")
			if tt.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			ve, ok := err.(*app.ValidationError)
			if !ok {
				t.Fatalf("want *ValidationError, got %T %v", err, err)
			}
			for _, f := range ve.Fields {
				if f.Field == tt.wantField && strings.Contains(f.Reason, tt.wantIn) {
					return
				}
			}
			t.Fatalf("want %s (%q), got %v", tt.wantField, tt.wantIn, ve.Fields)
		})
	}
}

func TestValidatorRefusesEventsFromTheFuture(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	v := app.DefaultValidator().WithFutureSkew(5*time.Minute, func() time.Time { return now }, "max_future_skew")
	at := func(t time.Time) string {
		return strings.Replace(goodFlight, `"time":"2026-11-25T08:00:00Z"`, `"time":"`+t.Format(time.RFC3339)+`"`, 1)
	}
	if _, err := v.Parse([]byte(at(now.Add(4*time.Minute))), "flights"); err != nil {
		t.Fatalf("within the skew: %v", err)
	}
	_, err := v.Parse([]byte(at(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))), "flights")
	ve, ok := err.(*app.ValidationError)
	if !ok || len(ve.Fields) != 1 || ve.Fields[0].Field != "time" || !strings.Contains(ve.Fields[0].Reason, "max_future_skew") {
		t.Fatalf("far future: %v", err)
	}
}

func TestUniqueIDTakesSourceAndID(t *testing.T) {
	// The ids of events already on a log stay what they were.
	if got := app.UniqueID("central", "42"); got != "ce-d684f704003f21ce5d9a3711d20bbdcdb9fefb99" {
		t.Errorf("UniqueID(central, 42) = %s", got)
	}
	if got := app.UniqueID(strings.Repeat("x", 300), "y"); got != "ce-bb2de22c643e8adf7a9b9b5e0271a129c2a8c4ed" {
		t.Errorf("UniqueID of a long source = %s", got)
	}
	a, b, c := app.UniqueID("central", "42"), app.UniqueID("crew", "42"), app.UniqueID("central", "42 ")
	if a == b || a == c || a != app.UniqueID("central", "42") || app.UniqueID("ab", "c") == app.UniqueID("a", "bc") {
		t.Fatal("UniqueID must tell (source, id) pairs apart and nothing else")
	}
}
