package app

import (
	"encoding/json"
	"sort"
	"time"
)

// Proposal statuses.
const (
	ProposalPending    = "pending"
	ProposalExecuted   = "executed"
	ProposalRejected   = "rejected"
	ProposalFailed     = "failed"
	ProposalSuperseded = "superseded"
	// ProposalExpired: every option stopped being bookable and the
	// re-plan found none; DecisionReason says why.
	ProposalExpired = "expired"
)

// ProposalStatuses lists every status, in the console's order.
var ProposalStatuses = []string{ProposalPending, ProposalExecuted, ProposalFailed, ProposalRejected, ProposalExpired, ProposalSuperseded}

// Proposal is a rebooking offered to staff for one disrupted booking.
type Proposal struct {
	ID             string    `json:"id"`
	Locator        string    `json:"locator"`
	Flight         string    `json:"flight"`
	Reason         string    `json:"reason"`
	Rank           int       `json:"rank"`
	Status         string    `json:"status"`
	Need           Need      `json:"need"`
	Options        []Option  `json:"options"`
	Chosen         string    `json:"chosen"`
	Rationale      string    `json:"rationale"`
	ModelRationale bool      `json:"model_rationale"` // false: "no model rationale", the rule ranking stands
	Citations      []string  `json:"citations"`
	Model          string    `json:"model,omitempty"`
	ModelDigest    string    `json:"model_digest,omitempty"`
	PromptHash     string    `json:"prompt_hash,omitempty"`
	LogOffset      uint64    `json:"log_offset"` // flights offset the proposal was based on
	CreatedAt      time.Time `json:"created_at"`
	DecidedBy      string    `json:"decided_by,omitempty"`
	DecidedAt      time.Time `json:"decided_at,omitzero"`
	DecisionReason string    `json:"decision_reason,omitempty"`
	ReplacedBy     string    `json:"replaced_by,omitempty"`
	// RulesVersion names the rebooking rules it was planned under
	// (RebookRules.Version).
	RulesVersion string `json:"rules_version"`
	// ApprovedOption is the option a person approved, and Proposed
	// whether it was the chosen one.
	ApprovedOption string `json:"approved_option,omitempty"`
	Proposed       bool   `json:"approved_proposed,omitempty"`
	// ControlOffset is the control topic entry that offered it (the
	// store's, not part of the proposal's record on the log).
	ControlOffset uint64 `json:"-"`
}

// MarshalJSON writes empty lists as [], never null.
func (p Proposal) MarshalJSON() ([]byte, error) {
	type plain Proposal
	v := plain(p)
	v.Options, v.Citations = nonNil(v.Options), nonNil(v.Citations)
	return json.Marshal(v)
}

// ChosenOption returns the chosen option, or nil.
func (p *Proposal) ChosenOption() *Option {
	for i := range p.Options {
		if p.Options[i].ID == p.Chosen {
			return &p.Options[i]
		}
	}
	return nil
}

// ProposalFilter selects proposals; empty fields match all.
type ProposalFilter struct {
	Flight string
	Status string
	Limit  int
	After  *ProposalCursor // only proposals after this position (a page's cursor)
}

// Execution is the booking engine's answer to an approval.
type Execution struct {
	ProposalID string `json:"proposal_id"`
	Outcome    string `json:"outcome"` // executed or failed
	Detail     string `json:"detail"`
	Repeated   bool   `json:"repeated,omitempty"` // the same idempotency key was seen before: nothing changed
	Option     string `json:"option"`             // the option approved
	Proposed   bool   `json:"proposed"`           // whether it was the proposal's chosen option
	NewID      string `json:"new_proposal_id,omitempty"`
}

// RebookingData is the data of rebooking.* events.
type RebookingData struct {
	ProposalID  string   `json:"proposal_id"`
	Locator     string   `json:"locator"`
	PassengerID string   `json:"passenger_id,omitempty"`
	FromFlight  string   `json:"from_flight"`
	ToFlights   []string `json:"to_flights,omitempty"`
	Actor       string   `json:"actor,omitempty"`
	Reason      string   `json:"reason,omitempty"`
	Rationale   string   `json:"rationale,omitempty"`
	Citations   []string `json:"citations,omitempty"`
	LogOffset   uint64   `json:"log_offset,omitempty"`
	Option      string   `json:"option,omitempty"`   // the option approved
	Proposed    *bool    `json:"proposed,omitempty"` // whether it was the proposed one
	Rules       string   `json:"rules,omitempty"`    // RebookRules.Version planned under
}

// OutboxItem is an event queued by a transaction for publication.
type OutboxItem struct {
	Seq   int64
	Topic string
	Event []byte
}

// Due is when a proposal must be decided by: the departure of its
// earliest option, or for one without options the earliest time its
// passengers could have left.
func (p *Proposal) Due() time.Time {
	var due time.Time
	for _, o := range p.Options {
		if due.IsZero() || o.Depart.Before(due) {
			due = o.Depart
		}
	}
	if due.IsZero() {
		return p.Need.Earliest
	}
	return due
}

// SortByUrgency orders proposals by Due, earliest first, then by their
// rank under the priority rules.
func SortByUrgency(ps []*Proposal) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Due(), ps[j].Due()
		if !a.Equal(b) {
			return a.Before(b)
		}
		if ps[i].Rank != ps[j].Rank {
			return ps[i].Rank < ps[j].Rank
		}
		return ps[i].ID < ps[j].ID
	})
}
