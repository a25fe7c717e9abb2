package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ExecutionRequest is a person's approval of a proposal, as the booking
// engine receives it.
type ExecutionRequest struct {
	ProposalID string
	// Key makes the approval idempotent: the same key twice changes
	// nothing the second time.
	Key   string
	Actor string
	// Option is the option the person picked; empty: the proposal's
	// chosen one. An option the proposal does not have is refused with
	// ECONFLICT.
	Option string
	Now    time.Time
}

// SeatCounter reads free seats of a flight's cabin as the booking
// engine's transaction sees them.
type SeatCounter interface {
	SeatsLeft(ctx context.Context, flight, cabin string) (int, error)
}

// FlightReader reads a flight's current record as the booking engine's
// transaction sees it: nil, nil when the flight is unknown.
type FlightReader interface {
	FlightNow(ctx context.Context, key string) (*Flight, error)
}

// ExecutionInput is what the booking engine read inside its transaction:
// the proposal, its booking with the event time of the booking's stored
// version, and the seats and flights, read in the same transaction so that
// a seat is never sold twice and nothing gone is sold at all.
type ExecutionInput struct {
	Request     ExecutionRequest
	Proposal    *Proposal
	Booking     *Booking
	BookingTime time.Time
	Seats       SeatCounter
	Flights     FlightReader
}

// SeatHold keeps seats of a flight's cabin for an executed rebooking
// until the state shows the changed booking.
type SeatHold struct {
	Flight    string
	Cabin     string
	Seats     int
	EventTime time.Time
}

// ExecutionChange is a decided execution: the booking engine appends it
// as an outcome (the proposal takes the execution's outcome, Detail the
// decision reason, and the holds), and once every store believes it,
// appends the events.
type ExecutionChange struct {
	Execution Execution
	Holds     []SeatHold
	Events    []*Event
}

// ExecutionDecider decides an execution from what the booking engine read.
type ExecutionDecider func(ctx context.Context, in ExecutionInput) (*ExecutionChange, error)

// ErrOptionGone marks a refused approval whose option can no longer be
// booked (departed, boarding closed, cancelled, a connection broken): the
// proposal must be planned again. It comes wrapped with an ECONFLICT
// *Error that says which flight and why.
var ErrOptionGone = errors.New("option no longer bookable")

// Decider decides approvals under Rules at the time Now tells (the
// request's Now when nil).
type Decider struct {
	Rules RebookRules
	Now   func() time.Time
}

// DecideExecution decides under the default rules at the request's time.
func DecideExecution(ctx context.Context, in ExecutionInput) (*ExecutionChange, error) {
	return Decider{Rules: DefaultRebookRules()}.Execution(ctx, in)
}

// Execution is the rule of an approval. A proposal that is not pending,
// or that does not have the option asked for (the chosen one when none
// is asked), is refused with ECONFLICT. An option that can no longer be
// booked now (OptionObstacle: departed, boarding closed, cancelled since,
// a connection broken) is refused with ECONFLICT wrapping ErrOptionGone,
// naming the flight and why; nothing changes. Otherwise, if the booking
// is still active and every new flight has a seat in its cabin for each
// passenger, the passengers move: the replaced segments give way to the
// option's, the seats are held and booking.changed and
// rebooking.executed are emitted, saying which option and whether it was
// the proposed one. If not, the proposal fails with the reason and
// rebooking.failed is emitted.
func (d Decider) Execution(ctx context.Context, in ExecutionInput) (*ExecutionChange, error) {
	p, req := in.Proposal, in.Request
	now := req.Now
	if d.Now != nil {
		now = d.Now()
	}
	if p.Status != ProposalPending {
		return nil, Errorf(ECONFLICT, "proposal %s is %s, not pending%s", p.ID, p.Status, whyNotPending(p))
	}
	pick := req.Option
	if pick == "" {
		pick = p.Chosen
	}
	var opt *Option
	for i := range p.Options {
		if p.Options[i].ID == pick {
			opt = &p.Options[i]
		}
	}
	switch {
	case opt == nil && req.Option != "":
		return nil, Errorf(ECONFLICT, "proposal %s has no option %s; review it again", p.ID, req.Option)
	case opt == nil:
		return nil, Errorf(ECONFLICT, "proposal %s has no valid option to approve", p.ID)
	}
	if in.Flights != nil {
		gone, err := d.gone(ctx, p, opt, in.Flights, now)
		if err != nil {
			return nil, err
		}
		if gone != "" {
			return nil, fmt.Errorf("%w%w", ErrOptionGone, Errorf(ECONFLICT, "%s of proposal %s can no longer be booked: %s", opt.ID, p.ID, gone))
		}
	}
	fail, err := executionObstacle(ctx, p, opt, in.Booking, in.Seats)
	if err != nil {
		return nil, err
	}
	proposed := opt.ID == p.Chosen
	data := RebookingData{ProposalID: p.ID, Locator: p.Locator, FromFlight: p.Flight, ToFlights: opt.Flights, Actor: req.Actor, Option: opt.ID, Proposed: &proposed}
	ch := &ExecutionChange{Execution: Execution{ProposalID: p.ID, Option: opt.ID, Proposed: proposed}}
	if fail != "" {
		ch.Execution.Outcome, ch.Execution.Detail = ProposalFailed, fail
		e, err := FailedEvent(p, opt, req.Actor, fail, now)
		if err != nil {
			return nil, err
		}
		ch.Events = append(ch.Events, e)
		return ch, nil
	}
	// Event time strictly after the booking's, so the change wins.
	at := now
	if !at.After(in.BookingTime) {
		at = in.BookingTime.Add(time.Millisecond)
	}
	for _, fk := range opt.Flights {
		ch.Holds = append(ch.Holds, SeatHold{Flight: fk, Cabin: opt.Cabin, Seats: p.Need.Pax, EventTime: at})
	}
	if ch.Events, err = ExecutedEvents(p, opt, in.Booking, at, data); err != nil {
		return nil, err
	}
	ch.Execution.Outcome = ProposalExecuted
	ch.Execution.Detail = fmt.Sprintf("moved %d passenger(s) to %s", p.Need.Pax, strings.Join(opt.Flights, " + "))
	if len(opt.Keeps) > 0 {
		ch.Execution.Detail += ", keeping " + strings.Join(opt.Keeps, " + ")
	}
	if !proposed {
		ch.Execution.Detail += fmt.Sprintf(" (%s, not the proposed %s)", opt.ID, p.Chosen)
	}
	return ch, nil
}

// ExecutedEvents are the events of an executed rebooking of booking b
// onto opt at time at: rebooking.executed with data, then booking.changed
// with the passengers moved. Their ids are fixed by the proposal, so the
// engine that publishes them again (engine.go) stores them once. The
// order matters: the engine appends them in it, and only the second shows
// in the state, so a booking the state shows changed means both are on
// the log, and one it does not show is published again, both events.
func ExecutedEvents(p *Proposal, opt *Option, b *Booking, at time.Time, data RebookingData) ([]*Event, error) {
	nb := *b
	nb.Segments = rebookedSegments(b.Segments, opt, p.Need)
	be, err := NewEvent("rebooking-booking-"+p.ID, "apron/booking-engine", TypeBookingChanged, p.Locator, at, nb)
	if err != nil {
		return nil, err
	}
	ee, err := NewEvent("rebooking-executed-"+p.ID, "apron/booking-engine", TypeRebookingExecuted, p.Locator, at, data)
	if err != nil {
		return nil, err
	}
	return []*Event{ee, be}, nil
}

// gone reads the flights of opt in the transaction and says why opt can no
// longer be booked, or "".
func (d Decider) gone(ctx context.Context, p *Proposal, opt *Option, flights FlightReader, now time.Time) (string, error) {
	seen := map[string]*Flight{}
	for _, key := range slices.Concat(opt.Flights, opt.Keeps) {
		f, err := flights.FlightNow(ctx, key)
		if err != nil {
			return "", fmt.Errorf("flight %s: %w", key, err)
		}
		seen[key] = f
	}
	return OptionObstacle(p.Need, *opt, func(k string) *Flight { return seen[k] }, d.Rules, now), nil
}

// rebookedSegments is the booking's journey with opt in place: the
// replaced segments dropped and the option's flights where the first
// replaced or kept segment was, so the journey stays in order.
func rebookedSegments(segs []Segment, opt *Option, n Need) []Segment {
	replaced := opt.replaced(n)
	var out []Segment
	inserted := false
	insert := func() {
		for _, fk := range opt.Flights {
			out = append(out, Segment{Flight: fk, Cabin: opt.Cabin})
		}
		inserted = true
	}
	for _, sg := range segs {
		if !inserted && (slices.Contains(replaced, sg.Flight) || slices.Contains(opt.Keeps, sg.Flight)) {
			insert()
		}
		if !slices.Contains(replaced, sg.Flight) {
			out = append(out, sg)
		}
	}
	if !inserted {
		insert()
	}
	return out
}

// executionObstacle says why the chosen option cannot be executed now, or
// "" if it can.
func executionObstacle(ctx context.Context, p *Proposal, opt *Option, b *Booking, seats SeatCounter) (string, error) {
	if b.Status != BookingActive {
		return "the booking is no longer active", nil
	}
	for _, fk := range opt.Flights {
		left, err := seats.SeatsLeft(ctx, fk, opt.Cabin)
		if err != nil {
			return "", fmt.Errorf("seats left on %s: %w", fk, err)
		}
		if left < p.Need.Pax {
			return fmt.Sprintf("only %d seat(s) left in %s on %s for %d passenger(s)", max(left, 0), opt.Cabin, fk, p.Need.Pax), nil
		}
	}
	return "", nil
}

// RejectionRequest is a person's rejection of a proposal.
type RejectionRequest struct {
	ProposalID string
	Actor      string
	Reason     string
	Now        time.Time
}

// RejectionDecider decides a rejection of the proposal the booking engine
// read in its transaction: the event to emit, or an error to refuse it.
type RejectionDecider func(p *Proposal, req RejectionRequest) (*Event, error)

// DecideRejection is the rule of a rejection: only a pending proposal can
// be rejected (ECONFLICT otherwise), and rebooking.rejected says by whom
// and why.
func DecideRejection(p *Proposal, req RejectionRequest) (*Event, error) {
	if p.Status != ProposalPending {
		return nil, Errorf(ECONFLICT, "proposal %s is %s, not pending%s", p.ID, p.Status, whyNotPending(p))
	}
	return RejectedEvent(p, req.Actor, req.Reason, req.Now)
}

// FailedEvent is rebooking.failed for an approval of opt of p that could
// not move the passengers, saying why. Its id is fixed by the proposal,
// so the engine that publishes it again (engine.go) stores it once.
func FailedEvent(p *Proposal, opt *Option, actor, reason string, at time.Time) (*Event, error) {
	proposed := opt.ID == p.Chosen
	return NewEvent("rebooking-failed-"+p.ID, "apron/booking-engine", TypeRebookingFailed, p.Locator, at,
		RebookingData{ProposalID: p.ID, Locator: p.Locator, FromFlight: p.Flight, ToFlights: opt.Flights, Actor: actor, Option: opt.ID, Proposed: &proposed, Reason: reason})
}

// RejectedEvent is rebooking.rejected of p, by whom and why; its id is
// fixed by the proposal, as FailedEvent's.
func RejectedEvent(p *Proposal, actor, reason string, at time.Time) (*Event, error) {
	var to []string
	if o := p.ChosenOption(); o != nil {
		to = o.Flights
	}
	return NewEvent("rebooking-rejected-"+p.ID, "apron/booking-engine", TypeRebookingRejected, p.Locator, at,
		RebookingData{ProposalID: p.ID, Locator: p.Locator, FromFlight: p.Flight, ToFlights: to, Actor: actor, Reason: reason})
}

// whyNotPending says after a refusal why a decided proposal was decided
// (an expiry's reason: "no option left (opt-1: no seats left)"), and which
// proposal replaced it; "" when it says nothing.
func whyNotPending(p *Proposal) string {
	var why string
	if p.DecisionReason != "" {
		why = ": " + p.DecisionReason
	}
	if p.ReplacedBy != "" {
		why += "; see proposal " + p.ReplacedBy
	}
	return why
}
