package app

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// typedReader reads one JSON value and checks it against a typedSchema in
// the same pass, without building a tree. Every method returns false when
// the value is refused or when the reader is not sure; the caller then
// asks the full validator, so false never reaches a client by itself.
type typedReader struct {
	b []byte
	i int
	// capture names members of the object at depth 0 whose values'
	// spans are recorded in spans (the envelope's attributes, or the
	// entity key in data).
	capture []string
	spans   [][2]int
	// foldGuard refuses a member whose name differs from a captured one
	// only in case: encoding/json would decode it into the same field.
	foldGuard bool
}

func (r *typedReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// value reads one value and checks it against s (nil accepts any value).
func (r *typedReader) value(s *typedSchema, depth int) bool {
	r.ws()
	if r.i >= len(r.b) || depth > 64 {
		return false
	}
	switch c := r.b[r.i]; {
	case c == '{':
		return s.allows(kindObject) && r.object(s, depth)
	case c == '[':
		return s.allows(kindArray) && r.array(s, depth)
	case c == '"':
		str, ok := r.str()
		return ok && s.checkString(str)
	case c == 't' || c == 'f':
		return r.literal(c) && s.checkScalar(kindBool)
	case c == 'n':
		return r.literal(c) && s.checkScalar(kindNull)
	default:
		n, isInt, ok := r.number()
		return ok && s.checkNumber(n, isInt)
	}
}

func (r *typedReader) literal(c byte) bool {
	word := "null"
	switch c {
	case 't':
		word = "true"
	case 'f':
		word = "false"
	}
	if !bytes.HasPrefix(r.b[r.i:], []byte(word)) {
		return false
	}
	r.i += len(word)
	return true
}

// object reads an object; member names with escapes and repeated names
// are left to the full validator.
func (r *typedReader) object(s *typedSchema, depth int) bool {
	r.i++ // {
	var seen [24][]byte
	names := seen[:0]
	for first := true; ; first = false {
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == '}' && first {
			r.i++
			break
		}
		name, ok := r.rawName()
		if !ok || hasName(names, name) || !r.colon() {
			return false
		}
		names = append(names, name)
		start := r.i
		if !r.member(s, name, depth) {
			return false
		}
		if depth == 0 && !r.record(name, start) {
			return false
		}
		if !r.next('}') {
			return false
		}
		if r.b[r.i-1] == '}' {
			break
		}
	}
	return s.hasRequired(names)
}

// member reads the value of one member named name of an object of s.
func (r *typedReader) member(s *typedSchema, name []byte, depth int) bool {
	if s == nil {
		return r.value(nil, depth+1)
	}
	if s.propNames != nil && !s.propNames.checkString(name) {
		return false
	}
	if sub, ok := s.props[string(name)]; ok {
		if sub.extentOnly {
			return r.extent(sub, depth)
		}
		return r.value(sub, depth+1)
	}
	if s.noAdditional {
		return false
	}
	return r.value(s.additional, depth+1)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// extent reads past the value of a member whose schema asks for an
// object and nothing more, and that a later pass reads in full with a
// schema of its own (an event's data): only the nesting and the strings
// are followed here. A value that is not an object is read by value.
func (r *typedReader) extent(s *typedSchema, depth int) bool {
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != '{' || !s.allows(kindObject) {
		return r.value(s, depth+1)
	}
	nest := 0
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '"':
			if !r.skipString() {
				return false
			}
			continue
		case '{', '[':
			nest++
		case '}', ']':
			if nest--; nest == 0 {
				r.i++
				return true
			}
		}
		r.i++
		for r.i < len(r.b) && !structural[r.b[r.i]] {
			r.i++
		}
	}
	return false
}

// structural marks the bytes extent stops at.
var structural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true}

// skipString reads past the string that starts at r.i: to the first
// quote not escaped, that is not after an odd run of backslashes.
func (r *typedReader) skipString() bool {
	j := r.i + 1
	for {
		k := bytes.IndexByte(r.b[j:], '"')
		if k < 0 {
			return false
		}
		j += k
		n := 0
		for n < j-r.i-1 && r.b[j-1-n] == '\\' {
			n++
		}
		j++
		if n%2 == 0 {
			r.i = j
			return true
		}
	}
}

func (r *typedReader) record(name []byte, start int) bool {
	// An ASCII name folds only onto a name of its length.
	anyLength := r.foldGuard && !isASCII(name)
	for k, c := range r.capture {
		if string(name) != c {
			if r.foldGuard && (len(name) == len(c) || anyLength) && bytes.EqualFold(name, []byte(c)) {
				return false
			}
			continue
		}
		for start < len(r.b) && (r.b[start] == ' ' || r.b[start] == '\t' || r.b[start] == '\n' || r.b[start] == '\r') {
			start++
		}
		r.spans[k] = [2]int{start, r.i}
	}
	return true
}

func (r *typedReader) array(s *typedSchema, depth int) bool {
	r.i++ // [
	var items *typedSchema
	if s != nil {
		items = s.items
	}
	n := 0
	for {
		r.ws()
		if n == 0 && r.i < len(r.b) && r.b[r.i] == ']' {
			r.i++
			break
		}
		if !r.value(items, depth+1) || !r.next(']') {
			return false
		}
		n++
		if r.b[r.i-1] == ']' {
			break
		}
	}
	return s == nil || (s.minItems < 0 || n >= s.minItems) && (s.maxItems < 0 || n <= s.maxItems)
}

// next reads the comma between members or items, or the closing byte.
func (r *typedReader) next(closing byte) bool {
	r.ws()
	if r.i >= len(r.b) || (r.b[r.i] != ',' && r.b[r.i] != closing) {
		return false
	}
	r.i++
	return true
}

func (r *typedReader) colon() bool {
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != ':' {
		return false
	}
	r.i++
	return true
}

// rawName reads a member name without escapes.
func (r *typedReader) rawName() ([]byte, bool) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false
	}
	for j := r.i + 1; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			name := r.b[r.i+1 : j]
			r.i = j + 1
			return name, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

func hasName(names [][]byte, name []byte) bool {
	for _, n := range names {
		if bytes.Equal(n, name) {
			return true
		}
	}
	return false
}

// str reads a string and returns its decoded bytes. Raw control
// characters, escaped NULs and surrogates are left to the full validator.
func (r *typedReader) str() ([]byte, bool) {
	start := r.i + 1
	j := start
	for j < len(r.b) && r.b[j] != '"' && r.b[j] != '\\' && r.b[j] >= 0x20 {
		j++
	}
	if j < len(r.b) && r.b[j] == '"' {
		r.i = j + 1
		return r.b[start:j], true
	}
	return r.escaped(start, j)
}

// escaped decodes a string from start whose first escape is at j.
func (r *typedReader) escaped(start, j int) ([]byte, bool) {
	out := append(make([]byte, 0, j-start+16), r.b[start:j]...)
	for j < len(r.b) {
		c := r.b[j]
		switch {
		case c == '"':
			r.i = j + 1
			return out, true
		case c < 0x20 || c == '\\' && j+1 >= len(r.b):
			return nil, false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		esc := r.b[j+1]
		if d, ok := simpleEscape[esc]; ok {
			out, j = append(out, d), j+2
			continue
		}
		if esc != 'u' || j+6 > len(r.b) {
			return nil, false
		}
		v, err := strconv.ParseUint(string(r.b[j+2:j+6]), 16, 16)
		if err != nil || v == 0 {
			return nil, false
		}
		j += 6
		rn := rune(v)
		if utf16.IsSurrogate(rn) {
			if rn, j = r.lowSurrogate(rn, j); rn == utf8.RuneError {
				return nil, false
			}
		}
		out = utf8.AppendRune(out, rn)
	}
	return nil, false
}

var simpleEscape = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// lowSurrogate completes a surrogate pair whose high half was read, or
// returns utf8.RuneError.
func (r *typedReader) lowSurrogate(high rune, j int) (rune, int) {
	if j+6 > len(r.b) || r.b[j] != '\\' || r.b[j+1] != 'u' {
		return utf8.RuneError, j
	}
	v, err := strconv.ParseUint(string(r.b[j+2:j+6]), 16, 16)
	if err != nil {
		return utf8.RuneError, j
	}
	return utf16.DecodeRune(high, rune(v)), j + 6
}

// number reads a number by the JSON grammar; isInt is true for plain
// integers short enough to hold in an int64, the only numbers whose
// schema checks the typed path makes.
func (r *typedReader) number() (int64, bool, bool) {
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.digits()
	if digits == 0 || digits > 1 && r.b[r.i-digits] == '0' {
		return 0, false, false
	}
	isInt := true
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return 0, false, false
		}
		isInt = false
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return 0, false, false
		}
		isInt = false
	}
	if !isInt || digits > 18 {
		return 0, false, true
	}
	n, err := strconv.ParseInt(string(r.b[start:r.i]), 10, 64)
	return n, err == nil, true
}

func (r *typedReader) digits() int {
	n := 0
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

func (s *typedSchema) allows(k kindSet) bool {
	return s == nil || len(s.anyOf) == 0 && s.enum == nil && (s.kinds == 0 || s.kinds&k != 0)
}

func (s *typedSchema) hasRequired(names [][]byte) bool {
	if s == nil {
		return true
	}
	for _, req := range s.required {
		if !hasName(names, req) {
			return false
		}
	}
	return true
}

// checkScalar checks a boolean or null against s.
func (s *typedSchema) checkScalar(k kindSet) bool {
	if s == nil {
		return true
	}
	if len(s.anyOf) > 0 {
		return s.kinds == 0 && s.enum == nil && s.anyAlternative(func(a *typedSchema) bool { return a.checkScalar(k) })
	}
	return s.enum == nil && (s.kinds == 0 || s.kinds&k != 0)
}

func (s *typedSchema) checkNumber(n int64, isInt bool) bool {
	if s == nil {
		return true
	}
	if len(s.anyOf) > 0 {
		return s.kinds == 0 && s.enum == nil && s.anyAlternative(func(a *typedSchema) bool { return a.checkNumber(n, isInt) })
	}
	if s.enum != nil || s.kinds != 0 && s.kinds&kindInteger == 0 {
		return false
	}
	if !isInt {
		// 1.0 is an integer to JSON Schema, and bounds need exact
		// arithmetic: the full validator decides.
		return s.kinds == 0 && !s.hasMin && !s.hasMax
	}
	return (!s.hasMin || n >= s.min) && (!s.hasMax || n <= s.max)
}

func (s *typedSchema) checkString(v []byte) bool {
	if s == nil {
		return true
	}
	if len(s.anyOf) > 0 && !s.anyAlternative(func(a *typedSchema) bool { return a.checkString(v) }) {
		return false
	}
	if s.kinds != 0 && s.kinds&kindString == 0 {
		return false
	}
	if s.enum != nil && !inEnum(s.enum, v) {
		return false
	}
	if s.minLen >= 0 || s.maxLen >= 0 {
		n := utf8.RuneCount(v)
		if s.minLen >= 0 && n < s.minLen || s.maxLen >= 0 && n > s.maxLen {
			return false
		}
	}
	if s.pattern != nil && !s.pattern.Match(v) {
		return false
	}
	switch s.format {
	case "date":
		return strictDate(v)
	case "date-time":
		return strictDateTime(v)
	}
	return true
}

func (s *typedSchema) anyAlternative(f func(*typedSchema) bool) bool {
	for _, a := range s.anyOf {
		if f(a) {
			return true
		}
	}
	return false
}

func inEnum(enum []string, v []byte) bool {
	for _, e := range enum {
		if e == string(v) {
			return true
		}
	}
	return false
}

// strictDateTime accepts YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) with a real
// date and no leap second: a subset of what RFC 3339 and the full
// validator accept, and exactly what time.Time decodes the same way.
func strictDateTime(v []byte) bool {
	if len(v) < 20 || v[10] != 'T' || v[13] != ':' || v[16] != ':' {
		return false
	}
	if !strictDate(v[:10]) {
		return false
	}
	if !twoDigits(v[11:13], 23) || !twoDigits(v[14:16], 59) || !twoDigits(v[17:19], 59) {
		return false
	}
	rest := v[19:]
	if rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 {
			return false
		}
		rest = rest[k:]
	}
	if len(rest) == 1 {
		return rest[0] == 'Z'
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && twoDigits(rest[1:3], 23) && twoDigits(rest[4:6], 59)
}

// strictDate accepts exactly what time.Parse accepts with the layout
// 2006-01-02: four digits of year, a month and a day of that month (a
// tenth of its cost, and no string made).
func strictDate(v []byte) bool {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return false
	}
	year := 0
	for _, c := range v[:4] {
		if c < '0' || c > '9' {
			return false
		}
		year = year*10 + int(c-'0')
	}
	if !twoDigits(v[5:7], 12) || !twoDigits(v[8:10], 31) {
		return false
	}
	month, day := int(v[5]-'0')*10+int(v[6]-'0'), int(v[8]-'0')*10+int(v[9]-'0')
	return month >= 1 && day >= 1 && day <= daysIn(month, year)
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func twoDigits(b []byte, max int) bool {
	if len(b) != 2 || b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return false
	}
	return int(b[0]-'0')*10+int(b[1]-'0') <= max
}

// envelopeFields are the CloudEvent attributes Event holds, in the order
// of typedEvent's spans.
var envelopeFields = []string{"specversion", "id", "source", "type", "time", "subject", "data"}

// parseTyped accepts raw by the typed checks, or returns false when the
// full validator must judge it (because it is refused, or because the
// typed path does not decide it). It accepts exactly the events the full
// validator accepts and builds the same Event (TestTypedPathAgrees).
func (v *Validator) parseTyped(raw []byte, topic string) (*Event, bool) {
	e, ds, ok := v.typedEnvelopeOf(raw)
	if !ok || !v.typedAttributes(e, topic) || !v.typedDataOf(e.Type, raw[ds[0]:ds[1]], e.Subject) {
		return nil, false
	}
	e.Raw = append(json.RawMessage(nil), raw...)
	e.Data = e.Raw[ds[0]:ds[1]:ds[1]]
	return e, true
}

// typedEnvelopeOf reads raw's envelope by the typed checks of the
// CloudEvent schema, and returns its attributes and the span of its data
// (not yet checked, and not yet in the Event); false when the full
// validator, or the full decoder, must read it.
func (v *Validator) typedEnvelopeOf(raw []byte) (*Event, [2]int, bool) {
	if v.typedEnvelope == nil || !utf8.Valid(raw) {
		return nil, [2]int{}, false
	}
	r := typedReader{b: raw, capture: envelopeFields, spans: make([][2]int, len(envelopeFields)), foldGuard: true}
	if !r.value(v.typedEnvelope, 0) {
		return nil, [2]int{}, false
	}
	if r.ws(); r.i != len(raw) {
		return nil, [2]int{}, false
	}
	var attr [6]string
	for k := range attr {
		s, ok := spanString(raw, r.spans[k])
		if !ok {
			return nil, [2]int{}, false
		}
		attr[k] = s
	}
	e := &Event{SpecVersion: attr[0], ID: attr[1], Source: attr[2], Type: attr[3], Subject: attr[5]}
	ts := r.spans[4]
	if err := e.Time.UnmarshalJSON(raw[ts[0]:ts[1]]); err != nil {
		return nil, [2]int{}, false
	}
	return e, r.spans[6], true
}

// typedAttributes makes the envelope checks that are not in the schema:
// identifiers, future skew, the type's topic.
func (v *Validator) typedAttributes(e *Event, topic string) bool {
	if badIdentifier(e.ID) != "" || badIdentifier(e.Source) != "" {
		return false
	}
	if v.maxFutureSkew > 0 && e.Time.After(v.now().Add(v.maxFutureSkew)) {
		return false
	}
	return topic == "" || TopicOf(e.Type) == topic
}

// typedDataOf checks one event's data by its type's typed schema and the
// entity key it carries against the subject.
func (v *Validator) typedDataOf(typ string, data []byte, subject string) bool {
	s, ok := v.typedData[typ]
	if !ok {
		return false
	}
	r := typedReader{b: data}
	field := entityKeyField(typ)
	if field != "" {
		r.capture, r.spans = []string{field}, make([][2]int, 1)
	}
	if !r.value(s, 0) {
		return false
	}
	if r.ws(); r.i != len(data) {
		return false
	}
	if field == "" {
		return true
	}
	key, ok := spanString(data, r.spans[0])
	return ok && key == subject
}

// spanString decodes the JSON string at span of b; false when it is not
// a string or not set.
func spanString(b []byte, span [2]int) (string, bool) {
	if span[1] <= span[0] || b[span[0]] != '"' {
		return "", false
	}
	r := typedReader{b: b[:span[1]], i: span[0]}
	s, ok := r.str()
	return string(s), ok && r.i == span[1]
}
