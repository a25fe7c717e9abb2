package app

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CommandStore is what the booking engine needs from the store beyond
// proposals: the commands the control materialiser recorded and the
// reads its decisions are made on (decision 0028).
type CommandStore interface {
	// Command returns what the store knows of the command at a control
	// offset; ENOTFOUND while it has not applied it.
	Command(ctx context.Context, offset uint64) (*CommandState, error)
	// UndecidedCommands returns up to limit commands without a believed
	// outcome, in log order.
	UndecidedCommands(ctx context.Context, limit int) ([]*CommandState, error)
	// DecideExecution has decide decide an approval on what one read
	// transaction sees (proposal, booking, seats, flights); it changes
	// nothing. ENOTFOUND for an unknown proposal, decide's error as is.
	DecideExecution(ctx context.Context, req ExecutionRequest, decide ExecutionDecider) (*ExecutionChange, error)
	// ExecutionByKey returns the execution recorded for an idempotency
	// key; ENOTFOUND if none.
	ExecutionByKey(ctx context.Context, key string) (*Execution, error)
	// UnshownExecutions returns the commands whose believed outcome
	// executed a rebooking that the state's bookings do not show yet.
	UnshownExecutions(ctx context.Context) ([]*CommandState, error)
	// FailedAndRejected returns the commands whose believed outcome
	// failed an approval or rejected a proposal (not repeats), decided
	// at or after since, in log order.
	FailedAndRejected(ctx context.Context, since time.Time) ([]*CommandState, error)
}

// engineLoop is the booking engine: on the lease holder only, it decides
// the commands of the control topic in log order, one at a time, against
// this node's state, and appends each outcome stamped with the lease's
// epoch and the state it decided on. It waits until its own store has
// applied an outcome before deciding the next command, so each decision
// sees the seats the one before took.
func (p *Proposer) engineLoop() {
	defer p.wg.Done()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	r := newRetrier(p.Logger, "booking engine", 100*time.Millisecond, 5*time.Second)
	p.publishAgain(p.ctx, r)
	// failed: a decision ended in an error, maybe after its outcome went
	// on the log (its state applied it late): once the engine decides
	// again, what the state shows unsent goes out first.
	failed := false
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		case <-p.kick:
		}
		for p.ctx.Err() == nil {
			if failed {
				p.publishAgain(p.ctx, r)
				failed = false
			}
			cmds, err := p.Store.UndecidedCommands(p.ctx, 50)
			if err != nil {
				r.failed(p.ctx, err)
				break
			}
			if len(cmds) == 0 {
				break
			}
			if err := p.decideCommand(p.ctx, cmds[0]); err != nil {
				failed = true
				r.failed(p.ctx, err)
				break
			}
			r.ok()
		}
	}
}

// publishAgain appends again what an engine before this one decided but
// may not have published (it stopped between an outcome and its events).
// An engine that starts after a node died may find a topic's leader still
// being elected, so a refused append is tried again until ctx ends.
func (p *Proposer) publishAgain(ctx context.Context, r *retrier) {
	for _, again := range []struct {
		what string
		run  func(context.Context) error
	}{{"executed rebookings", p.republish}, {"failed and rejected rebookings", p.republishRefusals}} {
		for {
			err := again.run(ctx)
			if err == nil || ctx.Err() != nil {
				break
			}
			if !appendRetryable(err) {
				p.Logger.Warn("publishing the events of "+again.what+" again", "err", err)
				break
			}
			r.failed(ctx, fmt.Errorf("publishing the events of %s again: %w", again.what, err))
		}
		r.ok()
	}
}

// decideCommand decides one command, appends the outcome and, once this
// node's store believes it, publishes its events (booking.changed and
// rebooking.* for central) and re-plans what a failure or a refusal left.
func (p *Proposer) decideCommand(ctx context.Context, c *CommandState) error {
	basis, err := p.Store.Position(ctx, ControlConsumer, TopicControl)
	if err != nil {
		return err
	}
	out, events, err := p.decide(ctx, c)
	if err != nil {
		return fmt.Errorf("decide command control@%d: %w", c.Offset, err)
	}
	out.Command, out.Basis, out.Kind, out.Actor, out.At = c.Offset, basis, c.Command.Kind, c.Command.Actor, c.Command.At
	if p.Epoch != nil {
		out.Epoch = p.Epoch()
	}
	cmd := c.Command
	// The command's offset, the epoch and the basis name the outcome: the
	// same decision appended twice is stored once.
	e, err := newProposalChange(fmt.Sprintf("outcome-%d-e%d-b%d", c.Offset, out.Epoch, basis), p.Now(),
		ProposalChange{Op: OpDecided, ProposalID: cmd.ProposalID, Locator: cmd.Locator, Flight: cmd.Flight, Outcome: out, At: cmd.At})
	if err != nil {
		return err
	}
	offs, err := p.appendControl(ctx, []*Event{e})
	if err != nil {
		return err
	}
	st, err := p.Store.Command(ctx, c.Offset)
	if err != nil {
		return err
	}
	if st.Outcome == nil || st.OutcomeOff != offs[0] {
		// Not believed (stale basis or epoch, or decided by another
		// engine): the next round decides it again if it is still open.
		// When another engine's outcome is the one believed, that engine
		// may have stopped before publishing its events: what the state
		// shows unsent goes out again.
		if st.Outcome != nil {
			p.publishAgain(ctx, newRetrier(p.Logger, "booking engine", 100*time.Millisecond, 2*time.Second))
		}
		return nil
	}
	if err := p.publishAfter(ctx, fmt.Sprintf("the outcome of control@%d", c.Offset), events); err != nil {
		return err
	}
	return p.afterOutcome(ctx, c, out)
}

// publishAfter appends the events that follow a change already on the control
// topic (an outcome, proposals, an expiry, a ranking), trying again until
// the log takes them or the duty stops. The change is believed: nothing
// comes back to it, so an event given up here would reach neither the
// state nor central until another engine starts, and a topic whose
// leader is being elected after a node died refuses appends for a few
// seconds. An append that can never go in (invalid events) is not tried
// again.
func (p *Proposer) publishAfter(ctx context.Context, what string, events []*Event) error {
	if len(events) == 0 {
		return nil
	}
	r := newRetrier(p.Logger, "publishing the events of "+what, 100*time.Millisecond, 2*time.Second)
	for {
		err := p.appendOut(ctx, events)
		if err == nil {
			r.ok()
			return nil
		}
		if ctx.Err() != nil || !appendRetryable(err) {
			return fmt.Errorf("publish the events of %s: %w", what, err)
		}
		r.failed(ctx, err)
	}
}

// appendRetryable tells a refused append that may go in later (the log
// unavailable, or its disk full) from one that never will.
func appendRetryable(err error) bool {
	c := ErrorCode(err)
	return c == EUNAVAILABLE || c == ENOSPACE
}

// decide turns a command into its outcome and the events it publishes
// when believed.
func (p *Proposer) decide(ctx context.Context, c *CommandState) (*Outcome, []*Event, error) {
	cmd := c.Command
	if cmd.Kind == CommandReject {
		return p.decideRejection(ctx, cmd)
	}
	if ex, err := p.Store.ExecutionByKey(ctx, cmd.Key); err == nil {
		return &Outcome{Result: ex.Outcome, Repeated: true, Detail: ex.Detail, Option: ex.Option, Proposed: ex.Proposed, Key: cmd.Key}, nil, nil
	} else if ErrorCode(err) != ENOTFOUND {
		return nil, nil, err
	}
	req := ExecutionRequest{ProposalID: cmd.ProposalID, Key: cmd.Key, Actor: cmd.Actor, Option: cmd.Option, Now: cmd.At}
	ch, err := p.Store.DecideExecution(ctx, req, p.decider())
	if errors.Is(err, ErrOptionGone) {
		return &Outcome{Result: OutcomeRefused, Code: ECONFLICT, Gone: true, Message: p.replanGone(ctx, cmd.ProposalID, ErrorMessage(err)), Key: cmd.Key}, nil, nil
	}
	if code := ErrorCode(err); err != nil && (code == ECONFLICT || code == ENOTFOUND) {
		return &Outcome{Result: OutcomeRefused, Code: code, Message: ErrorMessage(err), Key: cmd.Key}, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	ex := ch.Execution
	return &Outcome{Result: ex.Outcome, Detail: ex.Detail, Option: ex.Option, Proposed: ex.Proposed, Key: cmd.Key, Holds: ch.Holds}, ch.Events, nil
}

func (p *Proposer) decideRejection(ctx context.Context, cmd ProposalCommand) (*Outcome, []*Event, error) {
	pr, err := p.Store.Proposal(ctx, cmd.ProposalID)
	if code := ErrorCode(err); code == ENOTFOUND {
		return &Outcome{Result: OutcomeRefused, Code: code, Message: ErrorMessage(err)}, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	e, err := DecideRejection(pr, RejectionRequest{ProposalID: cmd.ProposalID, Actor: cmd.Actor, Reason: cmd.Reason, Now: cmd.At})
	if code := ErrorCode(err); err != nil && code == ECONFLICT {
		return &Outcome{Result: OutcomeRefused, Code: code, Message: ErrorMessage(err)}, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	return &Outcome{Result: ProposalRejected, Reason: cmd.Reason}, []*Event{e}, nil
}

// replanGone plans the flight of a proposal whose option can no longer be
// booked and says, after msg, what became of the proposal.
func (p *Proposer) replanGone(ctx context.Context, id, msg string) string {
	pr, err := p.replan(ctx, id)
	switch {
	case err != nil:
		p.Logger.Warn("replanning after a refused approval", "proposal", id, "err", err)
	case pr.Status == ProposalSuperseded && pr.ReplacedBy != "":
		msg += "; planned again as proposal " + pr.ReplacedBy
	case pr.Status == ProposalExpired:
		msg += "; no option is left and the proposal expired: " + pr.DecisionReason
	}
	return msg
}

// afterOutcome plans a fresh proposal after a failed rebooking (the seats
// were gone) and says on the log which one, so the approver learns it.
func (p *Proposer) afterOutcome(ctx context.Context, c *CommandState, out *Outcome) error {
	if out.Kind != CommandApprove || out.Result != ProposalFailed || out.Repeated {
		return nil
	}
	cmd := c.Command
	pr, err := p.Store.Proposal(ctx, cmd.ProposalID)
	if err != nil {
		return err
	}
	fresh, err := p.PlanFlight(ctx, pr.Flight, pr.LogOffset)
	if err != nil {
		p.Logger.Warn("replanning after a failed rebooking", "proposal", pr.ID, "err", err)
	}
	var newID string
	for _, f := range fresh {
		if f.Locator == pr.Locator {
			newID = f.ID
		}
	}
	now := p.Now()
	e, err := newProposalChange(fmt.Sprintf("replanned-%d", c.Offset), now,
		ProposalChange{Op: OpReplanned, ProposalID: pr.ID, Locator: pr.Locator, Flight: pr.Flight, Command: c.Offset, NewID: newID, At: now})
	if err != nil {
		return err
	}
	_, err = p.appendControl(ctx, []*Event{e})
	return err
}

// republish appends again the events of executed rebookings whose
// booking the state does not show yet: an engine that stopped between an
// outcome and its events (a crash of the lease holder) left them unsent.
// Their ids are the ones the first engine used, so what did reach the
// log is stored once.
func (p *Proposer) republish(ctx context.Context) error {
	cs, err := p.Store.UnshownExecutions(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		out := c.Outcome
		pr, err := p.Store.Proposal(ctx, c.Command.ProposalID)
		if err != nil {
			return err
		}
		b, err := p.Store.Booking(ctx, pr.Locator)
		if err != nil {
			return fmt.Errorf("booking of %s: %w", pr.ID, err)
		}
		var opt *Option
		for i := range pr.Options {
			if pr.Options[i].ID == out.Option {
				opt = &pr.Options[i]
			}
		}
		if opt == nil || len(out.Holds) == 0 {
			continue
		}
		proposed := out.Proposed
		data := RebookingData{ProposalID: pr.ID, Locator: pr.Locator, FromFlight: pr.Flight, ToFlights: opt.Flights, Actor: out.Actor, Option: opt.ID, Proposed: &proposed}
		evs, err := ExecutedEvents(pr, opt, &b.Booking, out.Holds[0].EventTime, data)
		if err != nil {
			return err
		}
		if err := p.appendOut(ctx, evs); err != nil {
			return err
		}
		p.Logger.Info("published an executed rebooking's events again", "proposal", pr.ID, "command", c.Offset)
	}
	return nil
}

// republishRefusals appends again rebooking.failed and rebooking.rejected
// of the outcomes believed within three quarters of the log's duplicate
// window (the rest of it covers the clocks of the nodes that stamped the
// commands): an engine that stopped between such an outcome and its
// event left central without it, and nothing in the state shows which.
// Their ids are the first engine's, so those that did reach the log are
// stored once. Older outcomes are not sent again: the log would store a
// second copy.
func (p *Proposer) republishRefusals(ctx context.Context) error {
	if p.DuplicateWindow <= 0 {
		return nil
	}
	cs, err := p.Store.FailedAndRejected(ctx, p.Now().Add(-p.DuplicateWindow*3/4))
	if err != nil {
		return err
	}
	var evs []*Event
	for _, c := range cs {
		e, err := p.refusalEvent(ctx, c)
		if err != nil {
			return err
		}
		if e != nil {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	if err := p.appendOut(ctx, evs); err != nil {
		return err
	}
	p.Logger.Info("published failed and rejected rebookings' events again", "events", len(evs))
	return nil
}

// refusalEvent is the event a failed or rejected outcome published, made
// again from the proposal and the outcome; nil when the proposal no
// longer has the option (nothing to say it with).
func (p *Proposer) refusalEvent(ctx context.Context, c *CommandState) (*Event, error) {
	out := c.Outcome
	pr, err := p.Store.Proposal(ctx, c.Command.ProposalID)
	if err != nil {
		return nil, err
	}
	if out.Result == ProposalRejected {
		return RejectedEvent(pr, out.Actor, out.Reason, out.At)
	}
	for i := range pr.Options {
		if pr.Options[i].ID == out.Option {
			return FailedEvent(pr, &pr.Options[i], out.Actor, out.Detail, out.At)
		}
	}
	return nil, nil
}
