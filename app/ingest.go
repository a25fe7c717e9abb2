package app

import (
	"bufio"
	"bytes"
	"fmt"
)

// LineError names one refused event of an ingest request by its line (1
// for a single JSON event) and id when known, with every failing field.
type LineError struct {
	Line   int          `json:"line"`
	ID     string       `json:"id,omitempty"`
	Fields []FieldError `json:"errors"`
}

// ParseEvents parses one CloudEvent (JSON) or many (NDJSON, one per line,
// blank lines ignored) for topic. It returns the valid events in order and
// one LineError per refused line.
func ParseEvents(v *Validator, topic string, body []byte) ([]*Event, []LineError) {
	var events []*Event
	var errs []LineError
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		e, err := v.Parse(raw, topic)
		if err != nil {
			le := LineError{Line: line, ID: probeID(raw)}
			if ve, ok := err.(*ValidationError); ok {
				le.Fields = ve.Fields
			} else {
				le.Fields = []FieldError{{Field: "(event)", Reason: err.Error()}}
			}
			errs = append(errs, le)
			continue
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, LineError{Line: line + 1, Fields: []FieldError{{Field: "(body)", Reason: fmt.Sprintf("unreadable: %v", err)}}})
	}
	if len(events) == 0 && len(errs) == 0 {
		errs = append(errs, LineError{Line: 1, Fields: []FieldError{{Field: "(body)", Reason: "no event in the request body"}}})
	}
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
