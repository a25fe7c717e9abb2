package app

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schemas holds the published JSON Schemas of the event contract. The same
// files validate the HTTP ingest API, events that arrive over NATS, and
// records mirrored from Kafka.
//
//go:embed schemas/*.json
var Schemas embed.FS

const schemaBase = "https://schemas.apron.dev/v1/"

// dataSchemaOfType names the schema file that validates each type's data.
var dataSchemaOfType = map[string]string{
	TypeFlightScheduled:   "flight.json",
	TypeFlightStatus:      "flight.json",
	TypeBookingCreated:    "booking.json",
	TypeBookingChanged:    "booking.json",
	TypeBookingCancelled:  "booking.json",
	TypePassengerUpserted: "passenger.json",
	TypePassengerErased:   "passenger-erased.json",
	TypeDocumentUpserted:  "document.json",
	TypeDocumentDeleted:   "document-deleted.json",
	TypeRebookingProposed: "rebooking.json",
	TypeRebookingApproved: "rebooking.json",
	TypeRebookingRejected: "rebooking.json",
	TypeRebookingExecuted: "rebooking.json",
	TypeRebookingFailed:   "rebooking.json",
	TypeRebookingExpired:  "rebooking.json",
	TypeAssistRequested:   "assist.json",
	TypeAssistAnswered:    "assist.json",
	TypeDeadLetter:        "deadletter.json",
	TypeErasureCompleted:  "erasure-completed.json",
	TypeUserChanged:       "user.json",
	TypeTokenChanged:      "token.json",
	TypeProposalChanged:   "proposal-changed.json",
	TypeProposalCommand:   "proposal-command.json",
}

// FieldError names one field of one event and why it was refused.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) String() string { return e.Field + ": " + e.Reason }

// ValidationError lists every reason an event was refused.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.String()
	}
	return "invalid event: " + strings.Join(parts, "; ")
}

// Validator checks events against the published schemas. Each schema is
// also compiled into typed checks (schema_compile.go) that accept the
// common, valid event in one pass; whatever they do not accept is judged
// by the full JSON Schema validator, which words every refusal.
type Validator struct {
	envelope *jsonschema.Schema
	data     map[string]*jsonschema.Schema
	printer  *message.Printer

	typedEnvelope *typedSchema
	typedData     map[string]*typedSchema // types the typed path covers
	fullOnly      bool                    // skip the typed path (tests, comparisons)

	// now and maxFutureSkew refuse events dated too far ahead (see
	// WithFutureSkew); without them any time is accepted.
	now           func() time.Time
	maxFutureSkew time.Duration
	skewSetting   string
}

// WithFutureSkew returns a validator that also refuses events whose time
// is more than skew after now(), naming the setting that allows it. A
// future-dated event would otherwise win over every later one for its key.
func (v *Validator) WithFutureSkew(skew time.Duration, now func() time.Time, setting string) *Validator {
	c := *v
	c.maxFutureSkew, c.now, c.skewSetting = skew, now, setting
	return &c
}

var (
	defaultValidator     *Validator
	defaultValidatorErr  error
	defaultValidatorOnce sync.Once
)

// DefaultValidator returns a process-wide validator compiled from Schemas.
func DefaultValidator() *Validator {
	defaultValidatorOnce.Do(func() { defaultValidator, defaultValidatorErr = NewValidator() })
	if defaultValidatorErr != nil {
		panic(fmt.Sprintf("compile embedded schemas: %v", defaultValidatorErr))
	}
	return defaultValidator
}

// NewValidator compiles the embedded schemas.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := Schemas.ReadDir("schemas")
	if err != nil {
		return nil, err
	}
	for _, ent := range entries {
		b, err := Schemas.ReadFile("schemas/" + ent.Name())
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", ent.Name(), err)
		}
		if err := c.AddResource(schemaBase+ent.Name(), doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", ent.Name(), err)
		}
	}
	v := &Validator{data: map[string]*jsonschema.Schema{}, printer: message.NewPrinter(language.English)}
	if v.envelope, err = c.Compile(schemaBase + "cloudevent.json"); err != nil {
		return nil, fmt.Errorf("compile cloudevent.json: %w", err)
	}
	for typ, file := range dataSchemaOfType {
		s, err := c.Compile(schemaBase + file)
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", file, err)
		}
		v.data[typ] = s
	}
	if err := v.compileTypedPath(); err != nil {
		return nil, err
	}
	return v, nil
}

// compileTypedPath compiles the typed checks of the envelope and of every
// data schema they cover; a schema they do not cover leaves its types to
// the full validator alone.
func (v *Validator) compileTypedPath() error {
	typed := map[string]*typedSchema{}
	compile := func(file string) (*typedSchema, error) {
		if ts, ok := typed[file]; ok {
			return ts, nil
		}
		b, err := Schemas.ReadFile("schemas/" + file)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", file, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", file, err)
		}
		ts, err := compileTyped(doc)
		if err != nil && !errors.Is(err, errNotCovered) {
			return nil, fmt.Errorf("typed checks of %s: %w", file, err)
		}
		typed[file] = ts
		return ts, nil
	}
	env, err := compile("cloudevent.json")
	if err != nil || env == nil {
		return err
	}
	// The data is read once, by its type's schema (typedDataOf): the
	// envelope's pass only finds where it ends.
	if d := env.props["data"]; d != nil && d.objectOnly() {
		d.extentOnly = true
	}
	v.typedEnvelope, v.typedData = env, map[string]*typedSchema{}
	for typ, file := range dataSchemaOfType {
		ts, err := compile(file)
		if err != nil {
			return err
		}
		if ts != nil {
			v.typedData[typ] = ts
		}
	}
	return nil
}

// Parse decodes and validates one CloudEvent in structured JSON mode. If
// topic is not empty the event's type must belong to it. The returned error
// is a *ValidationError naming every failing field.
func (v *Validator) Parse(raw []byte, topic string) (*Event, error) {
	raw = bytes.TrimSpace(raw)
	if !v.fullOnly {
		if e, ok := v.parseTyped(raw, topic); ok {
			return e, nil
		}
	}
	return v.parseFull(raw, topic)
}

// parseFull is Parse by the full JSON Schema validator: the judge of
// every event the typed path does not accept, and the author of every
// refusal's wording.
func (v *Validator) parseFull(raw []byte, topic string) (*Event, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "(event)", Reason: "not valid JSON: " + err.Error()}}}
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return nil, &ValidationError{Fields: []FieldError{{Field: "(event)", Reason: "must be a JSON object"}}}
	}
	if fe, bad := badText(obj, "", !utf8.Valid(raw)); bad {
		return nil, &ValidationError{Fields: []FieldError{fe}}
	}
	var fields []FieldError
	if err := v.envelope.Validate(obj); err != nil {
		fields = append(fields, v.fieldErrors(err, "")...)
	}
	for _, f := range []string{"id", "source"} {
		if s, ok := obj[f].(string); ok && s != "" {
			if reason := badIdentifier(s); reason != "" {
				fields = append(fields, FieldError{Field: f, Reason: reason})
			}
		}
	}
	if ts, ok := obj["time"].(string); ok && v.maxFutureSkew > 0 {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			if limit := v.now().Add(v.maxFutureSkew); t.After(limit) {
				fields = append(fields, FieldError{Field: "time", Reason: fmt.Sprintf("%s is more than %s in the future (%s allows up to %s)",
					ts, v.maxFutureSkew, v.skewSetting, limit.UTC().Format(time.RFC3339))})
			}
		}
	}
	typ, _ := obj["type"].(string)
	if typ != "" {
		if s, ok := v.data[typ]; !ok {
			fields = append(fields, FieldError{Field: "type", Reason: fmt.Sprintf("unknown event type %q", typ)})
		} else {
			if topic != "" && TopicOf(typ) != topic {
				fields = append(fields, FieldError{Field: "type", Reason: fmt.Sprintf("type %q does not belong to topic %q (it belongs to %q)", typ, topic, TopicOf(typ))})
			}
			if data, ok := obj["data"].(map[string]any); ok {
				if err := s.Validate(data); err != nil {
					fields = append(fields, v.fieldErrors(err, "data")...)
				}
			}
		}
	}
	if len(fields) > 0 {
		return nil, &ValidationError{Fields: fields}
	}
	data, _ := obj["data"].(map[string]any)
	if key, ok := entityKey(typ, data); ok && key != obj["subject"] {
		return nil, &ValidationError{Fields: []FieldError{{Field: "subject", Reason: fmt.Sprintf("must equal the entity key %q carried in data", key)}}}
	}
	var e Event
	if err := decodeJSON(raw, &e); err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "(event)", Reason: err.Error()}}}
	}
	e.Raw = append(json.RawMessage(nil), raw...)
	return &e, nil
}

// entityKey returns the key that an event's data implies for its subject.
func entityKey(typ string, data map[string]any) (string, bool) {
	field := entityKeyField(typ)
	if field == "" {
		return "", false
	}
	k, _ := data[field].(string)
	return k, true
}

// entityKeyField names the member of data that holds the entity key of
// events of type typ, or "" for types that carry no entity.
func entityKeyField(typ string) string {
	switch TopicOf(typ) {
	case TopicFlights:
		return "flight"
	case TopicBookings:
		return "locator"
	case TopicPassengers, TopicDocuments:
		return "id"
	}
	return ""
}

// ParseTrusted decodes an event that this node validated when it was
// appended (see Materializer.Trusted); it skips the schema check but still
// refuses anything that does not decode.
func ParseTrusted(raw []byte) (*Event, error) {
	var e Event
	if err := decodeJSON(raw, &e); err != nil {
		return nil, &ValidationError{Fields: []FieldError{{Field: "(event)", Reason: err.Error()}}}
	}
	if e.ID == "" || e.Subject == "" || e.Type == "" || len(e.Data) == 0 {
		return nil, &ValidationError{Fields: []FieldError{{Field: "(event)", Reason: "missing id, subject, type or data"}}}
	}
	e.Raw = raw
	return &e, nil
}

// parseTrustedEnvelope is ParseTrusted for a caller that decodes the
// data itself straight after (the materialiser): the envelope's typed
// checks read the envelope in a third of the decoder's time and build
// the same Event where they decide, but they only find the data's
// extent, so data that is not JSON is refused by the caller's decode
// instead (TestParseTrustedEnvelopeAgrees).
func parseTrustedEnvelope(raw []byte) (*Event, error) {
	if e, ds, ok := DefaultValidator().typedEnvelopeOf(raw); ok {
		e.Raw, e.Data = raw, raw[ds[0]:ds[1]:ds[1]]
		return e, nil
	}
	return ParseTrusted(raw)
}

// fieldErrors flattens a schema validation error into one entry per leaf.
func (v *Validator) fieldErrors(err error, prefix string) []FieldError {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []FieldError{{Field: orDefault(prefix, "(event)"), Reason: err.Error()}}
	}
	seen := map[string]bool{}
	var out []FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		loc := append([]string(nil), e.InstanceLocation...)
		if prefix != "" {
			loc = append([]string{prefix}, loc...)
		}
		add := func(fe FieldError) {
			if k := fe.String(); !seen[k] {
				seen[k] = true
				out = append(out, fe)
			}
		}
		// A missing property is named as the field itself, so that the
		// sender finds it where it should have been.
		if req, ok := e.ErrorKind.(*kind.Required); ok {
			for _, p := range req.Missing {
				add(FieldError{Field: strings.Join(append(slices.Clone(loc), p), "."), Reason: "required, but missing"})
			}
			return
		}
		add(FieldError{Field: orDefault(strings.Join(loc, "."), "(event)"), Reason: e.ErrorKind.LocalizedString(v.printer)})
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// badIdentifier says why s cannot identify an event (its id or source),
// or "". NATS headers fold whitespace and drop control characters, and
// people compare ids by eye: an id must read as exactly what it is.
func badIdentifier(s string) string {
	if strings.TrimSpace(s) != s {
		return "must not begin or end with white space"
	}
	for _, r := range s {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return fmt.Sprintf("must be printable text without control characters (found %U)", r)
		}
	}
	return ""
}

// badText finds the first string (value or member name) of a decoded
// event that holds a NUL, or, when the raw bytes were not valid UTF-8, a
// replacement character: the decoder substitutes U+FFFD for invalid
// bytes, so that is where they were. It names the field.
func badText(v any, path string, invalidUTF8 bool) (FieldError, bool) {
	check := func(s, field string) (FieldError, bool) {
		if strings.ContainsRune(s, 0) {
			return FieldError{Field: orDefault(field, "(event)"), Reason: "must not contain NUL characters (\\u0000)"}, true
		}
		if invalidUTF8 && strings.ContainsRune(s, utf8.RuneError) {
			return FieldError{Field: orDefault(field, "(event)"), Reason: "is not valid UTF-8"}, true
		}
		return FieldError{}, false
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case string:
		return check(x, path)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if fe, bad := check(k, join(k)); bad {
				fe.Reason = "member name " + fe.Reason
				return fe, true
			}
			if fe, bad := badText(x[k], join(k), invalidUTF8); bad {
				return fe, true
			}
		}
	case []any:
		for i, e := range x {
			if fe, bad := badText(e, join(fmt.Sprint(i)), invalidUTF8); bad {
				return fe, true
			}
		}
	}
	if invalidUTF8 && path == "" {
		return FieldError{Field: "(event)", Reason: "is not valid UTF-8"}, true
	}
	return FieldError{}, false
}

// WithoutTypedPath returns a validator that judges every event by the
// full JSON Schema validator alone: the reference the typed checks are
// measured and tested against.
func (v *Validator) WithoutTypedPath() *Validator {
	c := *v
	c.fullOnly = true
	return &c
}
