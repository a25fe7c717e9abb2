package app

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ProposalReview is what a person needs to decide a proposal: who travels,
// the booked journey with its onward connections, and each option as it
// stands now (seats left, whether it can still be booked and why not).
type ProposalReview struct {
	Proposal   *Proposal
	Passengers []BookingPassenger
	Journey    []JourneyLeg
	Options    []OptionReview
	// CanApprove: the proposal is pending and at least one option can
	// still be booked.
	CanApprove bool
	Now        time.Time
	Rules      RebookRules
}

// JourneyLeg is one booked flight of the booking as it stands.
type JourneyLeg struct {
	Flight      string
	Origin      string
	Destination string
	Depart      time.Time
	Arrive      time.Time
	Status      string
	Replaced    bool // the proposal replaces it in every option
	Kept        bool // an option keeps it
}

// OptionReview is an option with the seats left on its fullest flight
// and, when it can no longer be booked, why (Obstacle).
type OptionReview struct {
	Option
	SeatsLeft int
	Obstacle  string
}

// Review reads a proposal with its booking, flights and seats as they
// are now. Returns ENOTFOUND for an unknown proposal.
func (p *Proposer) Review(ctx context.Context, id string) (*ProposalReview, error) {
	pr, err := p.Store.Proposal(ctx, id)
	if err != nil {
		return nil, err
	}
	now := p.Now()
	look := p.flightLookup(ctx)
	r := &ProposalReview{Proposal: pr, Now: now, Rules: p.Rules, Passengers: []BookingPassenger{}, Journey: []JourneyLeg{}, Options: []OptionReview{}}
	kept := map[string]bool{}
	for _, o := range pr.Options {
		for _, k := range o.Keeps {
			kept[k] = true
		}
	}
	if b, err := p.Store.Booking(ctx, pr.Locator); err == nil {
		r.Passengers = b.Passengers
		for _, sg := range b.Segments {
			leg := JourneyLeg{Flight: sg.Flight, Replaced: slices.Contains(pr.Need.Replace, sg.Flight) && !kept[sg.Flight], Kept: kept[sg.Flight]}
			if f := look(sg.Flight); f != nil {
				leg.Origin, leg.Destination, leg.Depart, leg.Arrive, leg.Status = f.Origin, f.Destination, f.Departure(), f.Arrival(), f.Status
			}
			r.Journey = append(r.Journey, leg)
		}
	} else if ErrorCode(err) != ENOTFOUND {
		return nil, err
	}
	for _, o := range pr.Options {
		or := OptionReview{Option: o, SeatsLeft: -1}
		for _, fk := range o.Flights {
			left, err := p.Store.SeatsLeft(ctx, fk, o.Cabin)
			if err != nil {
				return nil, err
			}
			if or.SeatsLeft < 0 || left < or.SeatsLeft {
				or.SeatsLeft = left
			}
		}
		or.SeatsLeft = max(or.SeatsLeft, 0)
		or.Obstacle = OptionObstacle(pr.Need, o, look, p.Rules, now)
		if or.Obstacle == "" && or.SeatsLeft < pr.Need.Pax {
			or.Obstacle = fmt.Sprintf("only %d seat(s) left for %d passenger(s)", or.SeatsLeft, pr.Need.Pax)
		}
		r.CanApprove = r.CanApprove || (or.Obstacle == "" && pr.Status == ProposalPending)
		r.Options = append(r.Options, or)
	}
	return r, nil
}
