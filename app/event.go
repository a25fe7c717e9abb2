package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Topics of the local log. A topic is a JetStream stream; the entity key is
// the last token of the subject so that one key's events stay in order.
const (
	TopicFlights    = "flights"
	TopicBookings   = "bookings"
	TopicPassengers = "passengers"
	TopicDocuments  = "documents"
	TopicRebookings = "rebookings"
	TopicAssist     = "assist"
	TopicDeadLetter = "deadletter"
	// TopicAudit records what the node did on someone's behalf that a
	// site must be able to prove later (an erasure). It carries no
	// personal data, so it may be forwarded to central.
	TopicAudit = "audit"
	// TopicControl carries what the node knows besides the operational
	// state: users and API tokens (hashes only), so that every node of a
	// cluster and a rebuild derive them from the log (decision 0026). Only
	// the node appends to it, sealed; site applications cannot publish.
	TopicControl = "control"
)

// StateTopics keep at least the latest event per key forever.
var StateTopics = []string{TopicFlights, TopicBookings, TopicPassengers, TopicDocuments}

// Topics lists every topic of the local log in a stable order.
var Topics = []string{TopicFlights, TopicBookings, TopicPassengers, TopicDocuments, TopicRebookings, TopicAssist, TopicDeadLetter, TopicAudit, TopicControl}

// KeptForever reports whether topic keeps its events without an age
// limit: the state topics and the control topic, from which a rebuild
// recreates the store.
func KeptForever(topic string) bool {
	return topic == TopicControl || slices.Contains(StateTopics, topic)
}

// Event types of the contract (see PRODUCT.md and app/schemas).
const (
	TypeFlightScheduled    = "flight.scheduled"
	TypeFlightStatus       = "flight.status"
	TypeBookingCreated     = "booking.created"
	TypeBookingChanged     = "booking.changed"
	TypeBookingCancelled   = "booking.cancelled"
	TypePassengerUpserted  = "passenger.upserted"
	TypePassengerErased    = "passenger.erased"
	TypeDocumentUpserted   = "document.upserted"
	TypeDocumentDeleted    = "document.deleted"
	TypeRebookingProposed  = "rebooking.proposed"
	TypeRebookingApproved  = "rebooking.approved"
	TypeRebookingRejected  = "rebooking.rejected"
	TypeRebookingExecuted  = "rebooking.executed"
	TypeRebookingFailed    = "rebooking.failed"
	TypeRebookingExpired   = "rebooking.expired"
	TypeAssistRequested    = "assist.requested"
	TypeAssistAnswered     = "assist.answered"
	TypeDeadLetter         = "deadletter.event"
	TypeErasureCompleted   = "passenger.erasure.completed"
	TypeUserChanged        = "user.changed"
	TypeTokenChanged       = "token.changed"
	TypeProposalChanged    = "proposal.changed"
	TypeProposalCommand    = "proposal.command"
	cloudEventsSpecVersion = "1.0"
)

// topicOfType maps an event type to the topic that carries it.
var topicOfType = map[string]string{
	TypeFlightScheduled:   TopicFlights,
	TypeFlightStatus:      TopicFlights,
	TypeBookingCreated:    TopicBookings,
	TypeBookingChanged:    TopicBookings,
	TypeBookingCancelled:  TopicBookings,
	TypePassengerUpserted: TopicPassengers,
	TypePassengerErased:   TopicPassengers,
	TypeDocumentUpserted:  TopicDocuments,
	TypeDocumentDeleted:   TopicDocuments,
	TypeRebookingProposed: TopicRebookings,
	TypeRebookingApproved: TopicRebookings,
	TypeRebookingRejected: TopicRebookings,
	TypeRebookingExecuted: TopicRebookings,
	TypeRebookingFailed:   TopicRebookings,
	TypeRebookingExpired:  TopicRebookings,
	TypeAssistRequested:   TopicAssist,
	TypeAssistAnswered:    TopicAssist,
	TypeDeadLetter:        TopicDeadLetter,
	TypeErasureCompleted:  TopicAudit,
	TypeUserChanged:       TopicControl,
	TypeTokenChanged:      TopicControl,
	TypeProposalChanged:   TopicControl,
	TypeProposalCommand:   TopicControl,
}

// nodeOnlyTypes are the events only the node itself produces: the outcome
// of proposals and approvals, and the answers to assist requests. A
// client that could send them would forge an execution or an answer.
var nodeOnlyTypes = map[string]bool{
	TypeRebookingProposed: true, TypeRebookingApproved: true, TypeRebookingRejected: true,
	TypeRebookingExecuted: true, TypeRebookingFailed: true, TypeAssistAnswered: true,
	TypeErasureCompleted: true, TypeUserChanged: true, TypeTokenChanged: true,
	TypeProposalChanged: true, TypeProposalCommand: true,
}

// NodeOnly reports whether events of type typ are produced only by the node.
func NodeOnly(typ string) bool { return nodeOnlyTypes[typ] }

// RoleToSend is the role an ingest caller needs to send events of type
// typ, beyond the agent role of the ingest API: the admin role for
// node-only events and for an erasure, which cannot be undone (central's
// erasures come over the bridge, which keeps its own rules); "" for the
// rest.
func RoleToSend(typ string) string {
	if nodeOnlyTypes[typ] || typ == TypePassengerErased {
		return RoleAdmin
	}
	return ""
}

// TopicOf returns the topic that carries events of type typ, or "".
func TopicOf(typ string) string { return topicOfType[typ] }

// EventTypes returns every known event type.
func EventTypes() []string {
	out := make([]string, 0, len(topicOfType))
	for t := range topicOfType {
		out = append(out, t)
	}
	return out
}

// IsTopic reports whether name is a topic of the local log.
func IsTopic(name string) bool {
	for _, t := range Topics {
		if t == name {
			return true
		}
	}
	return false
}

// Event is a CloudEvents 1.0 event in structured JSON mode. Raw holds the
// exact bytes it was parsed from; the log stores Raw so that extension
// attributes and unknown fields are kept.
type Event struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Time        time.Time       `json:"time"`
	Subject     string          `json:"subject"`
	Data        json.RawMessage `json:"data"`

	Raw json.RawMessage `json:"-"`
}

// Topic returns the topic that carries e.
func (e *Event) Topic() string { return TopicOf(e.Type) }

// UniqueID identifies an event as CloudEvents defines it: source and id
// together, so that two systems may both use id "42". It is a hash, which
// keeps it a plain header token whatever the id holds; the lengths are
// part of it so that no two (source, id) pairs run together.
func UniqueID(source, id string) string {
	// "len:source" then "len:id", hashed; built by hand, not with
	// fmt, since every ingested event takes one.
	var stack [256]byte
	b := strconv.AppendInt(stack[:0], int64(len(source)), 10)
	b = append(append(b, ':'), source...)
	b = strconv.AppendInt(b, int64(len(id)), 10)
	b = append(append(b, ':'), id...)
	sum := sha256.Sum256(b)
	var out [3 + 40]byte
	copy(out[:], "ce-")
	hex.Encode(out[3:], sum[:20])
	return string(out[:])
}

// NewEvent builds an event and its raw form from typed data.
func NewEvent(id, source, typ, subject string, t time.Time, data any) (*Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	e := &Event{SpecVersion: cloudEventsSpecVersion, ID: id, Source: source, Type: typ, Time: t.UTC(), Subject: subject, Data: b}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	e.Raw = raw
	return e, nil
}

// LogEntry is one event as stored in the log, with its position.
// Headers the log stores with every event it appends, read without
// decoding the event (the broker sets them).
const (
	LogHeaderEventType = "Apron-Event-Type"
	LogHeaderEventTime = "Apron-Event-Time"
)

type LogEntry struct {
	Topic     string
	Offset    uint64 // stream sequence; offsets start at 1
	Subject   string // full log subject
	Key       string
	Stored    time.Time
	Headers   map[string][]string
	Data      []byte // raw CloudEvent JSON
	Delivered uint64 // number of delivery attempts, when known
}

// AppendResult reports what the log did with one appended event.
type AppendResult struct {
	ID        string `json:"id"`
	Offset    uint64 `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// SubjectKey turns an entity key into a single subject token. Characters
// that NATS gives a meaning to (., *, >, whitespace) and '%' are
// percent-encoded so that every key maps to exactly one token and back.
func SubjectKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c == '.' || c == '*' || c == '>' || c == '%' || c >= 0x7f {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// KeyFromSubjectToken reverses SubjectKey.
func KeyFromSubjectToken(tok string) string {
	if !strings.Contains(tok, "%") {
		return tok
	}
	var b bytes.Buffer
	for i := 0; i < len(tok); i++ {
		if tok[i] == '%' && i+2 < len(tok) {
			h, l := unhex(tok[i+1]), unhex(tok[i+2])
			if h >= 0 && l >= 0 {
				b.WriteByte(byte(h<<4 | l))
				i += 2
				continue
			}
		}
		b.WriteByte(tok[i])
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// LogSubject returns the log subject of an event with the given topic and key.
func LogSubject(topic, key string) string { return topic + "." + SubjectKey(key) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
