package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// LogEraser is what erasure needs from the log beyond appending: the
// latest entry of a key, and the removal of a key's earlier entries such
// that their bytes leave the disk too.
type LogEraser interface {
	// Last returns the latest entry of key on topic; ENOTFOUND if none.
	Last(ctx context.Context, topic, key string) (LogEntry, error)
	// EraseKeyBefore removes every entry of key on topic below offset,
	// overwriting its bytes, and returns how many it removed.
	EraseKeyBefore(ctx context.Context, topic, key string, offset uint64) (int, error)
	// Entries calls fn with each entry of key on topic (every key when
	// key is ""), in offset order, up to the topic's end when called.
	Entries(ctx context.Context, topic, key string, fn func(LogEntry) error) error
	// EraseEntry removes the entry at offset of topic, overwriting its
	// bytes; an entry already gone is no error.
	EraseEntry(ctx context.Context, topic string, offset uint64) error
}

// ErasureStore names the bookings that carry a person, whatever their
// status (a cancelled booking's log history still names them).
type ErasureStore interface {
	BookingsNaming(ctx context.Context, passengerID string) ([]string, error)
	// Passenger returns the person's profile; ENOTFOUND if none.
	Passenger(ctx context.Context, id string) (*PassengerRecord, error)
	// RedactProposals has redact rewrite each proposal of the bookings
	// locators, stores those it changed and returns how many.
	RedactProposals(ctx context.Context, locators []string, redact func(*Proposal) bool) (int, error)
	// ProposalRecords returns the stored rows of booking locator's
	// proposals, their commands, executions and seat holds, by table.
	ProposalRecords(ctx context.Context, locator string) (TableRows, error)
}

// ErasureSource is the source of the events the eraser produces.
const ErasureSource = "apron/eraser"

// ErasureReport is the data of passenger.erasure.completed: who asked,
// when, and how much went. It names neither the person nor their
// bookings, so the audit topic may be kept and forwarded.
type ErasureReport struct {
	// Erasure is a hash of the passenger.erased event's id (which a
	// client may have built from the person's id): whoever holds the
	// request can match it, nobody can read the person from it.
	Erasure          string    `json:"erasure"`
	RequestedBy      string    `json:"requested_by"`
	RequestedAt      time.Time `json:"requested_at"`
	CompletedAt      time.Time `json:"completed_at"`
	BookingsRedacted int       `json:"bookings_redacted"`
	LogEntriesErased int       `json:"log_entries_erased"`
	// RebookingsRedacted rebooking events were replaced by redacted
	// copies; AnswersErased assist entries and DeadLettersErased dead
	// letters that quoted the person were erased; ProposalsRedacted
	// proposals lost the text and priorities that described them.
	RebookingsRedacted int   `json:"rebookings_redacted"`
	AnswersErased      int   `json:"answers_erased"`
	DeadLettersErased  int   `json:"dead_letters_erased"`
	ProposalsRedacted  int   `json:"proposals_redacted"`
	DurationMS         int64 `json:"duration_ms"`
}

// Eraser carries a passenger's erasure to every topic that names them:
// each booking that lists the person gets a redacted current version
// (the entry keeps its id; name, tier and requests go), produced by the
// node, and every earlier version of that booking, and of the person's
// own key, is erased from the log. Log, projections and any replay then
// agree. A booking that arrives later and still names an erased person
// is redacted the same way. Each erasure ends with an audit event.
type Eraser struct {
	Log    Log
	Erase  LogEraser
	Store  ErasureStore
	Erased func(ctx context.Context, ids []string) (map[string]bool, error)
	Now    func() time.Time
	Logger *slog.Logger

	mu      sync.Mutex
	running map[string]ErasureStatus // by ErasureReport.Erasure
}

// Apply handles the erasures among changes of topic, and on the bookings
// topic redacts bookings that name someone already erased.
func (e *Eraser) Apply(ctx context.Context, topic string, changes []StateChange) error {
	switch topic {
	case TopicPassengers:
		for _, ch := range changes {
			if ch.Type != TypePassengerErased {
				continue
			}
			if _, err := e.ErasePassenger(ctx, ch); err != nil {
				return err
			}
		}
	case TopicBookings:
		return e.redactLate(ctx, changes)
	}
	return nil
}

// ErasePassenger erases the person of the passenger.erased change ch
// from the log and appends the audit event. It is idempotent.
func (e *Eraser) ErasePassenger(ctx context.Context, ch StateChange) (ErasureReport, error) {
	start := e.now()
	rep := ErasureReport{Erasure: ErasureRef(ch.Version.EventID), RequestedBy: ch.RequestedBy, RequestedAt: ch.Version.EventTime}
	e.track(rep, start)
	defer e.untrack(rep.Erasure)
	terms := &personTerms{id: ch.Key}
	if p, err := e.Store.Passenger(ctx, ch.Key); err == nil {
		terms.addName(p.Name)
		terms.addNeeds(p.SSR)
	} else if ErrorCode(err) != ENOTFOUND {
		return rep, fmt.Errorf("profile of the erased: %w", err)
	}
	locators, err := e.Store.BookingsNaming(ctx, ch.Key)
	if err != nil {
		return rep, fmt.Errorf("bookings of the erased: %w", err)
	}
	erased := map[string]bool{ch.Key: true}
	if done, ok, err := e.completed(ctx, rep.Erasure); err != nil {
		return rep, err
	} else if ok {
		// Completed before: by this node before a restart or a restore
		// from backup, or by another node of the cluster. The log holds
		// its outcome; doing it again would rewrite the proposals'
		// history once more and, past the log's duplicate window, append
		// a second audit record. Only this store's own proposals take
		// the redaction, as every node's do.
		if len(locators) > 0 {
			described := terms.described()
			if _, err := e.Store.RedactProposals(ctx, locators, func(p *Proposal) bool { return RedactProposal(p, described, erased) }); err != nil {
				return rep, fmt.Errorf("redact proposals: %w", err)
			}
		}
		return done, nil
	}
	for _, loc := range locators {
		redacted, n, err := e.redactBooking(ctx, loc, erased, ch.Version.EventID, terms)
		if err != nil {
			return rep, err
		}
		if redacted {
			rep.BookingsRedacted++
		}
		rep.LogEntriesErased += n
	}
	q, err := e.eraseQuotes(ctx, terms, locators, erased)
	if err != nil {
		return rep, err
	}
	rep.RebookingsRedacted, rep.AnswersErased, rep.DeadLettersErased, rep.ProposalsRedacted = q.rebookings, q.answers, q.deadLetters, q.proposals
	rep.LogEntriesErased += q.rebookings + q.answers + q.deadLetters + q.proposalEntries
	n, err := e.Erase.EraseKeyBefore(ctx, TopicPassengers, ch.Key, ch.Version.Offset)
	if err != nil {
		return rep, fmt.Errorf("erase passenger records: %w", err)
	}
	rep.LogEntriesErased += n
	rep.CompletedAt = e.now()
	rep.DurationMS = rep.CompletedAt.Sub(start).Milliseconds()
	ev, err := NewEvent("erasure-completed-"+shortHash(ch.Version.EventID), ErasureSource, TypeErasureCompleted, shortHash(ch.Version.EventID), rep.CompletedAt, rep)
	if err != nil {
		return rep, err
	}
	if _, err := e.Log.Append(ctx, TopicAudit, []*Event{ev}); err != nil {
		return rep, fmt.Errorf("audit erasure: %w", err)
	}
	e.logger().Info("passenger erased", "erasure", rep.Erasure, "requested_by", rep.RequestedBy, "bookings_redacted", rep.BookingsRedacted,
		"rebookings_redacted", rep.RebookingsRedacted, "answers_erased", rep.AnswersErased, "log_entries_erased", rep.LogEntriesErased, "ms", rep.DurationMS)
	return rep, nil
}

// completed returns the report of erasure ref from its audit record, and
// whether the audit topic holds one.
func (e *Eraser) completed(ctx context.Context, ref string) (ErasureReport, bool, error) {
	le, err := e.Erase.Last(ctx, TopicAudit, ref)
	if ErrorCode(err) == ENOTFOUND {
		return ErasureReport{}, false, nil
	} else if err != nil {
		return ErasureReport{}, false, fmt.Errorf("audit record of erasure %s: %w", ref, err)
	}
	ev, err := ParseTrusted(le.Data)
	if err != nil || ev.Type != TypeErasureCompleted {
		return ErasureReport{}, false, err
	}
	var rep ErasureReport
	if err := json.Unmarshal(ev.Data, &rep); err != nil {
		return ErasureReport{}, false, fmt.Errorf("audit record of erasure %s: %w", ref, err)
	}
	return rep, true, nil
}

// redactLate redacts the bookings of a batch that name an erased person.
func (e *Eraser) redactLate(ctx context.Context, changes []StateChange) error {
	if e.Erased == nil {
		return nil
	}
	var ids []string
	for _, ch := range changes {
		if ch.Booking == nil || ch.Source == ErasureSource {
			continue
		}
		for _, p := range ch.Booking.Passengers {
			if !slices.Contains(ids, p.ID) {
				ids = append(ids, p.ID)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	erased, err := e.Erased(ctx, ids)
	if err != nil || len(erased) == 0 {
		return err
	}
	for _, ch := range changes {
		if ch.Booking == nil || ch.Source == ErasureSource || !NamesErased(*ch.Booking, erased) {
			continue
		}
		if _, _, err := e.redactBooking(ctx, ch.Key, erased, ch.Version.EventID, nil); err != nil {
			return err
		}
	}
	return nil
}

// redactBooking makes the latest log version of booking loc carry none
// of the erased, appending a redacted version if it does, and erases
// every earlier version. cause names the event that asked, so that a
// retry appends the same event (de-duplicated by id). terms, when not
// nil, learns the names, needs and seats the booking gave the erased.
func (e *Eraser) redactBooking(ctx context.Context, loc string, erased map[string]bool, cause string, terms *personTerms) (bool, int, error) {
	le, err := e.Erase.Last(ctx, TopicBookings, loc)
	if ErrorCode(err) == ENOTFOUND {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("latest of booking %s: %w", loc, err)
	}
	ev, err := ParseTrusted(le.Data)
	if err != nil {
		return false, 0, fmt.Errorf("booking %s@%d: %w", loc, le.Offset, err)
	}
	var b Booking
	if err := json.Unmarshal(ev.Data, &b); err != nil {
		return false, 0, fmt.Errorf("booking %s@%d: %w", loc, le.Offset, err)
	}
	if terms != nil {
		if err := e.learnVersions(ctx, loc, erased, terms); err != nil {
			return false, 0, err
		}
	}
	keep := le.Offset
	redacted := false
	if NamesErased(b, erased) {
		typ := TypeBookingChanged
		if ev.Type == TypeBookingCancelled {
			typ = TypeBookingCancelled
		}
		// The same event time and a later offset: the redacted version
		// wins over the one it replaces and over nothing newer.
		red, err := NewEvent("erasure-"+shortHash(cause+"/"+loc+"/"+ev.ID), ErasureSource, typ, loc, ev.Time, ScrubBooking(b, erased))
		if err != nil {
			return false, 0, err
		}
		res, err := e.Log.Append(ctx, TopicBookings, []*Event{red})
		if err != nil {
			return false, 0, fmt.Errorf("append redacted booking %s: %w", loc, err)
		}
		keep, redacted = res[0].Offset, true
	}
	n, err := e.Erase.EraseKeyBefore(ctx, TopicBookings, loc, keep)
	if err != nil {
		return false, 0, fmt.Errorf("erase earlier versions of booking %s: %w", loc, err)
	}
	return redacted, n, nil
}

// learnVersions has terms learn from every version of booking loc the
// log holds (an earlier one may have had another seat or spelling).
func (e *Eraser) learnVersions(ctx context.Context, loc string, erased map[string]bool, terms *personTerms) error {
	return e.Erase.Entries(ctx, TopicBookings, loc, func(le LogEntry) error {
		ev, err := ParseTrusted(le.Data)
		if err != nil {
			return nil // not a booking version: nothing of the person to learn
		}
		var b Booking
		if json.Unmarshal(ev.Data, &b) == nil {
			terms.learn(b, erased)
		}
		return nil
	})
}

// NamesErased reports whether b carries anything of an erased passenger
// beyond their id.
func NamesErased(b Booking, erased map[string]bool) bool {
	all := len(b.Passengers) > 0
	for _, p := range b.Passengers {
		if erased[p.ID] && (p.Name != ErasedName || p.Tier != "" || len(p.SSR) > 0) {
			return true
		}
		all = all && erased[p.ID]
	}
	if all {
		for _, sg := range b.Segments {
			if sg.Seat != "" {
				return true
			}
		}
	}
	return false
}

// ErasureRef is the audit topic's reference to the passenger.erased event
// with id eventID.
func ErasureRef(eventID string) string { return shortHash(eventID) }

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:12])
}

func (e *Eraser) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

func (e *Eraser) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}
