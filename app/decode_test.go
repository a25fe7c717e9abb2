package app

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestDecodeJSONDecodesAsEncodingJSON holds the faster decoder to
// encoding/json's results on the inputs where the two libraries' defaults
// differ: state decoded by either must be the same.
func TestDecodeJSONDecodesAsEncodingJSON(t *testing.T) {
	inputs := map[string]string{
		"plain":             `{"flight":"LH400-2026-11-25","carrier":"LH","number":"400","date":"2026-11-25","origin":"FRA","destination":"JFK","scheduled_departure":"2026-11-25T06:00:00Z","scheduled_arrival":"2026-11-25T14:00:00+01:00","status":"scheduled","capacity":{"economy":250,"business":40}}`,
		"names in any case": `{"Flight":"LH400-2026-11-25","GATE":"A12","Scheduled_Departure":"2026-11-25T06:00:00.123456789Z"}`,
		"duplicate names":   `{"gate":"A1","gate":"B2","capacity":{"economy":1},"capacity":{"business":2}}`,
		"invalid utf-8":     "{\"gate\":\"A\xff1\",\"aircraft\":\"\xed\xa0\x80\"}",
		"nulls":             `{"gate":null,"estimated_departure":null,"capacity":null,"status":"delayed"}`,
		"escapes":           `{"gate":"A\u00e91\n\"x\"","aircraft":"\ud83d\ude00 \u2028"}`,
		"unknown members":   `{"flight":"X","extra":{"a":[1,2,{"b":null}]},"status":"boarding"}`,
	}
	for name, in := range inputs {
		var want, got Flight
		werr := json.Unmarshal([]byte(in), &want)
		gerr := decodeJSON([]byte(in), &got)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: encoding/json error %v, decodeJSON error %v", name, werr, gerr)
			continue
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: encoding/json gives %+v, decodeJSON gives %+v", name, want, got)
		}
	}
	env := `{"specversion":"1.0","ID":"e1","source":"s","type":"flight.status","time":"2026-11-25T06:00:00Z","subject":"X","data":{"gate":"A1"},"data":{"gate":"B2"}}`
	var want, got Event
	if err := json.Unmarshal([]byte(env), &want); err != nil {
		t.Fatal(err)
	}
	if err := decodeJSON([]byte(env), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Errorf("envelope: encoding/json gives %+v, decodeJSON gives %+v", want, got)
	}
	for _, bad := range []string{`{"gate":`, `{"capacity":{"economy":"many"}}`, `[1]`, `{"scheduled_departure":"yesterday"}`} {
		var f Flight
		if decodeJSON([]byte(bad), &f) == nil {
			t.Errorf("decodeJSON accepted %s", bad)
		}
	}
}
