package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
// later than Latest, in Cabin. Replace lists the booked flights from the
// disruption to the end of the journey, in order: an option replaces all
// of them, or only those before the booked onward flights it connects
// into (see Options).
type Need struct {
	Locator      string    `json:"locator"`
	PassengerIDs []string  `json:"passenger_ids"`
	Pax          int       `json:"pax"`
	Origin       string    `json:"origin"`
	Destination  string    `json:"destination"`
	Earliest     time.Time `json:"earliest"`
	Latest       time.Time `json:"latest"`
	Cabin        string    `json:"cabin"`
	Replace      []string  `json:"replace"`
	Reason       string    `json:"reason"`
	Disrupted    string    `json:"disrupted"` // the flight that caused it
	Priority     Priority  `json:"priority"`
	WCHR         bool      `json:"wchr"`
}

// legacyNeed is Need as proposals stored it before its fields had JSON
// names (Go field names as keys).
type legacyNeed struct {
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
	Disrupted    string
	Priority     legacyPriority
	WCHR         bool
}

type legacyPriority struct {
	SSR            int
	Tier           int
	Onward         int
	OriginalArrive time.Time
}

// UnmarshalJSON reads a need in the snake_case form, or as proposals
// stored it before (Go field names).
func (n *Need) UnmarshalJSON(b []byte) error {
	var old legacyNeed
	if err := json.Unmarshal(b, &old); err != nil {
		return err
	}
	type plain Need
	v := plain{Locator: old.Locator, PassengerIDs: old.PassengerIDs, Pax: old.Pax, Origin: old.Origin, Destination: old.Destination,
		Earliest: old.Earliest, Latest: old.Latest, Cabin: old.Cabin, Replace: old.Replace, Reason: old.Reason, Disrupted: old.Disrupted,
		Priority: Priority(old.Priority), WCHR: old.WCHR}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*n = Need(v)
	return nil
}

// MarshalJSON writes empty lists as [], never null.
func (n Need) MarshalJSON() ([]byte, error) {
	type plain Need
	v := plain(n)
	v.PassengerIDs, v.Replace = nonNil(v.PassengerIDs), nonNil(v.Replace)
	return json.Marshal(v)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Priority orders disrupted bookings: special service requests first
// (unaccompanied minors, then wheelchairs, then other assistance), then the
// highest status tier, then onward connections, then the original arrival
// (earlier first). See docs/decisions/0005-rebooking-options.md.
type Priority struct {
	SSR            int       `json:"ssr"`
	Tier           int       `json:"tier"`
	Onward         int       `json:"onward"`
	OriginalArrive time.Time `json:"original_arrive"`
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

// Option is one valid way to get a need to its destination: new flights
// (Flights, in Cabin) to the final destination, or to the airport where
// the booked onward flights it keeps (Keeps) leave. Replaces lists the
// booked flights it replaces. Arrive is the arrival at the final
// destination, by the last kept flight when it keeps any.
type Option struct {
	ID          string       `json:"id"`
	Flights     []string     `json:"flights"`
	Cabin       string       `json:"cabin"`
	Depart      time.Time    `json:"depart"`
	Arrive      time.Time    `json:"arrive"`
	Stops       int          `json:"stops"`
	Via         string       `json:"via,omitempty"`
	Keeps       []string     `json:"keeps"`
	Replaces    []string     `json:"replaces"`
	Rejoin      string       `json:"rejoin,omitempty"` // where the kept flights leave
	Changes     int          `json:"changes"`          // changes of aircraft to the final destination
	Connections []Connection `json:"connections"`
}

// Connection is one change of aircraft an option makes: the time between
// arriving at Airport and the next departure, and the minimum it needs.
type Connection struct {
	Airport    string `json:"airport"`
	Minutes    int    `json:"minutes"`
	MinMinutes int    `json:"min_minutes"`
	Kept       bool   `json:"kept,omitempty"` // into a booked onward flight
}

// MarshalJSON writes empty lists as [], never null.
func (o Option) MarshalJSON() ([]byte, error) {
	type plain Option
	v := plain(o)
	v.Flights, v.Keeps, v.Replaces, v.Connections = nonNil(v.Flights), nonNil(v.Keeps), nonNil(v.Replaces), nonNil(v.Connections)
	return json.Marshal(v)
}

// replaced returns the booked flights option o replaces; options stored
// before Replaces existed replace the whole need.
func (o *Option) replaced(n Need) []string {
	if o.Replaces == nil && o.Keeps == nil {
		return n.Replace
	}
	return o.Replaces
}

// RebookRules are the knobs of option generation. They come from the
// configuration (node.Config.Rebooking); Version names them on each
// proposal.
type RebookRules struct {
	// MinConnection is the minimum connection time per airport; DefaultMCT
	// applies elsewhere. WCHRExtra is added for wheelchair passengers,
	// unless MinConnectionWCHR gives an airport's own wheelchair minimum.
	MinConnection     map[string]time.Duration `json:"mct_by_airport,omitempty"`
	MinConnectionWCHR map[string]time.Duration `json:"mct_wchr_by_airport,omitempty"`
	DefaultMCT        time.Duration            `json:"mct"`
	WCHRExtra         time.Duration            `json:"wchr_extra"`
	MaxConnection     time.Duration            `json:"max_connection"` // longest acceptable wait between two new flights
	Window            time.Duration            `json:"window"`         // how far after Earliest an option may leave
	Lead              time.Duration            `json:"lead"`           // an option leaves at least this long after planning
	// BoardingMargin is how long before departure boarding closes: a
	// flight is no longer bookable after that.
	BoardingMargin time.Duration `json:"boarding_margin"`
	// CabinSubstitution allows another cabin when the booked one is full.
	CabinSubstitution bool `json:"cabin_substitution"`
}

// DefaultRebookRules follow the simulated site's policy documents.
func DefaultRebookRules() RebookRules {
	return RebookRules{DefaultMCT: 60 * time.Minute, WCHRExtra: 30 * time.Minute, MaxConnection: 6 * time.Hour, Window: 24 * time.Hour,
		Lead: 30 * time.Minute, BoardingMargin: 20 * time.Minute}
}

// Version is a short hash of the rules, stamped on each proposal so that
// a decision can be traced to the rules it was planned under.
func (r RebookRules) Version() string {
	b, _ := json.Marshal(r) // map keys are sorted: the same rules give the same hash
	h := sha256.Sum256(b)
	return "r-" + hex.EncodeToString(h[:6])
}

// MCT returns the minimum connection time at airport for a need.
func (r RebookRules) MCT(airport string, wchr bool) time.Duration {
	if wchr {
		if d, ok := r.MinConnectionWCHR[airport]; ok {
			return d
		}
	}
	d, ok := r.MinConnection[airport]
	if !ok {
		d = r.DefaultMCT
	}
	if wchr {
		d += r.WCHRExtra
	}
	return d
}

// Validate reports the first rule that cannot work, naming its
// configuration field. Returns EINVALID.
func (r RebookRules) Validate() error {
	pos := func(name string, d time.Duration) error {
		if d <= 0 {
			return Errorf(EINVALID, "rebooking.%s: must be positive, got %s", name, d)
		}
		return nil
	}
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"mct", r.DefaultMCT}, {"max_connection", r.MaxConnection}, {"window", r.Window}} {
		if err := pos(c.name, c.d); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name string
		d    time.Duration
	}{{"wchr_extra", r.WCHRExtra}, {"lead", r.Lead}, {"boarding_margin", r.BoardingMargin}} {
		if c.d < 0 {
			return Errorf(EINVALID, "rebooking.%s: must not be negative, got %s", c.name, c.d)
		}
	}
	for _, m := range []struct {
		name string
		by   map[string]time.Duration
	}{{"mct_by_airport", r.MinConnection}, {"mct_wchr_by_airport", r.MinConnectionWCHR}} {
		for a, d := range m.by {
			if len(a) != 3 || strings.ToUpper(a) != a {
				return Errorf(EINVALID, "rebooking.%s: %q is not a three-letter IATA code in capitals", m.name, a)
			}
			if d <= 0 {
				return Errorf(EINVALID, "rebooking.%s.%s: must be positive, got %s", m.name, a, d)
			}
			if d > r.MaxConnection {
				return Errorf(EINVALID, "rebooking.%s.%s: %s is longer than rebooking.max_connection (%s): no connection could be made", m.name, a, d, r.MaxConnection)
			}
		}
	}
	if r.DefaultMCT > r.MaxConnection {
		return Errorf(EINVALID, "rebooking.mct: %s is longer than rebooking.max_connection (%s)", r.DefaultMCT, r.MaxConnection)
	}
	return nil
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
		if lead := now.Add(max(rules.Lead, rules.BoardingMargin)); n.Earliest.Before(lead) {
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

// operating reports whether a booked flight still flies as booked.
func operating(f *Flight) bool {
	return f != nil && f.Status != FlightCancelled && f.Status != FlightDiverted
}

// rejoin is a place where an option may end: the final destination, or
// the origin of a booked onward flight that is kept with those after it.
type rejoin struct {
	airport  string
	keeps    []string
	replaces []string
	onward   *Flight   // the first kept flight; nil for the final destination
	arrive   time.Time // at the final destination, by the kept flights
}

// rejoins lists where the options of n may end, among flights by key: the
// destination, and the origin of each booked flight of n.Replace that
// still operates, with all after it, and does not leave from where the
// passengers are or from the final destination.
func rejoins(n Need, byKey map[string]*Flight) []rejoin {
	out := []rejoin{{airport: n.Destination, keeps: []string{}, replaces: n.Replace}}
	for k, key := range n.Replace {
		f := byKey[key]
		if f == nil || f.Origin == n.Origin || f.Origin == n.Destination {
			continue
		}
		all := true
		for _, rest := range n.Replace[k:] {
			all = all && operating(byKey[rest])
		}
		if !all {
			continue
		}
		last := byKey[n.Replace[len(n.Replace)-1]]
		out = append(out, rejoin{airport: f.Origin, keeps: n.Replace[k:], replaces: n.Replace[:k], onward: f, arrive: last.Arrival()})
	}
	return out
}

// Options returns every valid option for n among flights, best first.
// An option is one or two new flights from n.Origin either to
// n.Destination, replacing all of n.Replace, or to the airport a booked
// flight of n.Replace leaves from, arriving at least the minimum
// connection time there before it, and keeping it and the booked flights
// after it (they must all still operate). Every new flight can still be
// booked, leaves between n.Earliest and n.Latest, has n.Pax seats left in
// n.Cabin (or, with CabinSubstitution, in another cabin that all its
// flights have) and is none of n.Replace; a connection between two new
// flights is at least the minimum connection time and at most
// MaxConnection. The order (decision 0005): keeping more of the booked
// itinerary, then the earliest arrival at the final destination, then
// fewer changes, then the earliest departure.
func Options(n Need, flights []*Flight, seats SeatsLeft, rules RebookRules) []Option {
	return newFlightIndex(flights).options(n, seats, rules)
}

// flightIndex is the flights options are built from, by origin (in the
// order given) and by key; PlanAll builds it once for all its needs.
type flightIndex struct {
	byOrigin map[string][]*Flight
	byKey    map[string]*Flight
}

func newFlightIndex(flights []*Flight) *flightIndex {
	x := &flightIndex{byOrigin: map[string][]*Flight{}, byKey: make(map[string]*Flight, len(flights))}
	for _, f := range flights {
		x.byOrigin[f.Origin] = append(x.byOrigin[f.Origin], f)
		x.byKey[f.Flight] = f
	}
	return x
}

func (x *flightIndex) options(n Need, seats SeatsLeft, rules RebookRules) []Option {
	usable := func(f *Flight) bool {
		return bookable(f) && !f.Departure().Before(n.Earliest) && !f.Departure().After(n.Latest) && !slices.Contains(n.Replace, f.Flight)
	}
	byOrigin := x.byOrigin
	ends := rejoins(n, x.byKey)
	var out []Option
	add := func(path ...*Flight) {
		cabin := pathCabin(n, path, seats, rules)
		if cabin == "" {
			return
		}
		last := path[len(path)-1]
		for _, e := range ends {
			if e.airport != last.Destination {
				continue
			}
			o := Option{Cabin: cabin, Depart: path[0].Departure(), Arrive: last.Arrival(), Stops: len(path) - 1,
				Keeps: e.keeps, Replaces: e.replaces, Connections: []Connection{}}
			for i, f := range path {
				o.Flights = append(o.Flights, f.Flight)
				if i > 0 {
					o.Via = path[i-1].Destination
					o.Connections = append(o.Connections, connection(path[i-1], f, rules.MCT(f.Origin, n.WCHR), false))
				}
			}
			if e.onward != nil {
				mct := rules.MCT(e.airport, n.WCHR)
				if last.Arrival().Add(mct).After(e.onward.Departure()) {
					continue
				}
				o.Rejoin, o.Arrive = e.airport, e.arrive
				o.Connections = append(o.Connections, connection(last, e.onward, mct, true))
			}
			o.Changes = len(o.Flights) + len(o.Keeps) - 1
			out = append(out, o)
		}
	}
	for _, f1 := range byOrigin[n.Origin] {
		if !usable(f1) {
			continue
		}
		add(f1)
		if f1.Destination == n.Destination || f1.Destination == n.Origin {
			continue
		}
		mct := rules.MCT(f1.Destination, n.WCHR)
		for _, f2 := range byOrigin[f1.Destination] {
			if f2.Destination == n.Origin || !usable(f2) {
				continue
			}
			gap := f2.Departure().Sub(f1.Arrival())
			if gap < mct || gap > rules.MaxConnection {
				continue
			}
			add(f1, f2)
		}
	}
	SortOptions(out)
	for i := range out {
		out[i].ID = fmt.Sprintf("opt-%d", i+1)
	}
	return out
}

// SortOptions orders options by preference (decision 0005): more kept
// booked flights, earlier arrival at the final destination, fewer
// changes, earlier departure; the flights break ties.
func SortOptions(out []Option) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if len(a.Keeps) != len(b.Keeps) {
			return len(a.Keeps) > len(b.Keeps)
		}
		if !a.Arrive.Equal(b.Arrive) {
			return a.Arrive.Before(b.Arrive)
		}
		if a.Changes != b.Changes {
			return a.Changes < b.Changes
		}
		if !a.Depart.Equal(b.Depart) {
			return a.Depart.Before(b.Depart)
		}
		return strings.Join(a.Flights, ",") < strings.Join(b.Flights, ",")
	})
}

func connection(in, out *Flight, mct time.Duration, kept bool) Connection {
	return Connection{Airport: out.Origin, Minutes: int(out.Departure().Sub(in.Arrival()).Minutes()), MinMinutes: int(mct.Minutes()), Kept: kept}
}

// pathCabin returns the cabin the passengers of n can travel in on every
// flight of path: the booked one, or with CabinSubstitution the first
// other cabin (by name) all flights have seats in; "" when none.
func pathCabin(n Need, path []*Flight, seats SeatsLeft, rules RebookRules) string {
	fits := func(c string) bool {
		for _, f := range path {
			if seats(f.Flight, c) < n.Pax {
				return false
			}
		}
		return true
	}
	if fits(n.Cabin) {
		return n.Cabin
	}
	if !rules.CabinSubstitution {
		return ""
	}
	var cabins []string
	for c := range path[0].Capacity {
		if c != n.Cabin {
			cabins = append(cabins, c)
		}
	}
	sort.Strings(cabins)
	for _, c := range cabins {
		if fits(c) {
			return c
		}
	}
	return ""
}

// OptionObstacle says why option o of need n can no longer be booked at
// now, or "" if it still can, by everything but seats (the booking engine
// counts those in its transaction): each new flight is still in the
// schedule, not cancelled, diverted or gone, and its boarding has not
// closed (BoardingMargin before departure); connections between new
// flights still hold; and the kept onward flights still operate and are
// still reached in time. flight returns a flight's current record or nil.
func OptionObstacle(n Need, o Option, flight func(key string) *Flight, rules RebookRules, now time.Time) string {
	var prev *Flight
	for _, key := range o.Flights {
		f := flight(key)
		switch {
		case f == nil:
			return fmt.Sprintf("%s is no longer in the schedule", flightNumber(key))
		case f.Status == FlightCancelled:
			return fmt.Sprintf("%s has been cancelled", flightNumber(key))
		case f.Status == FlightDiverted:
			return fmt.Sprintf("%s has been diverted", flightNumber(key))
		case f.Status == FlightDeparted || f.Status == FlightArrived:
			return fmt.Sprintf("%s has departed", flightNumber(key))
		case f.Status == FlightBoarding:
			return fmt.Sprintf("%s is boarding: it takes no more passengers", flightNumber(key))
		case now.After(f.Departure().Add(-rules.BoardingMargin)):
			return fmt.Sprintf("boarding of %s closed at %s, %s before its departure at %s", flightNumber(key),
				f.Departure().Add(-rules.BoardingMargin).Format("15:04"), rules.BoardingMargin, f.Departure().Format("15:04"))
		}
		if prev != nil {
			gap, mct := f.Departure().Sub(prev.Arrival()), rules.MCT(f.Origin, n.WCHR)
			if gap < mct {
				return fmt.Sprintf("the connection from %s to %s at %s is now %s, below the minimum of %s", flightNumber(prev.Flight), flightNumber(key), f.Origin, gap, mct)
			}
			if gap > rules.MaxConnection {
				return fmt.Sprintf("the connection from %s to %s at %s is now %s, above the maximum of %s", flightNumber(prev.Flight), flightNumber(key), f.Origin, gap, rules.MaxConnection)
			}
		}
		prev = f
	}
	for i, key := range o.Keeps {
		f := flight(key)
		if !operating(f) {
			return fmt.Sprintf("the booked onward flight %s no longer operates", flightNumber(key))
		}
		if i == 0 && prev != nil {
			gap, mct := f.Departure().Sub(prev.Arrival()), rules.MCT(f.Origin, n.WCHR)
			if gap < mct {
				return fmt.Sprintf("the connection from %s into the booked %s at %s is now %s, below the minimum of %s", flightNumber(prev.Flight), flightNumber(key), f.Origin, gap, mct)
			}
		}
	}
	return ""
}

// NoOptionCause says why Options found nothing for n: no seats, no flight
// within the rebooking window, connection times, or no route at all.
func NoOptionCause(n Need, flights []*Flight, seats SeatsLeft, rules RebookRules) string {
	all := func(string, string) int { return n.Pax }
	if len(Options(n, flights, all, rules)) > 0 {
		return fmt.Sprintf("No valid alternative with %d seat(s) left in cabin %s: every flight that would do is full", n.Pax, n.Cabin)
	}
	wide := n
	wide.Latest = n.Earliest.Add(3 * rules.Window)
	if opts := Options(wide, flights, seats, rules); len(opts) > 0 {
		return fmt.Sprintf("No valid alternative within the rebooking window (%s): the first one leaves %s", rules.Window, opts[0].Depart.Format("Mon 02 Jan 15:04"))
	}
	loose := rules
	loose.DefaultMCT, loose.WCHRExtra, loose.MinConnection, loose.MinConnectionWCHR, loose.MaxConnection = 0, 0, nil, nil, 48*time.Hour
	if len(Options(wide, flights, all, loose)) > 0 {
		return "No valid alternative: the connections that exist are shorter than the minimum connection time or longer than the maximum"
	}
	return fmt.Sprintf("No flight or one-stop connection from %s to %s (or to a booked onward flight) in the schedule", n.Origin, n.Destination)
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
	type seat struct{ flight, cabin string }
	held := map[seat]int{}
	left := func(flight, cabin string) int { return seats(flight, cabin) - held[seat{flight, cabin}] }
	plans := make([]Plan, 0, len(sorted))
	idx := newFlightIndex(flights)
	for _, n := range sorted {
		opts := idx.options(n, left, rules)
		if len(opts) > 0 {
			for _, f := range opts[0].Flights {
				held[seat{f, opts[0].Cabin}] += n.Pax
			}
		}
		plans = append(plans, Plan{Need: n, Options: opts})
	}
	return plans
}

// RuleLine is one rule in force, by its configuration field.
type RuleLine struct {
	Field string
	Value string
}

// Lines lists the rules in force by configuration field, for the admin
// page.
func (r RebookRules) Lines() []RuleLine {
	byAirport := func(m map[string]time.Duration) string {
		if len(m) == 0 {
			return "none"
		}
		keys := make([]string, 0, len(m))
		for a := range m {
			keys = append(keys, a)
		}
		sort.Strings(keys)
		var parts []string
		for _, a := range keys {
			parts = append(parts, a+" "+m[a].String())
		}
		return strings.Join(parts, ", ")
	}
	return []RuleLine{
		{"rebooking.mct", r.DefaultMCT.String()},
		{"rebooking.mct_by_airport", byAirport(r.MinConnection)},
		{"rebooking.wchr_extra", r.WCHRExtra.String()},
		{"rebooking.mct_wchr_by_airport", byAirport(r.MinConnectionWCHR)},
		{"rebooking.max_connection", r.MaxConnection.String()},
		{"rebooking.window", r.Window.String()},
		{"rebooking.lead", r.Lead.String()},
		{"rebooking.boarding_margin", r.BoardingMargin.String()},
		{"rebooking.cabin_substitution", fmt.Sprint(r.CabinSubstitution)},
		{"version", r.Version()},
	}
}
