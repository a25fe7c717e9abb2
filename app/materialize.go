package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// LogReader reads one topic in offset order.
type LogReader interface {
	// Next returns up to max entries, waiting up to wait for the first.
	Next(ctx context.Context, max int, wait time.Duration) ([]LogEntry, error)
	Close()
}

// Log is what the pipeline stages need from the event log.
type Log interface {
	NewReader(ctx context.Context, topic string, from uint64) (LogReader, error)
	Append(ctx context.Context, topic string, events []*Event) ([]AppendResult, error)
}

// StateChange is one validated event turned into a change of state.
type StateChange struct {
	Type   string
	Source string // the event's source, as the sender wrote it
	// RequestedBy is who asked for an erasure: the authenticated user
	// the ingest API recorded, central for one mirrored from Kafka, or
	// RequestedByUnknown. Never the event's own source.
	RequestedBy string
	Key         string
	Version     Version
	LogTime     time.Time
	Flight      *Flight
	Booking     *Booking
	Passenger   *Passenger
	Document    *Document
}

// StateStore is what the materialiser needs from the state store.
type StateStore interface {
	// Position returns the last log offset of topic applied by consumer.
	Position(ctx context.Context, consumer, topic string) (uint64, error)
	// ApplyState applies changes and records upto as consumer's position
	// in one transaction.
	ApplyState(ctx context.Context, consumer, topic string, changes []StateChange, upto uint64, uptoTime time.Time) error
}

// StateConsumer is the consumer name of the state materialiser.
const StateConsumer = "state"

// Materializer keeps the state store in step with the state topics: one
// loop per topic reads from the stored position, validates, turns events
// into state changes and applies each batch together with its last offset.
// Invalid events go to the dead-letter topic with the reason.
type Materializer struct {
	Log       Log
	Store     StateStore
	Validator *Validator
	Logger    *slog.Logger
	Topics    []string
	BatchSize int
	// Listener hears of each committed batch (the proposer, the board).
	Listener StateListener
	// Trusted reports whether an entry was validated against the schemas
	// when this node appended it, so the schema check need not run twice.
	// Entries from anywhere else (a NATS client, say) are always checked.
	Trusted func(le LogEntry) bool
	// Eraser carries out each passenger.erased on the log before the
	// erasure's batch commits; without it only the passenger's own
	// earlier records are purged.
	Eraser *Eraser

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open starts one loop per topic.
func (m *Materializer) Open() error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	m.Logger = m.Logger.With("subsystem", "materializer")
	if m.Validator == nil {
		m.Validator = DefaultValidator()
	}
	if len(m.Topics) == 0 {
		m.Topics = StateTopics
	}
	if m.BatchSize == 0 {
		// A catch-up applies up to this many entries a transaction, of
		// which only the newest per key are written (decision 0020).
		m.BatchSize = 2000
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	for _, t := range m.Topics {
		m.wg.Add(1)
		go m.run(t)
	}
	return nil
}

// Close stops the loops after their current batch.
func (m *Materializer) Close(ctx context.Context) error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	return waitGroup(ctx, &m.wg)
}

func (m *Materializer) run(topic string) {
	defer m.wg.Done()
	f := &follower{
		stage: "materializer", topic: topic, log: m.Log, logger: m.Logger, batch: m.BatchSize,
		minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second,
		start: func(ctx context.Context) (uint64, error) {
			pos, err := m.Store.Position(ctx, StateConsumer, topic)
			if err != nil {
				return 0, fmt.Errorf("position: %w", err)
			}
			return pos, nil
		},
		// A batch in hand at shutdown is applied to its end: it is one
		// transaction, and a short one.
		handle: func(ctx context.Context, entries []LogEntry) error {
			return m.ApplyEntries(context.WithoutCancel(ctx), topic, entries)
		},
	}
	f.run(m.ctx)
}

// ApplyEntries validates and applies one batch of entries of topic and
// advances the position to the last of them. Rebuild uses it directly.
func (m *Materializer) ApplyEntries(ctx context.Context, topic string, entries []LogEntry) error {
	changes, dead, err := m.decodeBatch(topic, entries)
	if err != nil {
		return err
	}
	if err := m.storeDeadLetters(ctx, topic, dead); err != nil {
		return err
	}
	if m.Eraser != nil {
		// Before the position moves past the erasure: a failure retries
		// the batch, and every step of an erasure is idempotent.
		if err := m.Eraser.Apply(ctx, topic, changes); err != nil {
			return fmt.Errorf("erase: %w", err)
		}
	}
	last := entries[len(entries)-1]
	if err := m.Store.ApplyState(ctx, StateConsumer, topic, NewestPerKey(topic, changes), last.Offset, last.Stored); err != nil {
		return fmt.Errorf("apply %s up to %d: %w", topic, last.Offset, err)
	}
	if m.Eraser == nil {
		m.forgetErased(ctx, topic, changes)
	}
	if m.Listener != nil {
		m.Listener.StateApplied(topic, last.Offset, changes)
	}
	return nil
}

// NewestPerKey keeps, of the changes of one batch of topic, only the
// newest version of each key (Version.Newer), in the order they came. A
// change applies only over an older version, so the others of the batch
// would be overwritten within the same transaction: leaving them out
// changes nothing but the writes. Passengers keep every change, because
// an erasure between two profiles decides which profile may apply.
func NewestPerKey(topic string, changes []StateChange) []StateChange {
	if topic == TopicPassengers || len(changes) < 2 {
		return changes
	}
	newest := make(map[string]int, len(changes))
	for i, ch := range changes {
		if j, ok := newest[ch.Key]; !ok || ch.Version.Newer(changes[j].Version) {
			newest[ch.Key] = i
		}
	}
	if len(newest) == len(changes) {
		return changes
	}
	out := make([]StateChange, 0, len(newest))
	for i, ch := range changes {
		if newest[ch.Key] == i {
			out = append(out, ch)
		}
	}
	return out
}

// supersededFlights marks, in a batch of flights, the entries this node
// sealed that a newer entry of the same key in the batch replaces
// (Version.Newer, from the offset and the event time the log stored in
// the entry's headers). NewestPerKey would drop their changes anyway: a
// flight event is the whole flight, and nothing else reads a superseded
// one, so they are not decoded at all (decision 0020, addendum). Bookings
// are not skipped: a superseded booking change may still name an erased
// passenger, whose log entry must be redacted. An entry without readable
// headers is never marked, and is decoded as before.
func (m *Materializer) supersededFlights(topic string, entries []LogEntry, trusted []bool) []bool {
	if topic != TopicFlights || len(entries) < 2 || trusted == nil {
		return nil
	}
	newest := make(map[string]int, len(entries))
	versions := make([]Version, len(entries))
	var skip []bool
	for i, le := range entries {
		v, ok := headerVersion(le)
		if !ok || !trusted[i] {
			continue
		}
		versions[i] = v
		j, seen := newest[le.Key]
		if !seen {
			newest[le.Key] = i
			continue
		}
		if skip == nil {
			skip = make([]bool, len(entries))
		}
		if v.Newer(versions[j]) {
			skip[j], newest[le.Key] = true, i
		} else {
			skip[i] = true
		}
	}
	return skip
}

// headerVersion is the version of a flight entry as its headers give it.
func headerVersion(le LogEntry) (Version, bool) {
	typ, at := le.Headers[LogHeaderEventType], le.Headers[LogHeaderEventTime]
	if len(typ) != 1 || len(at) != 1 || (typ[0] != TypeFlightScheduled && typ[0] != TypeFlightStatus) {
		return Version{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, at[0])
	if err != nil {
		return Version{}, false
	}
	return Version{EventTime: t.UTC(), Offset: le.Offset}, true
}

// decodeBatch turns entries into state changes, and the ones that do not
// decode into dead letters carrying the reason.
func (m *Materializer) decodeBatch(topic string, entries []LogEntry) ([]StateChange, []*Event, error) {
	changes := make([]StateChange, 0, len(entries))
	var dead []*Event
	// Each seal is checked once: the ranking and the decoding both ask.
	var trusted []bool
	if m.Trusted != nil {
		trusted = make([]bool, len(entries))
		for i, le := range entries {
			trusted[i] = m.Trusted(le)
		}
	}
	superseded := m.supersededFlights(topic, entries, trusted)
	for i, le := range entries {
		if superseded != nil && superseded[i] {
			continue
		}
		ch, err := m.decode(topic, le, trusted != nil && trusted[i])
		if err != nil {
			dl, derr := DeadLetter(le, err)
			if derr != nil {
				return nil, nil, fmt.Errorf("dead letter of %s@%d: %w", topic, le.Offset, derr)
			}
			dead = append(dead, dl)
			continue
		}
		changes = append(changes, ch)
	}
	return changes, dead, nil
}

// storeDeadLetters makes the dead letters durable before the position
// moves past them; a repeat after a crash is de-duplicated by id.
func (m *Materializer) storeDeadLetters(ctx context.Context, topic string, dead []*Event) error {
	if len(dead) == 0 {
		return nil
	}
	if _, err := m.Log.Append(ctx, TopicDeadLetter, dead); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	m.logger().Warn("events refused", "topic", topic, "count", len(dead))
	return nil
}

// logger is the materialiser's logger, also when ApplyEntries is used
// without Open (a rebuild or a check).
func (m *Materializer) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

// KeyPurger is implemented by logs that can remove a key's older entries.
type KeyPurger interface {
	PurgeKeyBefore(ctx context.Context, topic, key string, offset uint64) error
}

// forgetErased removes an erased person's earlier records from the log,
// keeping the erasure itself. Compaction would remove them after the
// history window anyway; this makes it immediate.
func (m *Materializer) forgetErased(ctx context.Context, topic string, changes []StateChange) {
	p, ok := m.Log.(KeyPurger)
	if !ok {
		return
	}
	for _, ch := range changes {
		if ch.Type != TypePassengerErased {
			continue
		}
		if err := p.PurgeKeyBefore(ctx, topic, ch.Key, ch.Version.Offset); err != nil {
			m.logger().Warn("purge erased passenger from the log", "key", ch.Key, "err", err)
		}
	}
}

// Decode validates one log entry and turns it into a state change.
func (m *Materializer) Decode(topic string, le LogEntry) (StateChange, error) {
	return m.decode(topic, le, m.Trusted != nil && m.Trusted(le))
}

// decode is Decode with the entry's seal already checked.
func (m *Materializer) decode(topic string, le LogEntry, trusted bool) (StateChange, error) {
	v := m.Validator
	if v == nil {
		v = DefaultValidator()
	}
	var e *Event
	var err error
	if trusted {
		// The data is decoded below, by its type.
		e, err = parseTrustedEnvelope(le.Data)
	} else {
		e, err = v.Parse(le.Data, topic)
	}
	if err != nil {
		return StateChange{}, err
	}
	if e.Subject != le.Key {
		return StateChange{}, &ValidationError{Fields: []FieldError{{Field: "subject", Reason: fmt.Sprintf("%q does not match the log key %q", e.Subject, le.Key)}}}
	}
	ch := StateChange{Type: e.Type, Source: e.Source, Key: e.Subject, Version: Version{EventID: e.ID, EventTime: e.Time.UTC(), Offset: le.Offset}, LogTime: le.Stored.UTC()}
	if e.Type == TypePassengerErased {
		ch.RequestedBy = m.requestedBy(le, e, trusted)
	}
	switch e.Type {
	case TypeFlightScheduled, TypeFlightStatus:
		ch.Flight = new(Flight)
		err = decodeJSON(e.Data, ch.Flight)
	case TypeBookingCreated, TypeBookingChanged, TypeBookingCancelled:
		ch.Booking = new(Booking)
		err = decodeJSON(e.Data, ch.Booking)
		if err == nil && e.Type == TypeBookingCancelled {
			ch.Booking.Status = BookingCancelled
		}
	case TypePassengerUpserted, TypePassengerErased:
		ch.Passenger = new(Passenger)
		err = decodeJSON(e.Data, ch.Passenger)
	case TypeDocumentUpserted, TypeDocumentDeleted:
		ch.Document = new(Document)
		err = decodeJSON(e.Data, ch.Document)
	default:
		return StateChange{}, &ValidationError{Fields: []FieldError{{Field: "type", Reason: fmt.Sprintf("%q carries no state", e.Type)}}}
	}
	if err != nil {
		return StateChange{}, &ValidationError{Fields: []FieldError{{Field: "data", Reason: err.Error()}}}
	}
	return ch, nil
}

// LogHeaderKafkaTopic is the log header of an entry mirrored from Kafka:
// the topic it came from.
const LogHeaderKafkaTopic = "Kafka-Topic"

// requestedBy says who asked for the erasure e: the user the ingest API
// recorded in RequestedByAttr on an entry this node sealed, central for
// an entry mirrored from Kafka, else RequestedByUnknown.
func (m *Materializer) requestedBy(le LogEntry, e *Event, trusted bool) string {
	if t := le.Headers[LogHeaderKafkaTopic]; len(t) > 0 {
		return "central (Kafka topic " + t[0] + ")"
	}
	if !trusted {
		return RequestedByUnknown
	}
	var ext map[string]json.RawMessage
	var by string
	if json.Unmarshal(e.Raw, &ext) != nil || json.Unmarshal(ext[RequestedByAttr], &by) != nil || by == "" {
		return RequestedByUnknown
	}
	return by
}

// DeadLetterData is the data of a dead-letter event.
type DeadLetterData struct {
	Reason  string            `json:"reason"`
	Fields  []FieldError      `json:"fields,omitempty"`
	Origin  map[string]any    `json:"origin"`
	Headers map[string]string `json:"headers,omitempty"`
	Payload string            `json:"payload"`
}

// DeadLetter wraps a refused log entry with the reason. Its id is derived
// from the entry's position, so refusing the same entry twice stores it once.
func DeadLetter(le LogEntry, reason error) (*Event, error) {
	d := DeadLetterData{
		Reason:  reason.Error(),
		Origin:  map[string]any{"topic": le.Topic, "offset": le.Offset, "key": le.Key},
		Payload: string(le.Data),
	}
	var ve *ValidationError
	if errors.As(reason, &ve) {
		d.Fields = ve.Fields
	}
	key := strings.ReplaceAll(fmt.Sprintf("%s-%d", le.Topic, le.Offset), ".", "-")
	return NewEvent("deadletter-"+key, "apron/materializer", TypeDeadLetter, key, le.Stored, d)
}
