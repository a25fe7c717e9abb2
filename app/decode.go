package app

import (
	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// decodeOptions give the faster decoder exactly the semantics of
// encoding/json (names matched without regard to case, duplicate names
// and invalid UTF-8 accepted as encoding/json accepts them), so that state
// decoded by it equals state decoded before it, and a rebuild equals the
// live store.
var decodeOptions = jsonv1.DefaultOptionsV1()

// decodeJSON decodes b into v as encoding/json.Unmarshal does, in about
// half the time (decision 0020, addendum). It serves the hot path of the
// materialiser: events this node validated when they were appended.
func decodeJSON(b []byte, v any) error {
	return jsonv2.Unmarshal(b, v, decodeOptions)
}
