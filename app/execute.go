package app

import (
	"context"
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
	// Expected, when set, is the option the person saw: if the proposal
	// now chooses another, nothing is executed and ECONFLICT says so.
	Expected string
	Now      time.Time
}

// SeatCounter reads free seats of a flight's cabin as the booking
// engine's transaction sees them.
type SeatCounter interface {
	SeatsLeft(ctx context.Context, flight, cabin string) (int, error)
}

// ExecutionInput is what the booking engine read inside its transaction:
// the proposal, its booking with the event time of the booking's stored
// version, and the seats, counted in the same transaction so that a seat
// is never sold twice.
type ExecutionInput struct {
	Request     ExecutionRequest
	Proposal    *Proposal
	Booking     *Booking
	BookingTime time.Time
	Seats       SeatCounter
}

// SeatHold keeps seats of a flight's cabin for an executed rebooking
// until the state shows the changed booking.
type SeatHold struct {
	Flight    string
	Cabin     string
	Seats     int
	EventTime time.Time
}

// ExecutionChange is a decided execution for the booking engine to apply
// in the transaction it read the input in: the proposal takes the
// execution's outcome (Detail is the decision reason), the holds are
// stored and the events go to the outbox.
type ExecutionChange struct {
	Execution Execution
	Holds     []SeatHold
	Events    []*Event
}

// ExecutionDecider decides an execution from what the booking engine read.
type ExecutionDecider func(ctx context.Context, in ExecutionInput) (*ExecutionChange, error)

// DecideExecution is the rule of an approval. A proposal that is not
// pending, that changed since the person saw it or has no chosen option
// is refused with ECONFLICT. Otherwise, if the booking is still active
// and every flight of the chosen option has a seat in its cabin for each
// passenger, the passengers move: the replaced segments give way to the
// option's, the seats are held and booking.changed and rebooking.executed
// are emitted. If not, the proposal fails with the reason and
// rebooking.failed is emitted.
func DecideExecution(ctx context.Context, in ExecutionInput) (*ExecutionChange, error) {
	p, req := in.Proposal, in.Request
	if p.Status != ProposalPending {
		return nil, Errorf(ECONFLICT, "proposal %s is %s, not pending", p.ID, p.Status)
	}
	if req.Expected != "" && req.Expected != p.Chosen {
		return nil, Errorf(ECONFLICT, "proposal %s changed since it was opened: it now proposes %s; review it again", p.ID, p.Chosen)
	}
	opt := p.ChosenOption()
	if opt == nil {
		return nil, Errorf(ECONFLICT, "proposal %s has no chosen option", p.ID)
	}
	fail, err := executionObstacle(ctx, p, opt, in.Booking, in.Seats)
	if err != nil {
		return nil, err
	}
	data := RebookingData{ProposalID: p.ID, Locator: p.Locator, FromFlight: p.Flight, ToFlights: opt.Flights, Actor: req.Actor}
	ch := &ExecutionChange{Execution: Execution{ProposalID: p.ID}}
	if fail != "" {
		ch.Execution.Outcome, ch.Execution.Detail = ProposalFailed, fail
		data.Reason = fail
		e, err := NewEvent("rebooking-failed-"+p.ID, "apron/booking-engine", TypeRebookingFailed, p.Locator, req.Now, data)
		if err != nil {
			return nil, err
		}
		ch.Events = append(ch.Events, e)
		return ch, nil
	}
	// Event time strictly after the booking's, so the change wins.
	at := req.Now
	if !at.After(in.BookingTime) {
		at = in.BookingTime.Add(time.Millisecond)
	}
	nb := *in.Booking
	nb.Segments = nil
	for _, sg := range in.Booking.Segments {
		if !slices.Contains(p.Need.Replace, sg.Flight) {
			nb.Segments = append(nb.Segments, sg)
		}
	}
	for _, fk := range opt.Flights {
		nb.Segments = append(nb.Segments, Segment{Flight: fk, Cabin: opt.Cabin})
		ch.Holds = append(ch.Holds, SeatHold{Flight: fk, Cabin: opt.Cabin, Seats: p.Need.Pax, EventTime: at})
	}
	be, err := NewEvent("rebooking-booking-"+p.ID, "apron/booking-engine", TypeBookingChanged, p.Locator, at, nb)
	if err != nil {
		return nil, err
	}
	ee, err := NewEvent("rebooking-executed-"+p.ID, "apron/booking-engine", TypeRebookingExecuted, p.Locator, at, data)
	if err != nil {
		return nil, err
	}
	ch.Events = append(ch.Events, be, ee)
	ch.Execution.Outcome = ProposalExecuted
	ch.Execution.Detail = fmt.Sprintf("moved %d passenger(s) to %s", p.Need.Pax, strings.Join(opt.Flights, " + "))
	return ch, nil
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
		return nil, Errorf(ECONFLICT, "proposal %s is %s, not pending", p.ID, p.Status)
	}
	var to []string
	if o := p.ChosenOption(); o != nil {
		to = o.Flights
	}
	return NewEvent("rebooking-rejected-"+p.ID, "apron/booking-engine", TypeRebookingRejected, p.Locator, req.Now,
		RebookingData{ProposalID: p.ID, Locator: p.Locator, FromFlight: p.Flight, ToFlights: to, Actor: req.Actor, Reason: req.Reason})
}
