package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// ProposerStore is what the proposer needs from the state store.
type ProposerStore interface {
	Flight(ctx context.Context, key string) (*FlightRecord, error)
	Flights(ctx context.Context, f FlightFilter) ([]*FlightRecord, error)
	BookingsOnFlight(ctx context.Context, flightKey string) ([]*BookingRecord, error)
	SeatsLeft(ctx context.Context, flight, cabin string) (int, error)
	Outbox(ctx context.Context, limit int) ([]OutboxItem, error)
	DeleteOutbox(ctx context.Context, upto int64) error
	Proposal(ctx context.Context, id string) (*Proposal, error)
	Proposals(ctx context.Context, f ProposalFilter) ([]*Proposal, error)
	Booking(ctx context.Context, locator string) (*BookingRecord, error)
	// Position is a consumer's position (the control materialiser's, to
	// wait for a change to be applied).
	Position(ctx context.Context, consumer, topic string) (uint64, error)
	CommandStore
}

// Proposer turns disruptions into rebooking proposals: when a flight is
// cancelled, diverted or delayed, it finds the affected bookings, plans
// valid options by the rules (PlanAll) and offers one pending proposal per
// booking on the control topic, where every node's control materialiser
// stores it (decision 0028), then publishes rebooking.proposed. Approvals
// and rejections become commands on the same topic, which its booking
// engine decides (engine.go). It also publishes the events queued in the
// store's outbox (account changes made by a command beside the node).
type Proposer struct {
	Store  ProposerStore
	Log    Log
	Rules  RebookRules
	Logger *slog.Logger
	Now    func() time.Time
	// Epoch is the lease revision this node holds (0 on a single node):
	// the booking engine stamps it on each outcome.
	Epoch func() uint64
	// CommandTimeout bounds the wait for a change or a command's outcome
	// to show in this node's store (default 10s; a cluster node waits
	// longer, for the engine of the node that takes over the lease).
	CommandTimeout time.Duration
	// Ranker, when set, asks the model to rank and explain each new
	// proposal in the background; Policies retrieves the policy text it
	// is given. Work waits in a bounded queue: when it is full, proposals
	// keep the rules' choice.
	Ranker   *Ranker
	Policies PolicySource
	// SweepEvery is how often pending proposals are checked for options
	// that stopped being bookable (Sweep); default 15s.
	SweepEvery time.Duration
	// DuplicateWindow is how long the log de-duplicates an event id: a
	// starting engine publishes again the failed and rejected outcomes'
	// events decided within most of it (0: none), which the log stores
	// once whether or not the engine before it got to send them.
	DuplicateWindow time.Duration
	// Standby: Open does not start the loops; Start does, when this node
	// holds the cluster's singleton lease, and Stop ends them when it
	// loses it. Questions, approvals and lists are served either way.
	Standby bool
	rankQ   *rankQueue

	runMu sync.Mutex // Start and Stop

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	queue  map[string]uint64 // flight key -> log offset of its change
	wake   chan struct{}
	flush  chan struct{}
	kick   chan struct{} // a command was appended on this node
}

// Open prepares the proposer and, unless Standby, starts its loops:
// planning, the outbox publisher, the ranking and the booking engine.
func (p *Proposer) Open() error {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	p.Logger = p.Logger.With("subsystem", "proposer")
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Rules.DefaultMCT == 0 {
		p.Rules = DefaultRebookRules()
	}
	if p.SweepEvery == 0 {
		p.SweepEvery = 15 * time.Second
	}
	p.queue = map[string]uint64{}
	p.wake = make(chan struct{}, 1)
	p.flush = make(chan struct{}, 1)
	p.kick = make(chan struct{}, 1)
	p.rankQ = newRankQueue(4096)
	if p.Standby {
		return nil
	}
	p.run()
	return nil
}

func (p *Proposer) run() {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if p.cancel != nil {
		return
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(4)
	go p.planLoop()
	go p.outboxLoop()
	go p.rankLoop()
	go p.engineLoop()
}

// Start runs the loops on this node, which now holds the singleton lease.
// The flights that are disrupted now are planned again: what the node
// before planned and did not yet offer is lost with it, and what it did
// offer comes back under the same ids, which the store keeps once.
func (p *Proposer) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs, err := p.Store.Flights(ctx, FlightFilter{})
	if err != nil {
		return fmt.Errorf("disrupted flights: %w", err)
	}
	p.mu.Lock()
	for _, f := range fs {
		if _, queued := p.queue[f.Flight.Flight]; !queued && (f.Status == FlightCancelled || f.Status == FlightDiverted || f.DelayMinutes() > 0) {
			p.queue[f.Flight.Flight] = 0
		}
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	p.run()
	return nil
}

// Stop ends the loops after their current step; Start may run them again.
func (p *Proposer) Stop(ctx context.Context) error {
	p.runMu.Lock()
	defer p.runMu.Unlock()
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	err := waitGroup(ctx, &p.wg)
	p.cancel = nil
	return err
}

// Close stops the loops after their current step.
func (p *Proposer) Close(ctx context.Context) error { return p.Stop(ctx) }

// FlightsChanged queues disrupted flights for planning; the materialiser
// calls it after each batch of flight changes.
func (p *Proposer) FlightsChanged(offset uint64, changes []StateChange) {
	n := 0
	p.mu.Lock()
	for _, ch := range changes {
		// The change's own offset, not the batch's: a planner that takes
		// over after a failover finds the same offset in the flight's
		// version, so its proposals get the same ids.
		if f := ch.Flight; f != nil && (f.Status == FlightCancelled || f.Status == FlightDiverted || f.DelayMinutes() > 0) {
			at := ch.Version.Offset
			if at == 0 {
				at = offset
			}
			p.queue[f.Flight] = at
			n++
		}
	}
	p.mu.Unlock()
	if n > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// StateApplied implements StateListener: changed flights may be
// disruptions to plan for, changed bookings may be late arrivals on a
// disrupted flight.
func (p *Proposer) StateApplied(topic string, offset uint64, changes []StateChange) {
	switch topic {
	case TopicBookings:
		p.BookingsChanged(offset, changes)
	case TopicFlights:
		p.FlightsChanged(offset, changes)
	}
}

// BookingsChanged queues the flights of changed bookings: a booking that
// arrives after its flight's cancellation (a burst after an outage, a
// rebuild) is planned too. Flights that are not disrupted are skipped
// when planning.
func (p *Proposer) BookingsChanged(offset uint64, changes []StateChange) {
	n := 0
	p.mu.Lock()
	for _, ch := range changes {
		if b := ch.Booking; b != nil && b.Status == BookingActive {
			for _, sg := range b.Segments {
				if _, queued := p.queue[sg.Flight]; !queued {
					p.queue[sg.Flight] = 0
				}
				n++
			}
		}
	}
	p.mu.Unlock()
	if n > 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// Flush asks the outbox loop to publish now.
func (p *Proposer) Flush() {
	select {
	case p.flush <- struct{}{}:
	default:
	}
}

func (p *Proposer) planLoop() {
	defer p.wg.Done()
	sweep := time.NewTicker(p.SweepEvery)
	defer sweep.Stop()
	// A flight whose planning the log refused for now (a topic electing
	// its leader after a node died, a full disk) is planned again after a
	// backoff, rather than left unplanned until it changes again.
	retry := NewBackoff(200*time.Millisecond, 10*time.Second)
	var again <-chan time.Time
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-sweep.C:
			if err := p.Sweep(p.ctx); err != nil && p.ctx.Err() == nil {
				p.Logger.Warn("sweeping pending proposals", "err", err)
			}
			continue
		case <-p.wake:
		case <-again:
			again = nil
		}
		p.mu.Lock()
		work := p.queue
		p.queue = map[string]uint64{}
		p.mu.Unlock()
		keys := make([]string, 0, len(work))
		for k := range work {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		failed := false
		for _, k := range keys {
			if p.ctx.Err() != nil {
				return
			}
			_, err := p.PlanFlight(p.ctx, k, work[k])
			if err == nil {
				continue
			}
			if p.ctx.Err() != nil {
				return
			}
			if !appendRetryable(err) {
				p.Logger.Warn("planning failed", "flight", k, "err", err)
				continue
			}
			failed = true
			p.mu.Lock()
			if off, queued := p.queue[k]; !queued || off < work[k] {
				p.queue[k] = work[k]
			}
			p.mu.Unlock()
			p.Logger.Warn("planning failed: planning the flight again", "flight", k, "err", err)
		}
		if failed {
			if again == nil {
				again = time.After(retry.Next())
			}
		} else {
			retry.Reset()
		}
	}
}

// PlanFlight plans and stores proposals for the bookings on a flight.
func (p *Proposer) PlanFlight(ctx context.Context, key string, offset uint64) ([]*Proposal, error) {
	now := p.Now()
	fr, err := p.Store.Flight(ctx, key)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, nil
		}
		return nil, err
	}
	if f := fr.Flight; f.Status != FlightCancelled && f.Status != FlightDiverted && f.DelayMinutes() == 0 {
		return nil, nil
	}
	if offset == 0 {
		offset = fr.Version.Offset
	}
	needs, err := p.needsOn(ctx, key, now)
	if err != nil || len(needs) == 0 {
		return nil, err
	}
	cands, err := p.candidates(ctx, needs)
	if err != nil {
		return nil, err
	}
	seats := map[string]int{}
	left := func(f, c string) int {
		k := f + "/" + c
		if n, ok := seats[k]; ok {
			return n
		}
		n, err := p.Store.SeatsLeft(ctx, f, c)
		if err != nil {
			n = 0
		}
		seats[k] = n
		return n
	}
	props := proposalsFor(key, offset, now, PlanAll(needs, cands, left, p.Rules), p.Rules.Version(), func(n Need) string {
		return NoOptionCause(n, cands, left, p.Rules)
	})
	props, err = p.expireEmptied(ctx, key, props, cands, now)
	if err != nil {
		return nil, err
	}
	stored, err := p.offer(ctx, props, now)
	if err != nil {
		return nil, err
	}
	p.stored(ctx, key, len(needs), stored)
	return stored, nil
}

// needsOn returns the rebooking needs of the bookings whose disruption is
// the flight key.
func (p *Proposer) needsOn(ctx context.Context, key string, now time.Time) ([]Need, error) {
	bookings, err := p.Store.BookingsOnFlight(ctx, key)
	if err != nil {
		return nil, err
	}
	flights := map[string]*Flight{}
	for _, b := range bookings {
		for _, sg := range b.Segments {
			if _, ok := flights[sg.Flight]; ok {
				continue
			}
			flights[sg.Flight] = nil
			if fr, err := p.Store.Flight(ctx, sg.Flight); err == nil {
				flights[sg.Flight] = &fr.Flight
			}
		}
	}
	var needs []Need
	for _, b := range bookings {
		if n, ok := NeedFor(&b.Booking, flights, p.Rules, now); ok && n.Disrupted == key {
			needs = append(needs, n)
		}
	}
	return needs, nil
}

// candidates returns every flight on the days the options of needs may
// use, a day either side included.
func (p *Proposer) candidates(ctx context.Context, needs []Need) ([]*Flight, error) {
	earliest, latest := needs[0].Earliest, needs[0].Latest
	for _, n := range needs {
		if n.Earliest.Before(earliest) {
			earliest = n.Earliest
		}
		if n.Latest.After(latest) {
			latest = n.Latest
		}
	}
	var cands []*Flight
	for d := earliest.Add(-24 * time.Hour); !d.After(latest.Add(24 * time.Hour)); d = d.Add(24 * time.Hour) {
		frs, err := p.Store.Flights(ctx, FlightFilter{Date: d.UTC().Format("2006-01-02")})
		if err != nil {
			return nil, err
		}
		for _, fr := range frs {
			f := fr.Flight
			cands = append(cands, &f)
		}
	}
	return cands, nil
}

// proposalsFor turns the plans for a disrupted flight into pending
// proposals, the rules' first option chosen, stamped with the rules'
// version; a plan without options says why (cause).
func proposalsFor(key string, offset uint64, now time.Time, plans []Plan, rules string, cause func(Need) string) []*Proposal {
	var props []*Proposal
	for i, pl := range plans {
		pr := &Proposal{
			Locator: pl.Need.Locator, Flight: key, Reason: pl.Need.Reason, Rank: i + 1, Status: ProposalPending,
			Need: pl.Need, Options: pl.Options, LogOffset: offset, CreatedAt: now, Citations: []string{}, RulesVersion: rules,
			Rationale: "No model rationale: the first valid option by the rules (keeping the booked onward flights, then earliest arrival, then fewest changes).",
		}
		if len(pl.Options) > 0 {
			pr.Chosen = pl.Options[0].ID
		} else {
			pr.Rationale = cause(pl.Need) + ": handle at the desk (hotel, refund or another carrier)."
		}
		pr.ID = ProposalID(pr.Locator, key, offset, pl.Need.Replace, pl.Options)
		props = append(props, pr)
	}
	return props
}

// ProposalID names the proposal for booking locator disrupted by flight
// at log offset, offering options in place of the replaced segments. It
// holds no planning time: the same disruption planned again, by this
// node or by the one that takes over the planning, gives the same id, so
// the proposal is stored once (decision 0026).
func ProposalID(locator, flight string, offset uint64, replace []string, options []Option) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d|%v|%v", locator, flight, offset, replace, options))
	return fmt.Sprintf("p-%s-%d-%s", locator, offset, hex.EncodeToString(h[:4]))
}

// offer puts new proposals on the control topic, waits until this node's
// store has applied them, and publishes rebooking.proposed for those it
// stored (an identical pending one of the same booking, or a decided one
// of the same id, keeps them out). It returns those stored.
func (p *Proposer) offer(ctx context.Context, props []*Proposal, now time.Time) ([]*Proposal, error) {
	evs := make([]*Event, 0, len(props))
	for _, pr := range props {
		e, err := newProposalChange(fmt.Sprintf("proposal-planned-%s-%d", pr.ID, now.UnixNano()), now,
			ProposalChange{Op: OpPlanned, ProposalID: pr.ID, Locator: pr.Locator, Flight: pr.Flight, Proposal: pr, At: now})
		if err != nil {
			return nil, err
		}
		evs = append(evs, e)
	}
	offs, err := p.appendControl(ctx, evs)
	if err != nil {
		return nil, err
	}
	var stored []*Proposal
	var out []*Event
	for i, pr := range props {
		got, err := p.Store.Proposal(ctx, pr.ID)
		if err != nil || got.ControlOffset != offs[i] {
			continue
		}
		stored = append(stored, got)
		var to []string
		if o := got.ChosenOption(); o != nil {
			to = o.Flights
		}
		e, err := NewEvent("rebooking-proposed-"+got.ID, "apron/proposer", TypeRebookingProposed, got.Locator, now,
			RebookingData{ProposalID: got.ID, Locator: got.Locator, FromFlight: got.Flight, ToFlights: to, Rationale: got.Rationale, LogOffset: got.LogOffset, Rules: got.RulesVersion})
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return stored, p.publishAfter(ctx, fmt.Sprintf("%d new proposal(s)", len(out)), out)
}

// stored queues the new proposals of a flight for ranking.
func (p *Proposer) stored(ctx context.Context, key string, bookings int, stored []*Proposal) {
	for _, pr := range stored {
		if p.Ranker == nil || len(pr.Options) < 2 {
			continue
		}
		if !p.rankQ.push(pr.ID, pr.Options[0].Depart) {
			p.Logger.Warn("ranking queue full: the rules' choice stands", "proposal", pr.ID)
		}
	}
	if len(stored) == 0 {
		return
	}
	p.Logger.Info("proposals", "flight", key, "bookings", bookings, "new", len(stored))
}

// outboxLoop publishes queued events (account changes a command made
// beside the running node) to the log, in order, then removes them.
// Their ids are fixed in the outbox, so a repeat after a crash is stored
// once.
func (p *Proposer) outboxLoop() {
	defer p.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	r := newRetrier(p.Logger, "outbox publish", 200*time.Millisecond, 10*time.Second)
	v := DefaultValidator()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		case <-p.flush:
		}
		for p.ctx.Err() == nil {
			items, err := p.Store.Outbox(p.ctx, 500)
			if err != nil || len(items) == 0 {
				break
			}
			if err := p.publish(items, v); err != nil {
				r.failed(p.ctx, err)
				break
			}
			r.ok()
		}
	}
}

func (p *Proposer) publish(items []OutboxItem, v *Validator) error {
	byTopic := map[string][]*Event{}
	var order []string
	for _, it := range items {
		e, err := v.Parse(it.Event, it.Topic)
		if err != nil {
			// A malformed event must not block those behind it: it goes
			// to the dead letters with the reason.
			p.Logger.Error("outbox event refused", "seq", it.Seq, "err", err)
			e, err = DeadLetter(LogEntry{Topic: "outbox", Offset: uint64(it.Seq), Key: it.Topic, Stored: p.Now(), Data: it.Event}, err)
			if err != nil {
				return err
			}
			it.Topic = TopicDeadLetter
		}
		if _, ok := byTopic[it.Topic]; !ok {
			order = append(order, it.Topic)
		}
		byTopic[it.Topic] = append(byTopic[it.Topic], e)
	}
	// Topics are independent logs; within one, order is kept.
	for _, t := range order {
		if _, err := p.Log.Append(p.ctx, t, byTopic[t]); err != nil {
			return err
		}
	}
	return p.Store.DeleteOutbox(p.ctx, items[len(items)-1].Seq)
}

// Proposal returns one proposal. Returns ENOTFOUND.
func (p *Proposer) Proposal(ctx context.Context, id string) (*Proposal, error) {
	return p.Store.Proposal(ctx, id)
}

// Proposals lists proposals.
func (p *Proposer) Proposals(ctx context.Context, f ProposalFilter) ([]*Proposal, error) {
	return p.Store.Proposals(ctx, f)
}

// decider is the approval rule under the proposer's rules and clock.
func (p *Proposer) decider() ExecutionDecider {
	return Decider{Rules: p.Rules, Now: p.Now}.Execution
}

// Approve has the booking engine execute option of a proposal for actor
// (empty: the proposal's chosen one): it appends an approval command to
// the control topic and waits until this node's store shows the engine's
// outcome, which the engine on the lease holder decides in log order
// (engine.go). The same idempotency key twice changes nothing the second
// time. If the seats are gone the proposal fails and a fresh one is
// planned from the current state; its id comes back in the execution. If
// the option can no longer be booked (departed, boarding closed,
// cancelled since) nothing is executed: the proposal is planned again and
// ECONFLICT (wrapping ErrOptionGone) says why and what became of it.
// ENOTFOUND for an unknown proposal; EUNAVAILABLE when no engine decided
// within CommandTimeout.
func (p *Proposer) Approve(ctx context.Context, id, key, actor, option string) (*Execution, error) {
	pr, err := p.Store.Proposal(ctx, id)
	if err != nil {
		return nil, err
	}
	cmd := ProposalCommand{Kind: CommandApprove, ProposalID: id, Locator: pr.Locator, Flight: pr.Flight, Key: key, Option: option, Actor: actor, At: p.Now()}
	// The key names the command: the same approval sent twice is one entry.
	st, dup, err := p.command(ctx, "approve-"+key, cmd)
	if err != nil {
		return nil, err
	}
	out := st.Outcome
	if out.Result == OutcomeRefused {
		p.Logger.Info("approval refused", "proposal", id, "by", actor, "why", out.Message)
		if out.Gone {
			return nil, fmt.Errorf("%w%w", ErrOptionGone, Errorf(out.Code, "%s", out.Message))
		}
		return nil, Errorf(out.Code, "%s", out.Message)
	}
	ex := &Execution{ProposalID: id, Outcome: out.Result, Detail: out.Detail, Option: out.Option, Proposed: out.Proposed, Repeated: dup || out.Repeated}
	if ex.Outcome == ProposalFailed && !ex.Repeated {
		// The failure stands whether or not the re-plan is heard of.
		if rs, err := p.awaitCommand(ctx, st.Offset, func(c *CommandState) bool { return c.Replanned }); err == nil {
			ex.NewID = rs.NewID
		} else {
			p.Logger.Warn("no re-plan after a failed rebooking", "proposal", id, "err", err)
		}
	}
	p.Logger.Info("approval", "proposal", id, "by", actor, "outcome", ex.Outcome, "option", ex.Option, "proposed", ex.Proposed, "repeated", ex.Repeated)
	return ex, nil
}

// command appends a command with the event id and waits for its
// believed outcome in this node's store; dup says the log already held
// the command (the same id sent before).
func (p *Proposer) command(ctx context.Context, id string, cmd ProposalCommand) (*CommandState, bool, error) {
	e, err := NewEvent(id, "apron/console", TypeProposalCommand, proposalKey(cmd.Locator), cmd.At, cmd)
	if err != nil {
		return nil, false, err
	}
	res, err := p.Log.Append(ctx, TopicControl, []*Event{e})
	if err != nil {
		return nil, false, fmt.Errorf("append %s of %s: %w", cmd.Kind, cmd.ProposalID, err)
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
	st, err := p.awaitCommand(ctx, res[0].Offset, func(c *CommandState) bool { return c.Outcome != nil })
	return st, res[0].Duplicate, err
}

// awaitCommand polls this node's store until the command at offset
// satisfies done; EUNAVAILABLE after CommandTimeout, saying what waited.
func (p *Proposer) awaitCommand(ctx context.Context, offset uint64, done func(*CommandState) bool) (*CommandState, error) {
	var st *CommandState
	timeout := p.applyTimeout()
	err := pollUntil(ctx, timeout, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		c, err := p.Store.Command(ctx, offset)
		if ErrorCode(err) == ENOTFOUND {
			return false, nil
		} else if err != nil {
			return false, err
		}
		st = c
		return done(c), nil
	}, func() error {
		return Errorf(EUNAVAILABLE, "the request is on the log (control@%d), but no booking engine decided it within %s (does a node of the site hold the lease?); an engine decides it when one runs: look at the proposal before asking again", offset, timeout)
	})
	return st, err
}

// FlightApproval is the outcome of one proposal in a bulk approval:
// the execution, or why it was not executed.
type FlightApproval struct {
	ProposalID string     `json:"proposal_id"`
	Locator    string     `json:"locator"`
	Execution  *Execution `json:"execution,omitempty"`
	Error      string     `json:"error,omitempty"`
	Code       string     `json:"code,omitempty"`
}

// ApproveFlight approves the chosen option of every pending proposal of
// a disrupted flight for actor, most urgent first, each through the
// booking engine with the proposal's own idempotency key (the one a
// single approval without a client key uses), so that every proposal is
// checked and executed at most once however many people approve at the
// same time. Proposals without a valid option are skipped and reported.
func (p *Proposer) ApproveFlight(ctx context.Context, key, actor string) ([]FlightApproval, error) {
	ps, err := p.Store.Proposals(ctx, ProposalFilter{Flight: key, Status: ProposalPending})
	if err != nil {
		return nil, err
	}
	SortByUrgency(ps)
	out := []FlightApproval{}
	for _, pr := range ps {
		a := FlightApproval{ProposalID: pr.ID, Locator: pr.Locator}
		if pr.ChosenOption() == nil {
			a.Error, a.Code = "no valid option: "+pr.Rationale, ECONFLICT
			out = append(out, a)
			continue
		}
		ex, err := p.Approve(ctx, pr.ID, ProposalKey(pr.ID), actor, "")
		if err != nil {
			if code := ErrorCode(err); code == EINTERNAL {
				return out, err
			}
			a.Error, a.Code = ErrorMessage(err), ErrorCode(err)
		}
		a.Execution = ex
		out = append(out, a)
	}
	return out, nil
}

// ProposalKey is the idempotency key of an approval that brings none.
func ProposalKey(id string) string { return "approve:" + id }

// replan plans the flight of proposal id again from the current state and
// returns what became of the proposal: superseded by a fresh one, expired
// when none of its options can be booked any more and nothing replaces
// it, or still pending.
func (p *Proposer) replan(ctx context.Context, id string) (*Proposal, error) {
	pr, err := p.Store.Proposal(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := p.PlanFlight(ctx, pr.Flight, 0); err != nil {
		return nil, err
	}
	if pr, err = p.Store.Proposal(ctx, id); err != nil || pr.Status != ProposalPending {
		return pr, err
	}
	// The flight is no longer disrupted, or the booking no longer needs
	// it: if nothing of the proposal can be booked, it expires.
	now := p.Now()
	look := p.flightLookup(ctx)
	var why []string
	for _, o := range pr.Options {
		ob := OptionObstacle(pr.Need, o, look, p.Rules, now)
		if ob == "" {
			return pr, nil
		}
		why = append(why, o.ID+": "+ob)
	}
	if len(why) == 0 {
		return pr, nil
	}
	if err := p.expire(ctx, pr, "no option left ("+strings.Join(why, "; ")+")", now); err != nil {
		return nil, err
	}
	return p.Store.Proposal(ctx, id)
}

// flightLookup reads flights from the store, each once.
func (p *Proposer) flightLookup(ctx context.Context) func(string) *Flight {
	seen := map[string]*Flight{}
	return func(k string) *Flight {
		if f, ok := seen[k]; ok {
			return f
		}
		var f *Flight
		if fr, err := p.Store.Flight(ctx, k); err == nil {
			f = &fr.Flight
		}
		seen[k] = f
		return f
	}
}

// expire marks a pending proposal expired with the reason (a change on
// the control topic) and publishes rebooking.expired; a proposal decided
// meanwhile stays as it is.
func (p *Proposer) expire(ctx context.Context, pr *Proposal, reason string, now time.Time) error {
	ch, err := newProposalChange(fmt.Sprintf("proposal-expired-%s-%d", pr.ID, now.UnixNano()), now,
		ProposalChange{Op: OpExpired, ProposalID: pr.ID, Locator: pr.Locator, Flight: pr.Flight, Reason: reason, At: now})
	if err != nil {
		return err
	}
	if _, err := p.appendControl(ctx, []*Event{ch}); err != nil {
		return err
	}
	got, err := p.Store.Proposal(ctx, pr.ID)
	if err != nil {
		return err
	}
	if got.Status != ProposalExpired || got.DecisionReason != reason || !got.DecidedAt.Equal(now) {
		return nil // decided meanwhile
	}
	e, err := NewEvent("rebooking-expired-"+pr.ID, "apron/proposer", TypeRebookingExpired, pr.Locator, now,
		RebookingData{ProposalID: pr.ID, Locator: pr.Locator, FromFlight: pr.Flight, Reason: reason, Rules: pr.RulesVersion})
	if err != nil {
		return err
	}
	if err := p.publishAfter(ctx, "the expiry of proposal "+pr.ID, []*Event{e}); err != nil {
		return err
	}
	p.Logger.Info("proposal expired", "proposal", pr.ID, "reason", reason)
	return nil
}

// expireEmptied drops from a flight's new proposals those that would
// replace a pending proposal with options by one without any: the pending
// one expires instead, saying why each of its options is gone.
func (p *Proposer) expireEmptied(ctx context.Context, key string, props []*Proposal, cands []*Flight, now time.Time) ([]*Proposal, error) {
	pending, err := p.Store.Proposals(ctx, ProposalFilter{Flight: key, Status: ProposalPending})
	if err != nil || len(pending) == 0 {
		return props, err
	}
	byLoc := map[string]*Proposal{}
	for _, pr := range pending {
		byLoc[pr.Locator] = pr
	}
	byKey := map[string]*Flight{}
	for _, f := range cands {
		byKey[f.Flight] = f
	}
	look := func(k string) *Flight { return byKey[k] }
	var keep []*Proposal
	for _, pr := range props {
		old := byLoc[pr.Locator]
		if old == nil || len(pr.Options) > 0 || len(old.Options) == 0 {
			keep = append(keep, pr)
			continue
		}
		var why []string
		for _, o := range old.Options {
			ob := OptionObstacle(old.Need, o, look, p.Rules, now)
			if ob == "" {
				ob = "no seats left"
			}
			why = append(why, o.ID+": "+ob)
		}
		if err := p.expire(ctx, old, "no option left ("+strings.Join(why, "; ")+")", now); err != nil {
			return nil, err
		}
	}
	return keep, nil
}

// Sweep checks every pending proposal against the clock and the current
// flights: a flight whose proposals have an option that can no longer be
// booked (OptionObstacle) is planned again, so those proposals are
// superseded by fresh ones or expire when none is left; a proposal that
// never had an option expires when its rebooking window has closed.
func (p *Proposer) Sweep(ctx context.Context) error {
	ps, err := p.Store.Proposals(ctx, ProposalFilter{Status: ProposalPending})
	if err != nil {
		return err
	}
	now := p.Now()
	look := p.flightLookup(ctx)
	stale := map[string]string{} // flight -> a proposal of it to re-plan
	for _, pr := range ps {
		if len(pr.Options) == 0 {
			if now.After(pr.Need.Latest) {
				if err := p.expire(ctx, pr, "the rebooking window closed at "+pr.Need.Latest.Format("Mon 15:04")+" without a valid option", now); err != nil {
					return err
				}
			}
			continue
		}
		for _, o := range pr.Options {
			if OptionObstacle(pr.Need, o, look, p.Rules, now) != "" {
				stale[pr.Flight] = pr.ID
				break
			}
		}
	}
	keys := make([]string, 0, len(stale))
	for k := range stale {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := p.replan(ctx, stale[k]); err != nil {
			p.Logger.Warn("replanning stale proposals", "flight", k, "err", err)
		}
	}
	return nil
}

// Reject records a person's rejection with the reason: a rejection
// command on the control topic, decided by the booking engine like an
// approval. EINVALID without a reason, ENOTFOUND for an unknown proposal,
// ECONFLICT when it is no longer pending, EUNAVAILABLE when no engine
// decided within CommandTimeout.
func (p *Proposer) Reject(ctx context.Context, id, actor, reason string) error {
	if reason == "" {
		return Errorf(EINVALID, "reason: say why the proposal is rejected")
	}
	pr, err := p.Store.Proposal(ctx, id)
	if err != nil {
		return err
	}
	now := p.Now()
	cmd := ProposalCommand{Kind: CommandReject, ProposalID: id, Locator: pr.Locator, Flight: pr.Flight, Reason: reason, Actor: actor, At: now}
	st, _, err := p.command(ctx, fmt.Sprintf("reject-%s-%d", id, now.UnixNano()), cmd)
	if err != nil {
		return err
	}
	if out := st.Outcome; out.Result == OutcomeRefused {
		return Errorf(out.Code, "%s", out.Message)
	}
	return nil
}

// rankLoop asks the model about queued proposals, one at a time, most
// urgent first. A ranking the scheduler deferred (interactive or
// freshness work needed the model) goes back into the queue.
func (p *Proposer) rankLoop() {
	defer p.wg.Done()
	for {
		id := p.rankQ.pop()
		if id == "" {
			select {
			case <-p.ctx.Done():
				return
			case <-p.rankQ.notify:
				continue
			}
		}
		err := p.RankProposal(p.ctx, id)
		switch {
		case p.ctx.Err() != nil:
			return
		case errors.Is(err, errRankDeferred):
			if pr, perr := p.Store.Proposal(p.ctx, id); perr == nil && len(pr.Options) > 0 {
				p.rankQ.push(id, pr.Options[0].Depart)
			}
			// Let the work that needed the model go first.
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		case err != nil:
			p.Logger.Warn("ranking", "proposal", id, "err", err)
		}
	}
}

// RankSoon moves a pending proposal to the front of the ranking queue: a
// person has opened it. It does nothing without a ranker, or for a
// proposal with fewer than two options (nothing to rank).
func (p *Proposer) RankSoon(ctx context.Context, id string) {
	if p.Ranker == nil || p.rankQ == nil {
		return
	}
	pr, err := p.Store.Proposal(ctx, id)
	if err != nil || pr.Status != ProposalPending || pr.ModelRationale || len(pr.Options) < 2 {
		return
	}
	p.rankQ.push(id, time.Time{})
}

// errRankDeferred says a ranking did not run because the model was needed
// for more urgent work.
var errRankDeferred = errors.New("ranking deferred")

// RankProposal has the model rank and explain a pending proposal and keeps
// its answer if the validator accepts it.
func (p *Proposer) RankProposal(ctx context.Context, id string) error {
	pr, err := p.Store.Proposal(ctx, id)
	if err != nil {
		return err
	}
	if pr.Status != ProposalPending || p.Ranker == nil {
		return nil
	}
	var ssr []string
	tier := ""
	if b, err := p.Store.Booking(ctx, pr.Locator); err == nil {
		for _, bp := range b.Passengers {
			ssr = append(ssr, bp.SSR...)
			if tierRank[bp.Tier] > tierRank[tier] {
				tier = bp.Tier
			}
		}
	}
	var docs []PolicyExcerpt
	if p.Policies != nil {
		docs = p.Policies.Policies(ctx, pr, ssr)
	}
	r := p.Ranker.Rank(ctx, pr, ssr, tier, docs)
	if r.Deferred {
		return errRankDeferred
	}
	var to []string
	for _, o := range pr.Options {
		if o.ID == r.Choice {
			to = o.Flights
		}
	}
	now := p.Now()
	rec := &RankingRecord{ModelRationale: r.ModelRationale, Choice: r.Choice, Rationale: r.Rationale, Citations: r.Citations, Model: r.Model, Digest: r.Digest, PromptHash: r.PromptHash}
	ch, err := newProposalChange(fmt.Sprintf("proposal-ranked-%s-%d", pr.ID, now.UnixNano()), now,
		ProposalChange{Op: OpRanked, ProposalID: pr.ID, Locator: pr.Locator, Flight: pr.Flight, Ranking: rec, At: now})
	if err != nil {
		return err
	}
	if _, err := p.appendControl(ctx, []*Event{ch}); err != nil {
		return err
	}
	got, err := p.Store.Proposal(ctx, pr.ID)
	if err != nil {
		return err
	}
	if got.Status != ProposalPending || got.PromptHash != r.PromptHash || got.Model != r.Model {
		return Errorf(ECONFLICT, "proposal %s was decided before the model answered", pr.ID)
	}
	if r.ModelRationale {
		e, err := NewEvent("rebooking-ranked-"+pr.ID, "apron/assistant", TypeRebookingProposed, pr.Locator, now,
			RebookingData{ProposalID: pr.ID, Locator: pr.Locator, FromFlight: pr.Flight, ToFlights: to, Rationale: r.Rationale, Citations: r.Citations, LogOffset: pr.LogOffset})
		if err != nil {
			return err
		}
		if err := p.publishAfter(ctx, "the ranking of proposal "+pr.ID, []*Event{e}); err != nil {
			return err
		}
	}
	p.Logger.Info("ranked", "proposal", pr.ID, "model_rationale", r.ModelRationale, "choice", r.Choice, "findings", len(r.Findings))
	return nil
}
