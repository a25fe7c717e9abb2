package app

import (
	"context"
	"fmt"
	"time"
)

// Proposal changes on the control topic (decision 0028). Every change of
// a proposal is an entry there, applied by every node's control
// materialiser: the planner's new proposals, rankings and expiries, the
// approvals and rejections staff ask for (commands), and the booking
// engine's outcomes of those commands.
const (
	// OpPlanned offers a new proposal (Proposal holds it whole); it
	// supersedes the booking's pending one unless that one offers the same.
	OpPlanned = "planned"
	// OpRanked records the model's ranking of a pending proposal.
	OpRanked = "ranked"
	// OpExpired expires a pending proposal with the reason.
	OpExpired = "expired"
	// OpDecided is the booking engine's outcome of a command.
	OpDecided = "decided"
	// OpReplanned says what a failed rebooking's re-plan proposed instead.
	OpReplanned = "replanned"
	// OpRestored stands for the erased history of a booking's proposals
	// (an erasure): the redacted rows, by table.
	OpRestored = "restored"
	// OpAdopted puts on the log a booking's proposals that a store made
	// before they went through it (Records: their rows, by table).
	OpAdopted = "adopted"
)

// TableRows are rows of the store's tables, column by column, by table.
type TableRows map[string][]map[string]any

// Command kinds.
const (
	CommandApprove = "approve"
	CommandReject  = "reject"
)

// Outcomes of a command besides the proposal statuses executed, failed
// and rejected: refused changes nothing (the proposal was not pending,
// has no such option, or the option can no longer be booked).
const OutcomeRefused = "refused"

// ProposalCommand is the data of proposal.command: a person's approval or
// rejection, which the booking engine decides in log order.
type ProposalCommand struct {
	Kind       string    `json:"kind"`
	ProposalID string    `json:"proposal_id"`
	Locator    string    `json:"locator"`
	Flight     string    `json:"flight"`
	Key        string    `json:"key,omitempty"`    // approve: the idempotency key
	Option     string    `json:"option,omitempty"` // approve: empty for the chosen one
	Reason     string    `json:"reason,omitempty"` // reject
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
}

// RankingRecord is the part of a Ranking a proposal keeps.
type RankingRecord struct {
	ModelRationale bool     `json:"model_rationale"`
	Choice         string   `json:"choice,omitempty"`
	Rationale      string   `json:"rationale,omitempty"`
	Citations      []string `json:"citations,omitempty"`
	Model          string   `json:"model,omitempty"`
	Digest         string   `json:"digest,omitempty"`
	PromptHash     string   `json:"prompt_hash,omitempty"`
}

// Outcome is the booking engine's decision of one command.
type Outcome struct {
	Command uint64 `json:"command"` // the command's offset on the control topic
	// Epoch is the lease revision the engine held when it decided;
	// materialisers ignore an outcome older than one they applied.
	Epoch uint64 `json:"epoch"`
	// Basis is the control offset this engine's store had applied when
	// it decided: an outcome believed after it makes the decision stale.
	Basis    uint64     `json:"basis"`
	Kind     string     `json:"kind"`
	Result   string     `json:"result"` // executed, failed, rejected, refused
	Code     string     `json:"code,omitempty"`
	Message  string     `json:"message,omitempty"` // refused: why
	Gone     bool       `json:"gone,omitempty"`    // refused because the option can no longer be booked
	Repeated bool       `json:"repeated,omitempty"`
	Detail   string     `json:"detail,omitempty"`
	Option   string     `json:"option,omitempty"`
	Proposed bool       `json:"proposed,omitempty"`
	Key      string     `json:"key,omitempty"`
	Actor    string     `json:"actor"`
	At       time.Time  `json:"at"`
	Reason   string     `json:"reason,omitempty"` // rejected: the person's reason
	Holds    []SeatHold `json:"holds,omitempty"`
}

// ProposalChange is the data of proposal.changed.
type ProposalChange struct {
	Op         string         `json:"op"`
	ProposalID string         `json:"proposal_id"`
	Locator    string         `json:"locator"`
	Flight     string         `json:"flight"`
	Proposal   *Proposal      `json:"proposal,omitempty"` // planned
	Ranking    *RankingRecord `json:"ranking,omitempty"`  // ranked
	Reason     string         `json:"reason,omitempty"`   // expired
	At         time.Time      `json:"at"`
	Outcome    *Outcome       `json:"outcome,omitempty"` // decided
	Command    uint64         `json:"command,omitempty"` // replanned: the command whose failure was planned again
	NewID      string         `json:"new_id,omitempty"`  // replanned
	Records    TableRows      `json:"records,omitempty"` // restored, adopted
}

// CommandState is what a node's store knows of a command: nil Outcome
// while no engine has decided it.
type CommandState struct {
	Offset     uint64
	Command    ProposalCommand
	Outcome    *Outcome
	Replanned  bool
	NewID      string
	OutcomeOff uint64 // the control offset of the believed outcome
}

// proposalKey is the control topic key of a booking's proposal changes:
// a locator cannot be mistaken for a user name or a token hash.
func proposalKey(locator string) string { return "proposal-" + locator }

// NewProposalChange builds a proposal.changed event of source under the
// booking's control topic key; id must be unique per change.
func NewProposalChange(id, source string, at time.Time, ch ProposalChange) (*Event, error) {
	return NewEvent(id, source, TypeProposalChanged, proposalKey(ch.Locator), at, ch)
}

// newProposalChange builds a proposal.changed event; id must be unique
// per change (the log de-duplicates by it).
func newProposalChange(id string, at time.Time, ch ProposalChange) (*Event, error) {
	return NewEvent(id, "apron/proposer", TypeProposalChanged, proposalKey(ch.Locator), at, ch)
}

// appendControl appends events to the control topic and waits until this
// node's store has applied the last of them; it returns their offsets.
func (p *Proposer) appendControl(ctx context.Context, evs []*Event) ([]uint64, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	res, err := p.Log.Append(ctx, TopicControl, evs)
	if err != nil {
		return nil, fmt.Errorf("append %d proposal change(s): %w", len(evs), err)
	}
	offs := make([]uint64, len(res))
	var last uint64
	for i, r := range res {
		offs[i] = r.Offset
		last = max(last, r.Offset)
	}
	if err := WaitForPosition(ctx, p.Store, ControlConsumer, TopicControl, last, p.applyTimeout()); err != nil {
		return nil, err
	}
	return offs, nil
}

func (p *Proposer) applyTimeout() time.Duration {
	if p.CommandTimeout > 0 {
		return p.CommandTimeout
	}
	return 10 * time.Second
}

// appendOut appends the events that leave for central (rebookings) and
// the state (bookings), grouped by topic in order.
func (p *Proposer) appendOut(ctx context.Context, evs []*Event) error {
	byTopic := map[string][]*Event{}
	var order []string
	for _, e := range evs {
		t := e.Topic()
		if _, ok := byTopic[t]; !ok {
			order = append(order, t)
		}
		byTopic[t] = append(byTopic[t], e)
	}
	for _, t := range order {
		if _, err := p.Log.Append(ctx, t, byTopic[t]); err != nil {
			return fmt.Errorf("append to %s: %w", t, err)
		}
	}
	return nil
}
