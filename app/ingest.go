package app

import (
	"bytes"
	"encoding/json"
	"runtime"
	"sync"
)

// LineError names one refused event of an ingest request by its line (1
// for a single JSON event) and id when known, with every failing field.
type LineError struct {
	Line   int          `json:"line"`
	ID     string       `json:"id,omitempty"`
	Fields []FieldError `json:"errors"`
}

// ParseEvents parses one CloudEvent (JSON), many (NDJSON, one per line,
// blank lines ignored) or a JSON array of them for topic. It returns the
// valid events in order and one LineError per refused line. Large bodies
// are validated in parallel.
func ParseEvents(v *Validator, topic string, body []byte) ([]*Event, []LineError) {
	lines, lerr := splitEventLines(body)
	if lerr != nil {
		return nil, []LineError{*lerr}
	}
	events, errs := parseLines(v, topic, lines)
	var okEvents []*Event
	var lineErrs []LineError
	for i := range lines {
		if errs[i] != nil {
			lineErrs = append(lineErrs, *errs[i])
		} else {
			okEvents = append(okEvents, events[i])
		}
	}
	return okEvents, lineErrs
}

// eventLine is one event of a request body with the line it came from.
type eventLine struct {
	n   int
	raw []byte
}

// splitEventLines cuts a body into its events: the elements of a JSON
// array (lines 1, 2, ...) or the non-blank lines of NDJSON.
func splitEventLines(body []byte) ([]eventLine, *LineError) {
	var lines []eventLine
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, &LineError{Line: 1, Fields: []FieldError{{Field: "(body)", Reason: "not a valid JSON array of events: " + err.Error()}}}
		}
		for i, el := range elems {
			lines = append(lines, eventLine{i + 1, el})
		}
		body = nil
	}
	for n := 1; len(body) > 0; n++ {
		raw, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		if raw = bytes.TrimSpace(raw); len(raw) > 0 {
			lines = append(lines, eventLine{n, raw})
		}
	}
	if len(lines) == 0 {
		return nil, &LineError{Line: 1, Fields: []FieldError{{Field: "(body)", Reason: "no event in the request body"}}}
	}
	return lines, nil
}

// parseLines validates every line, in parallel when there are many; the
// i-th result is an event or a LineError.
func parseLines(v *Validator, topic string, lines []eventLine) ([]*Event, []*LineError) {
	events := make([]*Event, len(lines))
	errs := make([]*LineError, len(lines))
	parse := func(i int) {
		e, err := v.Parse(lines[i].raw, topic)
		if err == nil {
			events[i] = e
			return
		}
		le := &LineError{Line: lines[i].n, ID: probeID(lines[i].raw)}
		if ve, ok := err.(*ValidationError); ok {
			le.Fields = ve.Fields
		} else {
			le.Fields = []FieldError{{Field: "(event)", Reason: err.Error()}}
		}
		errs[i] = le
	}
	workers := min(runtime.GOMAXPROCS(0), len(lines)/64+1)
	if workers == 1 {
		for i := range lines {
			parse(i)
		}
		return events, errs
	}
	chunk := (len(lines) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(lines))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				parse(i)
			}
		}()
	}
	wg.Wait()
	return events, errs
}

// probeID extracts an "id" from a possibly invalid event, for error reports.
func probeID(raw []byte) string {
	var p struct {
		ID any `json:"id"`
	}
	if jsonUnmarshal(raw, &p) == nil {
		if s, ok := p.ID.(string); ok && len(s) <= 256 {
			return s
		}
	}
	return ""
}
