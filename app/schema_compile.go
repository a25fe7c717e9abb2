package app

import (
	"errors"
	"fmt"
	"strings"
)

// A typedSchema is one JSON Schema compiled into checks written in Go,
// for the subset of keywords the event contract uses. The full validator
// stays the judge: the typed path only ever accepts, and anything it is
// not sure of (an error, an escape it does not decode, a number written
// as 1.0, a duplicate member) goes to the full validator, which gives the
// same answer it always gave with the same messages. See decision 0019.
type typedSchema struct {
	kinds   kindSet // allowed JSON kinds; 0 allows any
	minLen  int     // string length in code points; -1 when unset
	maxLen  int
	pattern *pattern
	format  string   // "", "date" or "date-time"
	enum    []string // when set, the value must be one of these strings
	hasMin  bool
	hasMax  bool
	min     int64
	max     int64

	props        map[string]*typedSchema
	required     [][]byte
	additional   *typedSchema // schema of members not in props; nil allows any
	noAdditional bool
	propNames    *typedSchema

	items              *typedSchema
	minItems, maxItems int // -1 when unset

	anyOf []*typedSchema

	// extentOnly: the value is an object that a later pass checks in
	// full (an event's data, by its type's schema); the envelope's pass
	// reads only its extent (typedReader.extent).
	extentOnly bool
}

// objectOnly reports whether s asks for an object and nothing else.
func (s *typedSchema) objectOnly() bool {
	return s.kinds == kindObject && s.minLen < 0 && s.maxLen < 0 && s.pattern == nil && s.format == "" && s.enum == nil &&
		!s.hasMin && !s.hasMax && s.props == nil && s.required == nil && s.additional == nil && !s.noAdditional &&
		s.propNames == nil && s.items == nil && s.minItems < 0 && s.maxItems < 0 && s.anyOf == nil
}

type kindSet uint8

const (
	kindObject kindSet = 1 << iota
	kindArray
	kindString
	kindInteger
	kindBool
	kindNull
)

var kindOfName = map[string]kindSet{"object": kindObject, "array": kindArray, "string": kindString, "integer": kindInteger, "boolean": kindBool, "null": kindNull}

// errNotCovered marks a schema that uses a keyword the typed path does
// not check; events of its types always take the full validator.
var errNotCovered = errors.New("not covered by the typed path")

// schemaCompiler compiles one schema document; defs are its $defs.
type schemaCompiler struct {
	defs map[string]any
}

// compileTyped compiles a schema document into typed checks, or returns
// an error wrapping errNotCovered.
func compileTyped(doc map[string]any) (*typedSchema, error) {
	defs, _ := doc["$defs"].(map[string]any)
	return (&schemaCompiler{defs: defs}).compile(doc, 0)
}

func (c *schemaCompiler) compile(doc map[string]any, depth int) (*typedSchema, error) {
	if depth > 32 {
		return nil, fmt.Errorf("schema nested too deep: %w", errNotCovered)
	}
	if ref, ok := doc["$ref"].(string); ok {
		if len(doc) != 1 {
			return nil, fmt.Errorf("$ref beside other keywords: %w", errNotCovered)
		}
		def, ok := c.defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
		if !ok || !strings.HasPrefix(ref, "#/$defs/") {
			return nil, fmt.Errorf("$ref %q: %w", ref, errNotCovered)
		}
		return c.compile(def, depth+1)
	}
	s := &typedSchema{minLen: -1, maxLen: -1, minItems: -1, maxItems: -1}
	for k, v := range doc {
		if err := c.keyword(s, k, v, depth); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	return s, nil
}

// keyword applies one keyword of a schema object to s.
func (c *schemaCompiler) keyword(s *typedSchema, k string, v any, depth int) error {
	var err error
	switch k {
	case "$schema", "$id", "$defs", "title", "description":
	case "type":
		s.kinds, err = compileKinds(v)
	case "required":
		var names []string
		names, err = stringList(v)
		for _, n := range names {
			s.required = append(s.required, []byte(n))
		}
	case "enum":
		s.enum, err = stringList(v)
	case "const":
		str, ok := v.(string)
		if !ok {
			return errNotCovered
		}
		s.enum = []string{str}
	case "pattern":
		str, ok := v.(string)
		if !ok {
			return errNotCovered
		}
		s.pattern, err = compilePattern(str)
	case "format":
		if v != "date" && v != "date-time" {
			return errNotCovered
		}
		s.format = v.(string)
	case "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum":
		err = s.bound(k, v)
	case "properties", "additionalProperties", "propertyNames", "items", "anyOf":
		err = c.subschemas(s, k, v, depth)
	default:
		return errNotCovered
	}
	return err
}

// bound sets one numeric keyword.
func (s *typedSchema) bound(k string, v any) error {
	f, ok := v.(float64)
	if !ok || f != float64(int64(f)) {
		return errNotCovered
	}
	n := int64(f)
	switch k {
	case "minLength":
		s.minLen = int(n)
	case "maxLength":
		s.maxLen = int(n)
	case "minItems":
		s.minItems = int(n)
	case "maxItems":
		s.maxItems = int(n)
	case "minimum":
		s.hasMin, s.min = true, n
	case "maximum":
		s.hasMax, s.max = true, n
	}
	return nil
}

// subschemas compiles the keywords that hold schemas.
func (c *schemaCompiler) subschemas(s *typedSchema, k string, v any, depth int) error {
	one := func(v any) (*typedSchema, error) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errNotCovered
		}
		return c.compile(m, depth+1)
	}
	var err error
	switch k {
	case "properties":
		m, ok := v.(map[string]any)
		if !ok {
			return errNotCovered
		}
		s.props = map[string]*typedSchema{}
		for name, sub := range m {
			if s.props[name], err = one(sub); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	case "additionalProperties":
		if b, ok := v.(bool); ok {
			s.noAdditional = !b
			return nil
		}
		s.additional, err = one(v)
	case "propertyNames":
		s.propNames, err = one(v)
	case "items":
		s.items, err = one(v)
	case "anyOf":
		return c.alternatives(s, v, depth)
	}
	return err
}

// alternatives compiles anyOf; the typed path checks it only when every
// alternative is about scalars, so that a value is read once.
func (c *schemaCompiler) alternatives(s *typedSchema, v any, depth int) error {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return errNotCovered
	}
	for _, alt := range list {
		m, ok := alt.(map[string]any)
		if !ok {
			return errNotCovered
		}
		sub, err := c.compile(m, depth+1)
		if err != nil {
			return err
		}
		if sub.kinds == 0 || sub.kinds&(kindObject|kindArray) != 0 {
			if sub.enum == nil {
				return fmt.Errorf("anyOf with containers: %w", errNotCovered)
			}
		}
		s.anyOf = append(s.anyOf, sub)
	}
	return nil
}

func compileKinds(v any) (kindSet, error) {
	names, ok := v.([]any)
	if !ok {
		names = []any{v}
	}
	var ks kindSet
	for _, n := range names {
		name, _ := n.(string)
		k, ok := kindOfName[name]
		if !ok {
			return 0, fmt.Errorf("type %v: %w", n, errNotCovered)
		}
		ks |= k
	}
	return ks, nil
}

func stringList(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, errNotCovered
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, errNotCovered
		}
		out[i] = s
	}
	return out, nil
}
