package app

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Disruption reasons.
const (
	ReasonCancelled  = "cancelled"
	ReasonDiverted   = "diverted"
	ReasonMisconnect = "misconnect"
)

// Need is what one disrupted booking must be given: a way from Origin to
// Destination for its travellers, leaving no earlier than Earliest and no
// later than Latest, in Cabin. Replace lists the booked flights it replaces.
type Need struct {
	Locator      string
	PassengerIDs []string
	Pax          int
	Origin       string
	Destination  string
	Earliest     time.Time
	Latest       time.Time
	Cabin        string
	Replace      []string
	Reason       string
	Disrupted    string // the flight that caused it
	Priority     Priority
	WCHR         bool
}

// Priority orders disrupted bookings: special service requests first
// (unaccompanied minors, then wheelchairs, then other assistance), then the
// highest status tier, then onward connections, then the original arrival
// (earlier first). See docs/decisions/0005-rebooking-options.md.
type Priority struct {
	SSR            int
	Tier           int
	Onward         int
	OriginalArrive time.Time
}

// Before reports whether p goes before q.
func (p Priority) Before(q Priority) bool {
	if p.SSR != q.SSR {
		return p.SSR > q.SSR
	}
	if p.Tier != q.Tier {
		return p.Tier > q.Tier
	}
	if p.Onward != q.Onward {
		return p.Onward > q.Onward
	}
	return p.OriginalArrive.Before(q.OriginalArrive)
}

var ssrRank = map[string]int{"UMNR": 3, "WCHR": 2, "WCHS": 2, "WCHC": 2, "BLND": 1, "DEAF": 1, "DPNA": 1}
var tierRank = map[string]int{"platinum": 3, "gold": 2, "silver": 1}

// Option is one valid way to get a need to its destination.
type Option struct {
	ID      string    `json:"id"`
	Flights []string  `json:"flights"`
	Cabin   string    `json:"cabin"`
	Depart  time.Time `json:"depart"`
	Arrive  time.Time `json:"arrive"`
	Stops   int       `json:"stops"`
	Via     string    `json:"via,omitempty"`
}

// RebookRules are the knobs of option generation.
type RebookRules struct {
	// MinConnection is the minimum connection time per airport; Default
	// applies elsewhere. WCHRExtra is added for wheelchair passengers.
	MinConnection map[string]time.Duration
	DefaultMCT    time.Duration
	WCHRExtra     time.Duration
	MaxConnection time.Duration // longest acceptable wait between two flights
	Window        time.Duration // how far after Earliest an option may leave
	Lead          time.Duration // an option leaves at least this long after now
}

// DefaultRebookRules follow the simulated site's policy documents.
func DefaultRebookRules() RebookRules {
	return RebookRules{DefaultMCT: 60 * time.Minute, WCHRExtra: 30 * time.Minute, MaxConnection: 6 * time.Hour, Window: 24 * time.Hour, Lead: 30 * time.Minute}
}

// MCT returns the minimum connection time at airport for a need.
func (r RebookRules) MCT(airport string, wchr bool) time.Duration {
	d, ok := r.MinConnection[airport]
	if !ok {
		d = r.DefaultMCT
	}
	if wchr {
		d += r.WCHRExtra
	}
	return d
}

// bookable reports whether passengers can still be put on f.
func bookable(f *Flight) bool {
	switch f.Status {
	case FlightCancelled, FlightDiverted, FlightDeparted, FlightArrived, FlightBoarding:
		return false
	}
	return true
}

// NeedFor works out whether booking b is disrupted, and what it needs. A
// booking is disrupted when one of its flights is cancelled or diverted, or
// when a delay leaves less than the minimum connection time before its next
// flight. flights must hold every flight of the booking.
func NeedFor(b *Booking, flights map[string]*Flight, rules RebookRules, now time.Time) (Need, bool) {
	if b.Status != BookingActive || len(b.Segments) == 0 {
		return Need{}, false
	}
	var n Need
	last := flights[b.Segments[len(b.Segments)-1].Flight]
	if last == nil {
		return Need{}, false
	}
	for _, p := range b.Passengers {
		n.PassengerIDs = append(n.PassengerIDs, p.ID)
		for _, s := range p.SSR {
			n.Priority.SSR = max(n.Priority.SSR, ssrRank[s])
			if strings.HasPrefix(s, "WCH") {
				n.WCHR = true
			}
		}
		n.Priority.Tier = max(n.Priority.Tier, tierRank[p.Tier])
	}
	n.Locator, n.Pax, n.Destination = b.Locator, len(b.Passengers), last.Destination
	n.Priority.OriginalArrive = last.ScheduledArrival
	for i, sg := range b.Segments {
		f := flights[sg.Flight]
		if f == nil {
			continue
		}
		n.Cabin = sg.Cabin
		n.Priority.Onward = len(b.Segments) - 1 - i
		switch {
		case f.Status == FlightCancelled:
			n.Reason, n.Disrupted, n.Origin = ReasonCancelled, f.Flight, f.Origin
			n.Earliest = f.ScheduledDeparture
			n.Replace = segmentFlights(b.Segments[i:])
		case f.Status == FlightDiverted && f.DivertedTo != "":
			n.Reason, n.Disrupted, n.Origin = ReasonDiverted, f.Flight, f.DivertedTo
			n.Earliest = f.Arrival().Add(rules.MCT(f.DivertedTo, n.WCHR))
			n.Replace = segmentFlights(b.Segments[i+1:])
			n.Priority.Onward = len(b.Segments) - 1 - i
		case i+1 < len(b.Segments):
			next := flights[b.Segments[i+1].Flight]
			if next == nil || next.Status == FlightCancelled {
				continue
			}
			ready := f.Arrival().Add(rules.MCT(next.Origin, n.WCHR))
			if !ready.After(next.Departure()) {
				continue
			}
			n.Reason, n.Disrupted, n.Origin = ReasonMisconnect, f.Flight, next.Origin
			n.Earliest = ready
			n.Replace = segmentFlights(b.Segments[i+1:])
			n.Priority.Onward = len(b.Segments) - 2 - i
		default:
			continue
		}
		if n.Origin == n.Destination {
			return Need{}, false // a diversion to the destination itself
		}
		if lead := now.Add(rules.Lead); n.Earliest.Before(lead) {
			n.Earliest = lead
		}
		n.Latest = n.Earliest.Add(rules.Window)
		return n, true
	}
	return Need{}, false
}

func segmentFlights(segs []Segment) []string {
	out := make([]string, len(segs))
	for i, s := range segs {
		out[i] = s.Flight
	}
	return out
}

// SeatsLeft reports free seats of a flight's cabin.
type SeatsLeft func(flight, cabin string) int

// Options returns every valid option for n among flights, direct or with
// one stop, best first: earliest arrival, then fewer stops, then earliest
// departure. An option is valid when every flight can still be booked,
// leaves between n.Earliest and n.Latest, has n.Pax seats left in n.Cabin,
// is not one of the flights being replaced, and any connection is at least
// the minimum connection time and at most MaxConnection.
func Options(n Need, flights []*Flight, seats SeatsLeft, rules RebookRules) []Option {
	usable := func(f *Flight) bool {
		return bookable(f) && !f.Departure().Before(n.Earliest) && !f.Departure().After(n.Latest) &&
			!slices.Contains(n.Replace, f.Flight) && seats(f.Flight, n.Cabin) >= n.Pax
	}
	byOrigin := map[string][]*Flight{}
	for _, f := range flights {
		byOrigin[f.Origin] = append(byOrigin[f.Origin], f)
	}
	var out []Option
	for _, f1 := range byOrigin[n.Origin] {
		if !usable(f1) {
			continue
		}
		if f1.Destination == n.Destination {
			out = append(out, Option{Flights: []string{f1.Flight}, Cabin: n.Cabin, Depart: f1.Departure(), Arrive: f1.Arrival()})
			continue
		}
		if f1.Destination == n.Origin {
			continue
		}
		mct := rules.MCT(f1.Destination, n.WCHR)
		for _, f2 := range byOrigin[f1.Destination] {
			if f2.Destination != n.Destination || !usable(f2) {
				continue
			}
			gap := f2.Departure().Sub(f1.Arrival())
			if gap < mct || gap > rules.MaxConnection {
				continue
			}
			out = append(out, Option{Flights: []string{f1.Flight, f2.Flight}, Cabin: n.Cabin, Depart: f1.Departure(), Arrive: f2.Arrival(), Stops: 1, Via: f1.Destination})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.Arrive.Equal(b.Arrive) {
			return a.Arrive.Before(b.Arrive)
		}
		if a.Stops != b.Stops {
			return a.Stops < b.Stops
		}
		if !a.Depart.Equal(b.Depart) {
			return a.Depart.Before(b.Depart)
		}
		return strings.Join(a.Flights, ",") < strings.Join(b.Flights, ",")
	})
	for i := range out {
		out[i].ID = fmt.Sprintf("opt-%d", i+1)
	}
	return out
}

// Plan is the rule-ranked outcome for one need: its options and the seats
// the top option holds for it.
type Plan struct {
	Need    Need
	Options []Option
}

// PlanAll orders needs by priority and gives each its options, holding the
// seats of each need's top option before the next need is served, so that
// several passengers are never offered the same last seat as their first
// choice.
func PlanAll(needs []Need, flights []*Flight, seats SeatsLeft, rules RebookRules) []Plan {
	sorted := slices.Clone(needs)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Priority.Before(sorted[j].Priority) {
			return true
		}
		if sorted[j].Priority.Before(sorted[i].Priority) {
			return false
		}
		return sorted[i].Locator < sorted[j].Locator
	})
	held := map[string]int{}
	left := func(flight, cabin string) int { return seats(flight, cabin) - held[flight+"/"+cabin] }
	plans := make([]Plan, 0, len(sorted))
	for _, n := range sorted {
		opts := Options(n, flights, left, rules)
		if len(opts) > 0 {
			for _, f := range opts[0].Flights {
				held[f+"/"+opts[0].Cabin] += n.Pax
			}
		}
		plans = append(plans, Plan{Need: n, Options: opts})
	}
	return plans
}
