package app

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// FactStore is what the fact answerer reads: the current state.
type FactStore interface {
	Flight(ctx context.Context, key string) (*FlightRecord, error)
	Flights(ctx context.Context, f FlightFilter) ([]*FlightRecord, error)
	Booking(ctx context.Context, locator string) (*BookingRecord, error)
	BookingsOnFlight(ctx context.Context, flightKey string) ([]*BookingRecord, error)
	BookingsOfPassenger(ctx context.Context, id string) ([]*BookingRecord, error)
	FindPassengers(ctx context.Context, q string, limit int) ([]*PassengerRecord, error)
	Proposals(ctx context.Context, f ProposalFilter) ([]*Proposal, error)
}

// Fact is one line of a deterministic answer and the record it comes from.
type Fact struct {
	Text string   `json:"text"`
	Cite Citation `json:"cite"`
}

// Citation names the record a fact or passage comes from and the log
// version the node's state of it reflects.
type Citation struct {
	ID      string `json:"id"`   // entity key: flight key, record locator, document id
	Kind    string `json:"kind"` // flight, booking, passenger, policy, proposal
	Topic   string `json:"topic"`
	Offset  uint64 `json:"offset"`
	EventID string `json:"event_id,omitempty"`
	Heading string `json:"heading,omitempty"` // a document's section
}

// FactAnswer is what the state store says about a question.
type FactAnswer struct {
	Facts []Fact
	// Missing names what the question referred to that does not exist.
	Missing []string
	// Topics are the state topics the facts were drawn from.
	Topics []string
}

// maxListed bounds the passengers or flights a fact answer lists; the
// answer then says how many there are in all.
const maxListed = 25

// Facts answers a structured question from the state store. It returns
// an empty answer (no facts, nothing missing) when the question names
// nothing the store knows; ENOTFOUND is never returned: a flight or a
// booking that does not exist is listed in Missing.
type Facts struct {
	Store FactStore
	Rules RebookRules
	Zone  *time.Location // the site's zone, for "today" and labels
	// Hub is the site's airport: a time window's departures leave from
	// it and its arrivals land there ("" counts every flight).
	Hub string
}

// Answer runs the deterministic tools the question asks for.
func (f *Facts) Answer(ctx context.Context, q Question, now time.Time) (FactAnswer, error) {
	var out FactAnswer
	today := now.In(f.zone()).Format(time.DateOnly)
	q = f.windowTowardSite(q)
	for _, l := range q.Locators {
		b, err := f.Store.Booking(ctx, l.Locator)
		if ErrorCode(err) == ENOTFOUND {
			if l.Sure {
				out.Missing = append(out.Missing, "booking "+l.Locator)
			}
			continue
		} else if err != nil {
			return out, fmt.Errorf("read booking %s: %w", l.Locator, err)
		}
		if err := f.booking(ctx, b, &out); err != nil {
			return out, err
		}
	}
	for _, m := range q.Flights {
		fl, err := f.resolveFlight(ctx, m, today, now)
		if err != nil {
			return out, err
		}
		if fl == nil {
			what := "flight " + m.Designator
			if m.Date != "" {
				what += " on " + m.Date
			}
			out.Missing = append(out.Missing, what)
			continue
		}
		if err := f.flight(ctx, q, fl, &out); err != nil {
			return out, err
		}
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.UnknownPlace != "" {
		// No place of that name: no flight goes there.
		out.Missing = append(out.Missing, "flight "+q.UnknownPlace+" (no airport of that name)")
		return out, nil
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.Full {
		return out, f.full(ctx, q, today, &out)
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.Since != nil {
		return out, f.changes(ctx, q, now, &out)
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.Pick != "" {
		if err := f.pick(ctx, q, now, today, &out); err != nil {
			return out, err
		}
		return out, nil
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.OpenProposals {
		return out, f.openProposals(ctx, &out)
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && (q.RankDelay || q.AverageDelay) {
		return out, f.delays(ctx, q, today, &out)
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.BusyGates {
		return out, f.gates(ctx, q, today, &out)
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && q.NoGate {
		return out, f.noGates(ctx, q, today, &out)
	}
	// Some passengers over a day or a part of it, with their names:
	// "who misconnects this morning", "wheelchair passengers today".
	if len(out.Facts) == 0 && len(out.Missing) == 0 && q.AcrossDay() && q.Gate == "" {
		if err := f.dayPassengers(ctx, q, now, today, &out); err != nil {
			return out, err
		}
	}
	if len(q.Flights) == 0 && len(out.Facts) == 0 && (q.Status != "" || q.Disrupted || q.ListsAirport || q.Window != nil || q.DayFlights || q.Gate != "") {
		if err := f.day(ctx, q, now, today, &out); err != nil {
			return out, err
		}
	}
	if len(out.Facts) == 0 && len(out.Missing) == 0 && len(q.Names) > 0 {
		if err := f.passengers(ctx, q, &out); err != nil {
			return out, err
		}
	}
	if len(out.Facts) == 0 && len(out.Missing) == 0 && q.Surname != "" {
		if err := f.surname(ctx, q, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// changes answers for the flights whose newest event is from q.Since
// on, of the days around today: how many, then each, the latest change
// first, with the time of its change. Its status words, airport or
// place narrow it ("any cancellations in the last hour").
func (f *Facts) changes(ctx context.Context, q Question, now time.Time, out *FactAnswer) error {
	since := *q.Since
	day := now.In(f.zone())
	airport := q.oneAirport()
	var fs []*FlightRecord
	for _, d := range []time.Time{day.AddDate(0, 0, -1), day, day.AddDate(0, 0, 1)} {
		got, err := f.Store.Flights(ctx, FlightFilter{Date: d.Format(time.DateOnly), Status: q.Status, Airport: airport})
		if err != nil {
			return fmt.Errorf("read flights: %w", err)
		}
		fs = append(fs, got...)
	}
	fs, where := routeFlights(fs, q, airport, f.Hub)
	if where == "" && airport != "" {
		where = " at " + airport
	}
	fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool { return r.Version.EventTime.Before(since) })
	slices.SortStableFunc(fs, func(a, b *FlightRecord) int { return b.Version.EventTime.Compare(a.Version.EventTime) })
	status := ""
	if q.Status != "" {
		status = " and now " + q.Status
	}
	out.add(fmt.Sprintf("%s%s changed since %s%s (the newest change to each)", plural(len(fs), "flights"), where, f.clock(since.In(f.zone())), status),
		Citation{ID: "flights:changed", Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)})
	for i, r := range fs {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more flights (listing %d of %d)", len(fs)-maxListed, maxListed, len(fs)), flightCite(r))
			break
		}
		out.add(fmt.Sprintf("%s (changed %s)", f.describeFlight(&r.Flight), r.Version.EventTime.In(f.zone()).Format("15:04")), flightCite(r))
	}
	return nil
}

// full answers for the flights of a day with a cabin that has no seat
// left (or more passengers than seats, when overbooked ones are asked
// for), cancelled ones left out: how many, then each with its seats by
// cabin. The question's airport, place, arrivals or departures narrow it.
func (f *Facts) full(ctx context.Context, q Question, today string, out *FactAnswer) error {
	sc, ok := f.Store.(SeatCounter)
	if !ok {
		return nil
	}
	date, airport := q.dateOr(today), q.oneAirport()
	fs, err := f.Store.Flights(ctx, FlightFilter{Date: date, Airport: airport, Status: q.Status})
	if err != nil {
		return fmt.Errorf("read flights: %w", err)
	}
	fs, where := routeFlights(fs, q, airport, f.Hub)
	if where == "" && airport != "" {
		where = " at " + airport
	}
	fs, where = f.siteWay(fs, q, where)
	type seatsOf struct {
		fl    *FlightRecord
		parts []string
	}
	var found []seatsOf
	over := 0
	for _, fl := range fs {
		if fl.Status == FlightCancelled {
			continue
		}
		parts, full, oversold, err := cabinSeats(ctx, sc, fl)
		if err != nil {
			return err
		}
		if oversold {
			over++
		}
		if oversold || full && !q.Overbooked {
			found = append(found, seatsOf{fl, parts})
		}
	}
	head := fmt.Sprintf("%s on %s%s with a cabin full (%d overbooked)", plural(len(found), "flights"), date, where, over)
	if q.Overbooked {
		head = fmt.Sprintf("%s on %s%s with a cabin overbooked", plural(len(found), "flights"), date, where)
	}
	out.add(head, Citation{ID: "flights:" + date, Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)})
	for i, s := range found {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more flights (listing %d of %d)", len(found)-maxListed, maxListed, len(found)), flightCite(s.fl))
			break
		}
		out.add(f.describeFlight(&s.fl.Flight)+"; seats free by cabin: "+strings.Join(s.parts, ", "), flightCite(s.fl))
	}
	return nil
}

// maxSurname bounds the passengers of one surname read for an answer.
const maxSurname = 1000

// surname answers for the passengers of the surname a question gives
// alone: one of them as a question naming that person would be; more,
// how many, then each with the flights of their bookings, up to
// maxListed. None adds nothing: the word may not have been a name.
func (f *Facts) surname(ctx context.Context, q Question, out *FactAnswer) error {
	found, err := f.Store.FindPassengers(ctx, q.Surname, maxSurname)
	if err != nil {
		return fmt.Errorf("find passengers %q: %w", q.Surname, err)
	}
	var ps []*PassengerRecord
	var newest uint64
	for _, p := range found {
		words := strings.Fields(p.Name)
		if len(words) > 1 && strings.EqualFold(words[len(words)-1], q.Surname) {
			ps = append(ps, p)
			newest = max(newest, p.Version.Offset)
		}
	}
	switch len(ps) {
	case 0:
		return nil
	case 1:
		return f.passengers(ctx, Question{Names: []string{ps[0].Name}}, out)
	}
	head := fmt.Sprintf("%d passengers with the surname %s", len(ps), q.Surname)
	if len(found) == maxSurname {
		head = fmt.Sprintf("At least %d passengers with the surname %s", len(ps), q.Surname)
	}
	out.add(head, Citation{ID: "passengers:" + q.Surname, Kind: "count", Topic: TopicPassengers, Offset: newest})
	for i, p := range ps {
		c := passengerCite(p)
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more (listing %d of %d); ask with a first name for one of them", len(ps)-maxListed, maxListed, len(ps)), c)
			break
		}
		bs, err := f.Store.BookingsOfPassenger(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("read bookings of %s: %w", p.ID, err)
		}
		line := describePassenger(p, len(bs))
		for j, b := range bs {
			var flights []string
			for _, sg := range b.Segments {
				flights = append(flights, sg.Flight)
			}
			line += map[bool]string{true: ": ", false: "; "}[j == 0] + b.Locator + " (" + b.Status
			if len(flights) > 0 {
				line += ", " + strings.Join(flights, ", ")
			}
			line += ")"
		}
		out.add(line, c)
	}
	return nil
}

func (f *Facts) zone() *time.Location {
	if f.Zone == nil {
		return time.UTC
	}
	return f.Zone
}

// resolveFlight finds the flight a mention means: the dated one when a
// date is given, else today's, else the one departing nearest to now.
func (f *Facts) resolveFlight(ctx context.Context, m FlightMention, today string, now time.Time) (*FlightRecord, error) {
	if m.Date != "" {
		r, err := f.Store.Flight(ctx, m.Designator+"-"+m.Date)
		if ErrorCode(err) == ENOTFOUND {
			return nil, nil
		}
		return r, err
	}
	rs, err := f.Store.Flights(ctx, FlightFilter{Designator: m.Designator})
	if err != nil {
		return nil, fmt.Errorf("read flights %s: %w", m.Designator, err)
	}
	var best *FlightRecord
	for _, r := range rs {
		if r.Date == today {
			return r, nil
		}
		if best == nil || absDuration(r.Departure().Sub(now)) < absDuration(best.Departure().Sub(now)) {
			best = r
		}
	}
	return best, nil
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func flightCite(r *FlightRecord) Citation {
	return Citation{ID: FlightKey(r.Carrier, r.Number, r.Date), Kind: KindFlight, Topic: TopicFlights, Offset: r.Version.Offset, EventID: r.Version.EventID}
}

func bookingCite(r *BookingRecord) Citation {
	return Citation{ID: r.Locator, Kind: KindBooking, Topic: TopicBookings, Offset: r.Version.Offset, EventID: r.Version.EventID}
}

func (out *FactAnswer) add(text string, c Citation) {
	out.Facts = append(out.Facts, Fact{Text: text, Cite: c})
	if !slices.Contains(out.Topics, c.Topic) {
		out.Topics = append(out.Topics, c.Topic)
	}
}

// flight answers what is asked of one flight: its status by default, its
// passengers, connections or proposals when the question asks for them.
func (f *Facts) flight(ctx context.Context, q Question, fl *FlightRecord, out *FactAnswer) error {
	out.add(f.describeFlight(&fl.Flight), flightCite(fl))
	if len(q.InSeats) > 0 {
		return f.seatHolders(ctx, q.InSeats, fl, out)
	}
	if q.Seats {
		if err := f.seats(ctx, fl, out); err != nil {
			return err
		}
	}
	if q.Proposal {
		if err := f.proposals(ctx, fl, out); err != nil {
			return err
		}
	}
	if q.People || q.Count && !q.Timing {
		return f.flightPassengers(ctx, q, fl, out)
	}
	return nil
}

// seatHolders says who holds each of seats on a flight: the passengers
// of the active booking whose segment on it has that seat, or that no
// booking has it, with how many of the flight's bookings have a seat at
// all (a booking of several travellers may hold none by number).
func (f *Facts) seatHolders(ctx context.Context, seats []string, fl *FlightRecord, out *FactAnswer) error {
	key := FlightKey(fl.Carrier, fl.Number, fl.Date)
	bs, err := f.Store.BookingsOnFlight(ctx, key)
	if err != nil {
		return fmt.Errorf("read bookings on %s: %w", key, err)
	}
	holders := map[string][]*BookingRecord{}
	active, seated := 0, 0
	for _, b := range bs {
		if b.Status != BookingActive {
			continue
		}
		active++
		if s := segmentOn(&b.Booking, key); s != nil && s.Seat != "" {
			seated++
			seat := strings.ToUpper(s.Seat)
			holders[seat] = append(holders[seat], b)
		}
	}
	des := fl.Carrier + fl.Number
	for _, seat := range seats {
		if len(holders[seat]) == 0 {
			out.add(fmt.Sprintf("Seat %s on %s: no booking holds it; bookings with seat numbers: %d of %d active", seat, des, seated, active), flightCite(fl))
			continue
		}
		for _, b := range holders[seat] {
			for _, p := range b.Passengers {
				out.add(fmt.Sprintf("Seat %s on %s: %s", seat, des, f.describePax(&fl.Flight, paxOnFlight{booking: b, pax: p})), bookingCite(b))
			}
		}
	}
	return nil
}

// segmentOn is b's segment on the flight of key, nil when it has none.
func segmentOn(b *Booking, key string) *Segment {
	for i := range b.Segments {
		if b.Segments[i].Flight == key {
			return &b.Segments[i]
		}
	}
	return nil
}

// seats says how many seats of each cabin of a flight are free, as the
// booking engine counts them (bookings and the holds of executed
// rebookings), when the store can count them.
func (f *Facts) seats(ctx context.Context, fl *FlightRecord, out *FactAnswer) error {
	sc, ok := f.Store.(SeatCounter)
	if !ok {
		return nil
	}
	des := fl.Carrier + fl.Number
	if len(fl.Capacity) == 0 {
		out.add(des+" has no seat capacity on record", flightCite(fl))
		return nil
	}
	parts, _, _, err := cabinSeats(ctx, sc, fl)
	if err != nil {
		return err
	}
	out.add(des+" seats free by cabin: "+strings.Join(parts, ", "), flightCite(fl))
	return nil
}

// cabinSeats says a flight's free seats by cabin ("J 0 of 12 (2 over)",
// "Y 31 of 150"), and whether a cabin is full or overbooked.
func cabinSeats(ctx context.Context, sc SeatCounter, fl *FlightRecord) (parts []string, full, over bool, err error) {
	for _, cabin := range slices.Sorted(maps.Keys(fl.Capacity)) {
		left, err := sc.SeatsLeft(ctx, fl.Flight.Flight, cabin)
		if err != nil {
			return nil, false, false, fmt.Errorf("seats left on %s: %w", fl.Flight.Flight, err)
		}
		part := fmt.Sprintf("%s %d of %d", cabin, max(left, 0), fl.Capacity[cabin])
		if left < 0 {
			part += fmt.Sprintf(" (%d over)", -left)
		}
		parts = append(parts, part)
		full, over = full || left <= 0, over || left < 0
	}
	return parts, full, over, nil
}

// describeFlight is the status line of a flight: route, status, times in
// each airport's own offset, gate, delay.
func (f *Facts) describeFlight(fl *Flight) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s→%s on %s: %s", fl.Carrier+fl.Number, fl.Origin, fl.Destination, fl.Date, fl.Status)
	if fl.Status == FlightDiverted && fl.DivertedTo != "" {
		fmt.Fprintf(&b, " to %s", fl.DivertedTo)
	}
	fmt.Fprintf(&b, "; departure %s", f.clock(fl.ScheduledDeparture))
	if fl.EstimatedDeparture != nil && !fl.EstimatedDeparture.Equal(fl.ScheduledDeparture) {
		fmt.Fprintf(&b, ", now %s", f.clock(*fl.EstimatedDeparture))
	}
	if d := fl.DelayMinutes(); d > 0 {
		fmt.Fprintf(&b, " (%d min late)", d)
	}
	fmt.Fprintf(&b, "; arrival %s", f.clock(fl.ScheduledArrival))
	if fl.EstimatedArrival != nil && !fl.EstimatedArrival.Equal(fl.ScheduledArrival) {
		fmt.Fprintf(&b, ", now %s", f.clock(*fl.EstimatedArrival))
	}
	if fl.Gate != "" {
		fmt.Fprintf(&b, "; gate %s", fl.Gate)
	}
	if fl.Aircraft != "" {
		fmt.Fprintf(&b, "; aircraft %s", fl.Aircraft)
	}
	return b.String()
}

// clock formats a time in its own offset, labelled with the zone when
// it is not the site's.
func (f *Facts) clock(t time.Time) string {
	_, off := t.Zone()
	_, siteOff := t.In(f.zone()).Zone()
	if off == siteOff {
		return t.In(f.zone()).Format("Mon 15:04 MST")
	}
	return t.Format("Mon 15:04") + " local (UTC" + t.Format("-07:00") + ")"
}

// paxOnFlight is one passenger of a booking on a flight, with the onward
// flight of the booking after it.
type paxOnFlight struct {
	booking *BookingRecord
	pax     BookingPassenger
	onward  *FlightRecord
}

func wantsPax(q Question, p BookingPassenger) bool {
	if len(q.SSR) > 0 && !slices.ContainsFunc(p.SSR, func(s string) bool { return slices.Contains(q.SSR, s) || slices.Contains(q.SSR, "*") }) {
		return false
	}
	return len(q.Tiers) == 0 || slices.Contains(q.Tiers, p.Tier)
}

// selectPax returns the passengers of a flight matching the question's
// requests and tiers, with their onward flights; only those with an
// onward connection when it asks about connections, only those whose
// connection is broken when it asks who misses one.
func (f *Facts) selectPax(ctx context.Context, q Question, fl *FlightRecord) ([]paxOnFlight, error) {
	key := FlightKey(fl.Carrier, fl.Number, fl.Date)
	bs, err := f.Store.BookingsOnFlight(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read bookings on %s: %w", key, err)
	}
	flights := map[string]*FlightRecord{key: fl}
	var list []paxOnFlight
	for _, b := range bs {
		if b.Status != BookingActive {
			continue
		}
		onward, err := f.onward(ctx, &b.Booking, key, flights)
		if err != nil {
			return nil, err
		}
		for _, p := range b.Passengers {
			if !wantsPax(q, p) || q.Connects && onward == nil {
				continue
			}
			if q.Misses || q.Tight {
				// Broken, tight, or either ("at risk").
				spare, holds := f.connectionSpare(&fl.Flight, onward, p)
				tight := holds && spare < tightSpare
				if !(q.Misses && !holds || q.Tight && tight) {
					continue
				}
			}
			list = append(list, paxOnFlight{booking: b, pax: p, onward: onward})
		}
	}
	return list, nil
}

// flightPassengers counts and lists the passengers selectPax finds.
func (f *Facts) flightPassengers(ctx context.Context, q Question, fl *FlightRecord, out *FactAnswer) error {
	list, err := f.selectPax(ctx, q, fl)
	if err != nil {
		return err
	}
	what := describeSelection(q)
	out.add(fmt.Sprintf("%s on %s", plural(len(list), what), fl.Carrier+fl.Number), flightCite(fl))
	if q.Count && !q.People {
		return nil
	}
	for i, p := range list {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more %s on %s (listing %d of %d)", len(list)-maxListed, what, fl.Carrier+fl.Number, maxListed, len(list)), flightCite(fl))
			break
		}
		out.add(f.describePax(&fl.Flight, p), bookingCite(p.booking))
	}
	return nil
}

func (f *Facts) describePax(fl *Flight, p paxOnFlight) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (booking %s", p.pax.Name, p.booking.Locator)
	if s := segmentOn(&p.booking.Booking, fl.Flight); s != nil && s.Seat != "" {
		fmt.Fprintf(&b, ", seat %s", s.Seat)
	}
	if p.pax.Tier != "" && p.pax.Tier != "none" {
		fmt.Fprintf(&b, ", %s", p.pax.Tier)
	}
	if len(p.pax.SSR) > 0 {
		fmt.Fprintf(&b, ", %s", strings.Join(p.pax.SSR, " "))
	}
	b.WriteString(")")
	if p.onward != nil {
		o := &p.onward.Flight
		fmt.Fprintf(&b, ": connects to %s to %s at %s", o.Carrier+o.Number, o.Destination, f.clock(o.Departure()))
		if spare, ok := f.connectionSpare(fl, p.onward, p.pax); ok {
			fmt.Fprintf(&b, ", connection holds (%d min, %d above the minimum)", int(o.Departure().Sub(fl.Arrival())/time.Minute), int(spare/time.Minute))
		} else {
			fmt.Fprintf(&b, ", connection broken")
		}
	}
	return b.String()
}

// connectionHolds applies the airport's minimum connection time, with the
// extra time for wheelchair passengers, to an inbound and onward flight.
func (f *Facts) connectionHolds(in *Flight, onward *FlightRecord, p BookingPassenger) bool {
	if onward == nil {
		return true
	}
	_, ok := f.connectionSpare(in, onward, p)
	return ok
}

// connectionSpare is how much longer than the minimum connection time
// the passenger has between in and onward; false when the connection
// does not hold.
func (f *Facts) connectionSpare(in *Flight, onward *FlightRecord, p BookingPassenger) (time.Duration, bool) {
	if in.Status == FlightCancelled || in.Status == FlightDiverted || onward.Status == FlightCancelled {
		return 0, false
	}
	wchr := slices.ContainsFunc(p.SSR, func(s string) bool { return strings.HasPrefix(s, "WCH") })
	spare := onward.Departure().Sub(in.Arrival().Add(f.Rules.MCT(onward.Origin, wchr)))
	return spare, spare >= 0
}

// tightSpare is the time above the minimum connection time under which
// a connection that holds is tight ("passengers with tight connections").
const tightSpare = 15 * time.Minute

// onward returns the booking's flight after key, or nil.
func (f *Facts) onward(ctx context.Context, b *Booking, key string, cache map[string]*FlightRecord) (*FlightRecord, error) {
	for i, s := range b.Segments {
		if s.Flight != key || i+1 >= len(b.Segments) {
			continue
		}
		next := b.Segments[i+1].Flight
		if r, ok := cache[next]; ok {
			return r, nil
		}
		r, err := f.Store.Flight(ctx, next)
		if ErrorCode(err) == ENOTFOUND {
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("read flight %s: %w", next, err)
		}
		cache[next] = r
		return r, nil
	}
	return nil, nil
}

func describeSelection(q Question) string {
	var parts []string
	switch {
	case len(q.Tiers) == len(tiers):
		parts = append(parts, "frequent-flyer")
	case len(q.Tiers) > 0:
		parts = append(parts, strings.Join(q.Tiers, "/"))
	}
	what := "passengers"
	if len(q.SSR) > 0 && !slices.Contains(q.SSR, "*") {
		what = "passengers with " + strings.Join(q.SSR, "/")
	} else if len(q.SSR) > 0 {
		what = "passengers with special service requests"
	}
	parts = append(parts, what)
	s := strings.Join(parts, " ")
	switch {
	case q.Misses && q.Tight:
		s += fmt.Sprintf(" whose onward connection is broken or holds with under %d min to spare", int(tightSpare/time.Minute))
	case q.Tight:
		s += fmt.Sprintf(" whose onward connection holds with under %d min to spare", int(tightSpare/time.Minute))
	case q.Misses:
		s += " whose onward connection is broken"
	case q.Connects:
		s += " with onward connections"
	}
	return s
}

// booking lists a booking's itinerary with each flight's status, its
// passengers, and its pending proposals.
func (f *Facts) booking(ctx context.Context, b *BookingRecord, out *FactAnswer) error {
	var names []string
	for _, p := range b.Passengers {
		n := p.Name
		if len(p.SSR) > 0 {
			n += " (" + strings.Join(p.SSR, " ") + ")"
		}
		names = append(names, n)
	}
	out.add(fmt.Sprintf("Booking %s (%s): %s", b.Locator, b.Status, strings.Join(names, ", ")), bookingCite(b))
	for i, s := range b.Segments {
		fl, err := f.Store.Flight(ctx, s.Flight)
		if ErrorCode(err) == ENOTFOUND {
			out.add(fmt.Sprintf("Segment %d: %s, cabin %s (the flight is not in the current state)", i+1, s.Flight, s.Cabin), bookingCite(b))
			continue
		} else if err != nil {
			return fmt.Errorf("read flight %s: %w", s.Flight, err)
		}
		seat := ""
		if s.Seat != "" {
			seat = ", seat " + s.Seat
		}
		out.add(fmt.Sprintf("Segment %d, cabin %s%s: %s", i+1, s.Cabin, seat, f.describeFlight(&fl.Flight)), flightCite(fl))
		ps, err := f.Store.Proposals(ctx, ProposalFilter{Flight: s.Flight, Status: ProposalPending})
		if err != nil {
			return fmt.Errorf("read proposals of %s: %w", s.Flight, err)
		}
		for _, p := range ps {
			if p.Locator == b.Locator {
				out.add(f.describeProposal(p), proposalCite(p))
			}
		}
	}
	return nil
}

func proposalCite(p *Proposal) Citation {
	return Citation{ID: p.ID, Kind: KindProposal, Topic: TopicRebookings, Offset: p.LogOffset}
}

func (f *Facts) describeProposal(p *Proposal) string {
	o := p.ChosenOption()
	if o == nil {
		return fmt.Sprintf("Proposal %s for booking %s (%s): no valid alternative, handle at the desk", p.ID, p.Locator, p.Status)
	}
	return fmt.Sprintf("Proposal %s for booking %s (%s): %s in %s, arriving %s", p.ID, p.Locator, p.Status,
		strings.Join(o.Flights, " + "), o.Cabin, f.clock(o.Arrive))
}

func (f *Facts) proposals(ctx context.Context, fl *FlightRecord, out *FactAnswer) error {
	key := FlightKey(fl.Carrier, fl.Number, fl.Date)
	ps, err := f.Store.Proposals(ctx, ProposalFilter{Flight: key, Status: ProposalPending})
	if err != nil {
		return fmt.Errorf("read proposals of %s: %w", key, err)
	}
	out.add(fmt.Sprintf("%s for %s", plural(len(ps), "pending rebooking proposals"), fl.Carrier+fl.Number), flightCite(fl))
	for i, p := range ps {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more (listing %d of %d)", len(ps)-maxListed, maxListed, len(ps)), flightCite(fl))
			break
		}
		out.add(f.describeProposal(p), proposalCite(p))
	}
	return nil
}

// openProposals answers which rebooking proposals wait for a decision:
// how many, for how many passengers, on how many disrupted flights, and
// how many of them have no valid alternative (handled at the desk); then
// each flight (the most proposals first) with its count, and its
// proposals, those with a rebooking to approve first. While several
// flights wait, each lists at most a few, so that the first does not
// take the whole list.
func (f *Facts) openProposals(ctx context.Context, out *FactAnswer) error {
	ps, err := f.Store.Proposals(ctx, ProposalFilter{Status: ProposalPending})
	if err != nil {
		return fmt.Errorf("read pending proposals: %w", err)
	}
	byFlight := map[string][]*Proposal{}
	var newest uint64
	pax, stuck := 0, 0
	for _, p := range ps {
		byFlight[p.Flight] = append(byFlight[p.Flight], p)
		newest = max(newest, p.LogOffset)
		pax += max(p.Need.Pax, 1)
		if p.ChosenOption() == nil {
			stuck++
		}
	}
	keys := slices.Collect(maps.Keys(byFlight))
	slices.SortFunc(keys, func(a, b string) int {
		if n := len(byFlight[b]) - len(byFlight[a]); n != 0 {
			return n
		}
		return strings.Compare(a, b)
	})
	count := Citation{ID: "proposals:pending", Kind: "count", Topic: TopicRebookings, Offset: newest}
	head := fmt.Sprintf("%s waiting for a decision, for %s on %s", plural(len(ps), "pending rebooking proposals"), plural(pax, "passengers"), plural(len(keys), "disrupted flights"))
	if stuck > 0 {
		head += fmt.Sprintf("; %d with a rebooking to approve, %d with no valid alternative (handle at the desk)", len(ps)-stuck, stuck)
	}
	out.add(head, count)
	perFlight := maxListed
	if len(keys) > 1 {
		perFlight = 3
	}
	listed := 0
	for i, key := range keys {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more flights (listing %d of %d)", len(keys)-maxListed, maxListed, len(keys)), count)
			break
		}
		waiting := byFlight[key]
		// Those with a rebooking to approve first, each group in order.
		slices.SortStableFunc(waiting, func(a, b *Proposal) int {
			return cmp.Compare(boolInt(a.ChosenOption() == nil), boolInt(b.ChosenOption() == nil))
		})
		n := plural(len(waiting), "pending proposals")
		if k := slices.IndexFunc(waiting, func(p *Proposal) bool { return p.ChosenOption() == nil }); k >= 0 {
			n += fmt.Sprintf(" (%d with no valid alternative)", len(waiting)-k)
		}
		fl, err := f.Store.Flight(ctx, key)
		if ErrorCode(err) == ENOTFOUND {
			out.add(fmt.Sprintf("%s (the flight is not in the current state): %s", key, n), proposalCite(waiting[0]))
			continue
		} else if err != nil {
			return fmt.Errorf("read flight %s: %w", key, err)
		}
		out.add(fmt.Sprintf("%s: %s", f.describeFlight(&fl.Flight), n), flightCite(fl))
		for j, p := range waiting {
			if listed == maxListed || j == perFlight {
				break
			}
			out.add(f.describeProposal(p), proposalCite(p))
			listed++
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// byStatus counts flights by status, the most common first:
// "412 scheduled, 98 departed, 4 cancelled".
func byStatus(fs []*FlightRecord) string {
	n := map[string]int{}
	var order []string
	for _, fl := range fs {
		if n[fl.Status] == 0 {
			order = append(order, fl.Status)
		}
		n[fl.Status]++
	}
	slices.SortStableFunc(order, func(a, b string) int { return n[b] - n[a] })
	parts := make([]string, len(order))
	for i, st := range order {
		parts[i] = fmt.Sprintf("%d %s", n[st], st)
	}
	return strings.Join(parts, ", ")
}

// pick answers for the one flight a question picks from a list: the
// next to leave (today, then tomorrow), or the first or last of a day,
// to or from its airport or place (from the hub when it names none),
// leaving out cancelled flights and, for the next, those gone already;
// then that flight as a question about it would be answered (its free
// seats when asked). With a time of day, only flights within it count.
func (f *Facts) pick(ctx context.Context, q Question, now time.Time, today string, out *FactAnswer) error {
	date := q.dateOr(today)
	dates := []string{date}
	if q.Pick == "next" && q.Date == "" {
		d, _ := time.ParseInLocation(time.DateOnly, today, f.zone())
		dates = append(dates, d.AddDate(0, 0, 1).Format(time.DateOnly))
	}
	airport := q.oneAirport()
	arrivals := q.FromAirport && !q.ToAirport || q.Arrivals
	when := func(r *FlightRecord) time.Time {
		if arrivals {
			return r.Arrival()
		}
		return r.Departure()
	}
	where := ""
	var found *FlightRecord
	for _, d := range dates {
		fs, err := f.Store.Flights(ctx, FlightFilter{Date: d, Airport: airport})
		if err != nil {
			return fmt.Errorf("read flights: %w", err)
		}
		var w string
		if fs, w = routeFlights(fs, q, airport, f.Hub); w == "" && airport != "" {
			w = " at " + airport
		}
		if where == "" || strings.Contains(w, "(") {
			where = w
		}
		// The site's way and the gate asked for; the flight of a time of
		// day is what it is, even cancelled.
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
			return f.Hub != "" && (arrivals && r.Destination != f.Hub || !arrivals && r.Origin != f.Hub) || q.Gate != "" && !strings.EqualFold(r.Gate, q.Gate)
		})
		if q.Pick == "at" {
			found = f.scheduledAt(fs, d, q.PickClock, arrivals)
			break
		}
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
			t, sched := when(r), r.ScheduledDeparture
			if arrivals {
				sched = r.ScheduledArrival
			}
			if r.Status == FlightCancelled || q.Window != nil && !q.Window.holds(t, sched) {
				return true
			}
			gone := r.Status == FlightDeparted || r.Status == FlightArrived || r.Status == FlightDiverted
			return q.Pick == "next" && (gone || t.Before(now))
		})
		slices.SortStableFunc(fs, func(a, b *FlightRecord) int { return when(a).Compare(when(b)) })
		if len(fs) > 0 {
			found = fs[0]
			if q.Pick == "last" {
				found = fs[len(fs)-1]
			}
			break
		}
	}
	if q.Gate != "" {
		where += " at gate " + q.Gate
	}
	kind := map[bool]string{true: "arrival", false: "departure"}[arrivals]
	if q.Pick == "at" {
		if found == nil {
			out.Missing = append(out.Missing, fmt.Sprintf("%s%s scheduled within %d minutes of %s on %s", kind, where, int(atSlack.Minutes()), q.PickClock, date))
			return nil
		}
		sched := found.ScheduledDeparture
		if arrivals {
			sched = found.ScheduledArrival
		}
		out.add(fmt.Sprintf("The %s %s%s on %s: %s, scheduled at %s", q.PickClock, kind, where, found.Date, found.Carrier+found.Number,
			sched.In(f.zone()).Format("15:04")), flightCite(found))
		return f.flight(ctx, q, found, out)
	}
	if found == nil {
		what := q.Pick + " " + kind + where
		if q.Pick == "next" {
			what += " after " + now.In(f.zone()).Format("15:04") + " on " + dates[0] + " or " + dates[len(dates)-1]
		} else {
			what += " on " + date
		}
		out.Missing = append(out.Missing, what)
		return nil
	}
	head := fmt.Sprintf("The %s %s%s", q.Pick, kind, where)
	switch q.Pick {
	case "next":
		head += " after " + now.In(f.zone()).Format("15:04")
	default:
		head += " on " + found.Date
	}
	head += ": " + found.Carrier + found.Number + " at " + when(found).In(f.zone()).Format("15:04")
	if found.Date != today {
		head += " on " + found.Date
	}
	out.add(head, flightCite(found))
	return f.flight(ctx, q, found, out)
}

// atSlack is how far from the time a question gives a flight may be
// scheduled and still be the one it means ("the 10:30" for 10:35).
const atSlack = 30 * time.Minute

// scheduledAt is the flight of fs scheduled to leave (to land, for
// arrivals) nearest clock ("15:04") on date in the site's zone, within
// atSlack; nil when none is.
func (f *Facts) scheduledAt(fs []*FlightRecord, date, clock string, arrivals bool) *FlightRecord {
	at, err := time.ParseInLocation(time.DateOnly+" 15:04", date+" "+clock, f.zone())
	if err != nil {
		return nil
	}
	var best *FlightRecord
	bestOff := atSlack + 1
	for _, r := range fs {
		t := r.ScheduledDeparture
		if arrivals {
			t = r.ScheduledArrival
		}
		if off := absDuration(t.Sub(at)); off < bestOff {
			best, bestOff = r, off
		}
	}
	return best
}

// placeFlights keeps of fs the flights to or from (or, the question
// saying neither, either) an airport of place p, and says where: the
// place with the airports its flights use ("to Paris (CDG, ORY)"). Of a
// country, the hub's own airport does not count.
func placeFlights(fs []*FlightRecord, q Question, p *PlaceMention, hub string) ([]*FlightRecord, string) {
	var used []string
	// A country holds the hub, but "flights to Germany" at FRA are not
	// its arrivals: they go somewhere else in it.
	in := func(code string) bool { return slices.Contains(p.Airports, code) && !(p.Country && code == hub) }
	// "the Lisbon flight" at MAD: the flights between the site and there,
	// either way; a place that holds the site is its flights at it.
	between := p.OfFlights && q.ToAirport == q.FromAirport && hub != "" && !slices.Contains(p.Airports, hub)
	fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
		to, from := in(r.Destination), in(r.Origin)
		keep := q.ToAirport && !q.FromAirport && to || q.FromAirport && !q.ToAirport && from || q.ToAirport == q.FromAirport && (to || from)
		if between {
			keep = to && r.Origin == hub || from && r.Destination == hub
		}
		if fp := q.FromPlace; fp != nil && !slices.Contains(fp.Airports, r.Origin) {
			keep = false
		}
		if keep {
			for _, c := range []string{r.Destination, r.Origin} {
				if in(c) && !slices.Contains(used, c) {
					used = append(used, c)
				}
			}
		}
		return !keep
	})
	where := map[bool]string{true: " to ", false: " from "}[q.ToAirport]
	if q.ToAirport == q.FromAirport {
		where = " at "
	}
	if between {
		where = " to or from "
	}
	where += p.Name
	if len(used) > 0 {
		slices.Sort(used)
		where += " (" + strings.Join(used, ", ") + ")"
	}
	if q.FromPlace != nil {
		where = " from " + q.FromPlace.Name + where
	}
	return fs, where
}

// windowTowardSite makes a time window the site's arrivals when the
// question names the site's own airport, or a place that holds it, as
// where its flights go ("flights to Frankfurt this morning" at FRA): the
// parser, which does not know the site, took the window as departures,
// which never go there.
func (f *Facts) windowTowardSite(q Question) Question {
	if f.Hub == "" || q.Window == nil || q.Window.Arrivals || q.Departures || !q.ToAirport || q.FromAirport {
		return q
	}
	site := q.oneAirport() == f.Hub || q.Place != nil && !q.Place.Country && slices.Contains(q.Place.Airports, f.Hub)
	if !site {
		return q
	}
	w := *q.Window
	w.Arrivals = true
	q.Window, q.Arrivals = &w, true
	return q
}

// siteWay keeps of fs the site's arrivals or departures when the
// question asks for one of them ("delayed arrivals today"), and says so
// when where does not already say where.
func (f *Facts) siteWay(fs []*FlightRecord, q Question, where string) ([]*FlightRecord, string) {
	if f.Hub == "" || !q.Arrivals && !q.Departures {
		return fs, where
	}
	fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
		return q.Arrivals && r.Destination != f.Hub || q.Departures && r.Origin != f.Hub
	})
	if where == "" {
		where = map[bool]string{true: " arriving at ", false: " departing from "}[q.Arrivals] + f.Hub
	}
	return fs, where
}

// routeFlights keeps the flights of fs that go where q says: to or from a
// named place, or to or from its one airport. It also returns the words
// that say so (" to MAD", " to Paris (CDG, ORY)"), or "" when q names no
// route.
func routeFlights(fs []*FlightRecord, q Question, airport, hub string) ([]*FlightRecord, string) {
	switch {
	case q.Place != nil && airport == "":
		return placeFlights(fs, q, q.Place, hub)
	case airport != "" && q.ToAirport != q.FromAirport:
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
			return q.ToAirport && r.Destination != airport || q.FromAirport && r.Origin != airport
		})
		return fs, map[bool]string{true: " to ", false: " from "}[q.ToAirport] + airport
	}
	return fs, ""
}

// dayList is the flights of the day q asks about, as it selects them:
// by status, lateness, place or airport, way, time of day and gate. It
// also returns the date, what the flights are ("delayed flights") and
// the words that say where and when (" to Paris (CDG, ORY)").
func (f *Facts) dayList(ctx context.Context, q Question, today string) (fs []*FlightRecord, date, label, where string, err error) {
	date, airport := q.dateOr(today), q.oneAirport()
	status := q.Status
	// Arrivals asked as delayed are late on arrival: a flight that left
	// late is "departed" by its status, and still lands late.
	lateArrivals := q.Arrivals && q.Status == FlightDelayed && q.MinDelay == 0
	// Departures asked as gone late ("which flights left late") are late
	// on departure, whatever their status now.
	lateDepartures := q.WentLate && !q.Arrivals && q.MinDelay == 0
	if q.MinDelay > 0 || lateArrivals || lateDepartures || q.Disrupted {
		status = "" // late by the clock, whatever the status says (boarding, departed)
	}
	fs, err = f.dayFlights(ctx, q, date, FlightFilter{Date: date, Status: status, Airport: airport})
	if err != nil {
		return nil, "", "", "", err
	}
	label = "flights"
	if q.Status != "" {
		label = q.Status + " flights"
	}
	if lateArrivals {
		onArrival := Question{Arrivals: true, MinDelay: lateMargin, MinInclusive: true}
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
			return r.Status != FlightDelayed && (r.Status == FlightDiverted || !lateBeyond(&r.Flight, onArrival))
		})
		label = fmt.Sprintf("flights delayed or at least %d minutes late on arrival", int(lateMargin/time.Minute))
	}
	if lateDepartures {
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
			return r.Status != FlightDelayed && (r.Status == FlightCancelled || r.DelayMinutes() < int(lateMargin/time.Minute))
		})
		label = fmt.Sprintf("flights delayed or at least %d minutes late on departure", int(lateMargin/time.Minute))
	}
	if q.Disrupted {
		// As the board counts them: cancelled, diverted, or leaving late.
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
			return r.Status != FlightCancelled && r.Status != FlightDiverted && r.DelayMinutes() < int(lateMargin/time.Minute)
		})
		label = fmt.Sprintf("disrupted flights (cancelled, diverted or at least %d minutes late)", int(lateMargin/time.Minute))
	}
	if q.MinDelay > 0 {
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool { return !lateBeyond(&r.Flight, q) })
		label = "flights delayed by " + map[bool]string{true: "at least ", false: "more than "}[q.MinInclusive] + spanText(q.MinDelay)
		if q.Arrivals {
			label += " on arrival"
		}
	}
	fs, where = routeFlights(fs, q, airport, f.Hub)
	if where == "" && airport != "" {
		where = " at " + airport
	}
	if q.Window == nil {
		// (A window already keeps only the arrivals or departures.)
		fs, where = f.siteWay(fs, q, where)
	}
	if q.Arrivals && q.Window == nil {
		// Arrivals in the order they land, as on an arrivals board.
		slices.SortStableFunc(fs, func(a, b *FlightRecord) int { return a.Arrival().Compare(b.Arrival()) })
	}
	where += f.windowWords(q.Window)
	if q.Gate != "" {
		fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool { return !strings.EqualFold(r.Gate, q.Gate) })
		where += " at gate " + q.Gate
	}
	return fs, date, label, where, nil
}

// delays answers for how late a day's flights are: ranked, the latest
// first ("which flight has the longest delay today"), or summed up ("what
// is the average delay"). A flight is as late as it leaves, or lands for
// arrivals, by the times now known (estimated for those still to come);
// an early one counts as on time, a cancelled one not at all.
func (f *Facts) delays(ctx context.Context, q Question, today string, out *FactAnswer) error {
	fs, date, _, where, err := f.dayList(ctx, q, today)
	if err != nil {
		return err
	}
	fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool { return r.Status == FlightCancelled })
	on := map[bool]string{true: "arrival", false: "departure"}[q.Arrivals]
	cite := Citation{ID: "flights:" + date, Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)}
	if len(fs) == 0 {
		out.Missing = append(out.Missing, "flight"+where+" on "+date+" not cancelled")
		return nil
	}
	late := make(map[*FlightRecord]time.Duration, len(fs))
	var ranked []*FlightRecord
	var sum, sumLate time.Duration
	nLate := 0
	for _, r := range fs {
		d := max(0, flightLateness(&r.Flight, q.Arrivals))
		late[r] = d
		sum += d
		if d > 0 {
			ranked = append(ranked, r)
		}
		if d >= lateMargin {
			sumLate += d
			nLate++
		}
	}
	slices.SortStableFunc(ranked, func(a, b *FlightRecord) int { return cmp.Compare(late[b], late[a]) })
	describe := func(r *FlightRecord) string {
		if !q.Arrivals {
			return f.describeFlight(&r.Flight) // which says how late it leaves
		}
		return fmt.Sprintf("%s; %s late on arrival", f.describeFlight(&r.Flight), minutesText(late[r]))
	}
	if q.AverageDelay {
		out.add(fmt.Sprintf("Average delay on %s on %s%s: %s over %s not cancelled (an early one counts as on time)",
			on, date, where, minutesText(sum/time.Duration(len(fs))), plural(len(fs), "flights")), cite)
		if nLate > 0 {
			out.add(fmt.Sprintf("%d of them at least %d minutes late on %s, by %s on average", nLate, int(lateMargin/time.Minute), on, minutesText(sumLate/time.Duration(nLate))), cite)
		}
		if len(ranked) > 0 {
			out.add("The longest: "+describe(ranked[0]), flightCite(ranked[0]))
		}
		return nil
	}
	if q.RankOne && len(ranked) > 0 {
		// Its passengers or seats, as a question about it is answered.
		top := ranked[0]
		out.add(fmt.Sprintf("The most delayed flight on %s on %s%s: %s, %s late", on, date, where, top.Carrier+top.Number, minutesText(late[top])), flightCite(top))
		return f.flight(ctx, q, top, out)
	}
	out.add(fmt.Sprintf("%s late on %s on %s%s, of %s not cancelled; the latest first", plural(len(ranked), "flights"), on, date, where, plural(len(fs), "flights")), cite)
	for i, r := range ranked {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more flights (listing %d of %d)", len(ranked)-maxListed, maxListed, len(ranked)), cite)
			break
		}
		out.add(describe(r), flightCite(r))
	}
	return nil
}

// flightLateness is how late a flight leaves, or lands for arrival (the
// departure's delay when no arrival time is estimated), negative when
// early.
func flightLateness(fl *Flight, arrival bool) time.Duration {
	if arrival && fl.EstimatedArrival != nil {
		return fl.Arrival().Sub(fl.ScheduledArrival)
	}
	return fl.Departure().Sub(fl.ScheduledDeparture)
}

// minutesText is a delay in whole minutes: "0 minutes", "1 minute",
// "127 minutes".
func minutesText(d time.Duration) string {
	n := int(d / time.Minute)
	if n == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", n)
}

// gates answers for the gates of a day's flights by how many use them,
// the busiest first ("which gates are busiest today"), of the flights
// not cancelled that q selects (a way, a place, a time of day).
func (f *Facts) gates(ctx context.Context, q Question, today string, out *FactAnswer) error {
	fs, date, _, where, err := f.dayList(ctx, q, today)
	if err != nil {
		return err
	}
	fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool { return r.Status == FlightCancelled })
	type gateUse struct {
		gate                string
		departing, arriving int
		flights             []*FlightRecord
	}
	byGate := map[string]*gateUse{}
	var uses []*gateUse
	noGate := 0
	for _, r := range fs {
		if r.Gate == "" {
			noGate++
			continue
		}
		g := byGate[strings.ToUpper(r.Gate)]
		if g == nil {
			g = &gateUse{gate: strings.ToUpper(r.Gate)}
			byGate[g.gate] = g
			uses = append(uses, g)
		}
		g.flights = append(g.flights, r)
		if r.Origin == f.Hub {
			g.departing++
		} else {
			g.arriving++
		}
	}
	cite := Citation{ID: "flights:" + date, Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)}
	if len(uses) == 0 {
		out.Missing = append(out.Missing, "gate of a flight"+where+" on "+date)
		return nil
	}
	slices.SortStableFunc(uses, func(a, b *gateUse) int {
		if c := cmp.Compare(len(b.flights), len(a.flights)); c != 0 {
			return c
		}
		return cmp.Compare(a.gate, b.gate)
	})
	head := fmt.Sprintf("%s in use on %s%s by %s not cancelled; the busiest first", plural(len(uses), "gates"), date, where, plural(len(fs)-noGate, "flights"))
	if noGate > 0 {
		head += fmt.Sprintf(" (%s with no gate yet)", plural(noGate, "flights"))
	}
	out.add(head, cite)
	for i, g := range uses {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more gates (listing %d of %d)", len(uses)-maxListed, maxListed, len(uses)), cite)
			break
		}
		var names []string
		for _, r := range g.flights {
			names = append(names, r.Carrier+r.Number)
		}
		out.add(fmt.Sprintf("Gate %s: %s (%d departing, %d arriving): %s", g.gate, plural(len(g.flights), "flights"), g.departing, g.arriving, strings.Join(names, ", ")), cite)
	}
	return nil
}

// noGates answers for the flights of a day at the site that have no
// gate yet: of those not cancelled or diverted and still to leave (or,
// arriving, to land), how many and which, in the order they leave or
// land; or that every one of them has a gate.
func (f *Facts) noGates(ctx context.Context, q Question, today string, out *FactAnswer) error {
	fs, date, _, where, err := f.dayList(ctx, q, today)
	if err != nil {
		return err
	}
	cite := Citation{ID: "flights:" + date, Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)}
	fs = slices.DeleteFunc(fs, func(r *FlightRecord) bool {
		departs, arrives := r.Origin == f.Hub, r.Destination == f.Hub
		if f.Hub != "" && !departs && !arrives {
			return true // no gate of this site's
		}
		gone := r.Status == FlightArrived || departs && r.Status == FlightDeparted
		return gone || r.Status == FlightCancelled || r.Status == FlightDiverted
	})
	if len(fs) == 0 {
		out.Missing = append(out.Missing, "flight still to leave or land"+where+" on "+date)
		return nil
	}
	at := func(r *FlightRecord) time.Time {
		if r.Origin == f.Hub && !q.Arrivals {
			return r.Departure()
		}
		return r.Arrival()
	}
	slices.SortStableFunc(fs, func(a, b *FlightRecord) int { return at(a).Compare(at(b)) })
	var none []*FlightRecord
	for _, r := range fs {
		if strings.TrimSpace(r.Gate) == "" {
			none = append(none, r)
		}
	}
	of := plural(len(fs), "flights") + " on " + date + where + " still to leave or land, not cancelled or diverted"
	if len(none) == 0 {
		if len(fs) == 1 {
			out.add("The "+of+" has a gate", cite)
		} else {
			out.add("All "+of+" have a gate", cite)
		}
		return nil
	}
	out.add(fmt.Sprintf("%s with no gate yet, of %s", plural(len(none), "flights"), of), cite)
	for i, r := range none {
		if i == maxListed {
			out.add(fmt.Sprintf("… and %d more (listing %d of %d)", len(none)-maxListed, maxListed, len(none)), cite)
			break
		}
		out.add(f.describeFlight(&r.Flight), flightCite(r))
	}
	return nil
}

// peopleFirst reports whether the question names people before it
// names flights: "which gold passengers are on cancelled flights" asks
// for the people, "which cancelled flights have gold passengers" for the
// flights.
func peopleFirst(text string) bool {
	for _, w := range reAskWord.FindAllString(strings.ToLower(text), -1) {
		switch w {
		case "passenger", "passengers", "pax", "who", "people", "travellers", "travelers", "traveller", "traveler", "customers", "names":
			return true
		case "flight", "flights", "departure", "departures", "arrival", "arrivals":
			return false
		}
	}
	return false
}

// day answers questions about the flights of a day by status ("which
// flights are cancelled today", "how many passengers are on delayed
// flights"), optionally at one airport, or about all the day's flights
// to or from one airport ("departures to LHR today"). An airport with no
// flight that day is not in the data.
func (f *Facts) day(ctx context.Context, q Question, now time.Time, today string, out *FactAnswer) error {
	fs, date, label, where, err := f.dayList(ctx, q, today)
	if err != nil {
		return err
	}
	if q.Status == "" && q.Window == nil && len(fs) == 0 && (q.ListsAirport || q.Gate != "") {
		out.Missing = append(out.Missing, "flight"+where+" on "+date)
		return nil
	}
	total := 0
	counted := map[string]bool{}
	bookings := map[string]bool{}
	// Some passengers asked for ("wheelchair passengers on departures this
	// afternoon"): the flights without any are counted, not listed.
	some := q.selects()
	// "which gold passengers are on cancelled flights": by name, under
	// their flights, as across the whole day.
	// "delayed departures with gold passengers" asks for the flights.
	names := some && q.People && (!q.Count || slices.Contains(strings.Fields(strings.ToLower(q.Text)), "who")) && peopleFirst(q.Text)
	withAny := 0
	var lines []Fact
	var listed []*FlightRecord // the flight of each line
	var paxOf [][]paxOnFlight  // and its passengers named
	for _, fl := range fs {
		line := Fact{Text: f.describeFlight(&fl.Flight), Cite: flightCite(fl)}
		if q.People || q.Count && !q.DayFlights {
			list, err := f.selectPax(ctx, q, fl)
			if err != nil {
				return err
			}
			n := len(list)
			if some && n == 0 {
				continue
			}
			withAny++
			here := map[string]bool{}
			for _, p := range list {
				// A person on two of the flights counts once in all,
				// and so does a booking.
				if k := p.booking.Locator + "/" + p.pax.ID; !counted[k] {
					counted[k] = true
					total++
				}
				here[p.booking.Locator], bookings[p.booking.Locator] = true, true
			}
			if q.Bookings {
				line.Text += "; " + plural(len(here), "bookings") + " of " + plural(n, describeSelection(q))
			} else {
				line.Text += "; " + plural(n, describeSelection(q))
			}
		}
		lines, listed = append(lines, line), append(listed, fl)
		if names {
			list, err := f.selectPax(ctx, q, fl)
			if err != nil {
				return err
			}
			paxOf = append(paxOf, list)
		} else {
			paxOf = append(paxOf, nil)
		}
	}
	head := fmt.Sprintf("%s on %s%s", plural(len(fs), label), date, where)
	if q.DayFlights {
		head += " (" + byStatus(fs) + ")"
	}
	switch {
	case q.Bookings && (q.People || q.Count):
		head += fmt.Sprintf(", with %s of %s in all", plural(len(bookings), "bookings"), plural(total, describeSelection(q)))
	case q.People || q.Count && !q.DayFlights:
		head += fmt.Sprintf(", with %s in all", plural(total, describeSelection(q)))
		if some {
			head += fmt.Sprintf(", on %d of them", withAny)
		}
	}
	out.add(head, Citation{ID: "flights:" + date, Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)})
	// Today's list too long to show in full starts at the flights still
	// to come, as a departures board does: at 14:00, the 06:05 flights
	// are not what staff asked for.
	from := 0
	if date == today && q.Window == nil {
		var note string
		var size []int
		if names {
			size = make([]int, len(listed))
			for i := range listed {
				size[i] = 1 + len(paxOf[i])
			}
		}
		from, note = f.listFrom(q, now, listed, size)
		if from > 0 {
			out.add(fmt.Sprintf("%s: %s %s earlier left out", note, plural(from, label), way(q.Arrivals)), out.Facts[len(out.Facts)-1].Cite)
		}
	}
	sc, seats := f.Store.(SeatCounter)
	seats = seats && q.Seats
	emitted := 0 // lines after the count
	for i, l := range lines[from:] {
		if emitted >= maxListed {
			out.add(fmt.Sprintf("… and %d more flights (listing %d of %d)", len(lines)-from-i, i, len(lines)), l.Cite)
			break
		}
		// "is there a flight to Vienna with seats in business": each
		// listed flight's free seats.
		if fl := listed[from+i]; seats && len(fl.Capacity) > 0 {
			parts, _, _, err := cabinSeats(ctx, sc, fl)
			if err != nil {
				return err
			}
			l.Text += "; seats free by cabin: " + strings.Join(parts, ", ")
		}
		out.add(l.Text, l.Cite)
		emitted++
		fl := listed[from+i]
		for j, p := range paxOf[from+i] {
			if emitted >= maxListed {
				out.add(fmt.Sprintf("… and %d more on %s", len(paxOf[from+i])-j, fl.Carrier+fl.Number), l.Cite)
				break
			}
			out.add(f.describePax(&fl.Flight, p), bookingCite(p.booking))
			emitted++
		}
	}
	return nil
}

// listFrom is where a list of today's flights too long to show in full
// starts: at the first flight still to come, as a departures board does
// (at 14:00, the 06:05 flights are not what staff asked for), or at the
// last ones that fit when fewer are left. size is each flight's lines
// (one each when nil). note says where the list starts.
func (f *Facts) listFrom(q Question, now time.Time, fs []*FlightRecord, size []int) (from int, note string) {
	lines := func(i int) int {
		if size == nil {
			return 1
		}
		return size[i]
	}
	total := 0
	for i := range fs {
		total += lines(i)
	}
	if total <= maxListed {
		return 0, ""
	}
	from = len(fs)
	for i, r := range fs {
		if !listedTime(q, r).Before(now) {
			from = i
			break
		}
	}
	// The first flight of the last ones that fit, the last one at least
	// (cut short when it alone has more lines).
	fit, n := len(fs), 0
	for fit > 0 && n+lines(fit-1) <= maxListed {
		fit--
		n += lines(fit)
	}
	fit = min(fit, len(fs)-1)
	if from > fit {
		return fit, fmt.Sprintf("Listing the last %d", len(fs)-fit)
	}
	return from, fmt.Sprintf("Listing from %s on", f.clock(now.In(f.zone())))
}

// listedTime is the time a list of flights is in order of: arrival for
// arrivals, else departure.
func listedTime(q Question, r *FlightRecord) time.Time {
	if q.Arrivals {
		return r.Arrival()
	}
	return r.Departure()
}

// way is how flights go: "arriving" or "departing".
func way(arrivals bool) string {
	if arrivals {
		return "arriving"
	}
	return "departing"
}

// lateMargin is how late a flight on its way lands to count as a late
// arrival, and how late one leaves to count as disrupted (as the board
// does): the 15 minutes of on-time performance.
const lateMargin = 15 * time.Minute

// lateBeyond reports whether a flight not cancelled is later than the
// delay q asks about: at arrival for arrivals, else at departure.
func lateBeyond(fl *Flight, q Question) bool {
	if fl.Status == FlightCancelled {
		return false
	}
	late := fl.Departure().Sub(fl.ScheduledDeparture)
	if q.Arrivals && fl.EstimatedArrival != nil {
		late = fl.Arrival().Sub(fl.ScheduledArrival) // else the departure's delay carries over
	}
	return late > q.MinDelay || q.MinInclusive && late == q.MinDelay
}

// spanText is a delay in words: "1 hour", "2 hours", "45 minutes".
func spanText(d time.Duration) string {
	n, unit := int(d/time.Minute), "minute"
	if d%time.Hour == 0 {
		n, unit = int(d/time.Hour), "hour"
	}
	if n != 1 {
		unit += "s"
	}
	return fmt.Sprintf("%d %s", n, unit)
}

// dayPassengers answers for the passengers a question selects on every
// flight of a day ("how many wheelchair passengers today", "who
// misconnects today"): how many on how many flights, then each flight
// with some and its passengers (only the flights when just a count is
// asked), up to maxListed lines, then how many more.
func (f *Facts) dayPassengers(ctx context.Context, q Question, now time.Time, today string, out *FactAnswer) error {
	date := q.dateOr(today)
	fs, err := f.dayFlights(ctx, q, date, FlightFilter{Date: date})
	if err != nil {
		return err
	}
	where := f.windowWords(q.Window)
	if q.Window == nil {
		// "wheelchairs on departures today": the site's departures.
		fs, where = f.siteWay(fs, q, "")
	}
	what := describeSelection(q)
	type found struct {
		fl   *FlightRecord
		list []paxOnFlight
	}
	var with []found
	total, pairs := 0, 0 // people; people on a flight
	counted := map[string]bool{}
	for _, fl := range fs {
		list, err := f.selectPax(ctx, q, fl)
		if err != nil {
			return err
		}
		if len(list) > 0 {
			with = append(with, found{fl, list})
			pairs += len(list)
			for _, p := range list {
				// A person on two of the flights counts once in all.
				if k := p.booking.Locator + "/" + p.pax.ID; !counted[k] {
					counted[k] = true
					total++
				}
			}
		}
	}
	if q.Arrivals {
		slices.SortStableFunc(with, func(a, b found) int { return a.fl.Arrival().Compare(b.fl.Arrival()) })
	}
	count := Citation{ID: "flights:" + date, Kind: "count", Topic: TopicFlights, Offset: maxOffset(fs)}
	out.add(fmt.Sprintf("%s on %s%s of %s", plural(total, what), plural(len(with), "flights"), where, date), count)
	names := !q.Count || slices.Contains(strings.Fields(strings.ToLower(q.Text)), "who")
	// Today's long list starts at the flights still to come.
	from, left := 0, 0 // flights left out before the list; passengers on them
	if date == today && q.Window == nil {
		flights, size := make([]*FlightRecord, len(with)), make([]int, len(with))
		for i, w := range with {
			flights[i], size[i] = w.fl, 1
			if names {
				size[i] += len(w.list)
			}
		}
		var note string
		if from, note = f.listFrom(q, now, flights, size); from > 0 {
			people := map[string]bool{}
			for _, w := range with[:from] {
				left += len(w.list)
				for _, p := range w.list {
					people[p.booking.Locator+"/"+p.pax.ID] = true
				}
			}
			out.add(fmt.Sprintf("%s: %s on %s %s earlier left out", note, plural(len(people), what), plural(from, "flights"), way(q.Arrivals)), count)
		}
	}
	lines, shown := 0, left // lines added after the count; passengers they cover, and those left out
	for i := from; i < len(with); i++ {
		w := with[i]
		if lines >= maxListed {
			out.add(fmt.Sprintf("… and %s on %s (listing %d of %d flights)", plural(pairs-shown, what), plural(len(with)-i, "more flights"), i-from, len(with)), count)
			return nil
		}
		out.add(f.describeFlight(&w.fl.Flight)+"; "+plural(len(w.list), what), flightCite(w.fl))
		lines++
		for j, p := range w.list {
			if !names {
				break
			}
			if lines >= maxListed {
				out.add(fmt.Sprintf("… and %d more on %s", len(w.list)-j, w.fl.Carrier+w.fl.Number), flightCite(w.fl))
				break
			}
			out.add(f.describePax(&w.fl.Flight, p), bookingCite(p.booking))
			lines++
		}
		shown += len(w.list)
	}
	return nil
}

// windowWords say a time window: " departing 12:00–18:00 from MAD";
// "" without one.
func (f *Facts) windowWords(w *TimeWindow) string {
	if w == nil {
		return ""
	}
	to := w.To.In(f.zone()).Format("15:04")
	if to == "00:00" && w.To.After(w.From) {
		to = "24:00" // the end of the day
	}
	s := fmt.Sprintf(" %s %s–%s", way(w.Arrivals), w.From.In(f.zone()).Format("15:04"), to)
	if f.Hub != "" {
		s += map[bool]string{true: " at ", false: " from "}[w.Arrivals] + f.Hub
	}
	return s
}

// dayFlights reads the flights of filter; with a time window, those of
// the days it may touch (an arrival in it can have left the day before),
// kept when they leave from the hub (arrive there) within it, or, in a
// window of the clock, are scheduled to, in the order they now leave.
func (f *Facts) dayFlights(ctx context.Context, q Question, date string, filter FlightFilter) ([]*FlightRecord, error) {
	w := q.Window
	if w == nil {
		fs, err := f.Store.Flights(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("read flights: %w", err)
		}
		return fs, nil
	}
	var dates []string
	for d := w.From.In(f.zone()).AddDate(0, 0, -1); !d.After(w.To.In(f.zone())); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d.Format(time.DateOnly))
	}
	seen := map[string]bool{}
	var out []*FlightRecord
	for _, d := range dates {
		filter.Date = d
		fs, err := f.Store.Flights(ctx, filter)
		if err != nil {
			return nil, fmt.Errorf("read flights of %s: %w", d, err)
		}
		for _, fl := range fs {
			t, sched, at := fl.Departure(), fl.ScheduledDeparture, fl.Origin
			if w.Arrivals {
				t, sched, at = fl.Arrival(), fl.ScheduledArrival, fl.Destination
			}
			if seen[fl.Flight.Flight] || !w.holds(t, sched) || f.Hub != "" && at != f.Hub {
				continue
			}
			seen[fl.Flight.Flight] = true
			out = append(out, fl)
		}
	}
	slices.SortStableFunc(out, func(a, b *FlightRecord) int {
		if w.Arrivals {
			return a.Arrival().Compare(b.Arrival())
		}
		return a.Departure().Compare(b.Departure())
	})
	return out, nil
}

func maxOffset(fs []*FlightRecord) uint64 {
	var m uint64
	for _, f := range fs {
		m = max(m, f.Version.Offset)
	}
	return m
}

// passengers looks up the people a question names and lists their
// bookings.
func (f *Facts) passengers(ctx context.Context, q Question, out *FactAnswer) error {
	for _, name := range q.Names {
		ps, err := f.Store.FindPassengers(ctx, name, maxListed)
		if err != nil {
			return fmt.Errorf("find passengers %q: %w", name, err)
		}
		for _, p := range ps {
			if !strings.EqualFold(p.Name, name) {
				continue
			}
			bs, err := f.Store.BookingsOfPassenger(ctx, p.ID)
			if err != nil {
				return fmt.Errorf("read bookings of %s: %w", p.ID, err)
			}
			out.add(describePassenger(p, len(bs)), passengerCite(p))
			for _, b := range bs {
				if err := f.booking(ctx, b, out); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func passengerCite(p *PassengerRecord) Citation {
	return Citation{ID: p.ID, Kind: KindPassenger, Topic: TopicPassengers, Offset: p.Version.Offset, EventID: p.Version.EventID}
}

// describePassenger is a passenger's line: name, id, tier, service
// requests and how many bookings: "Iker Zubiri (X4, platinum, WCHR): 1 booking".
func describePassenger(p *PassengerRecord, bookings int) string {
	line := p.Name + " (" + p.ID
	if p.Tier != "" && p.Tier != "none" {
		line += ", " + p.Tier
	}
	if len(p.SSR) > 0 {
		line += ", " + strings.Join(p.SSR, " ")
	}
	return line + "): " + plural(bookings, "bookings")
}

// plural puts n before phrase, whose first word is plural, in the
// singular for one: "1 passenger with WCHR", "3 passengers".
func plural(n int, phrase string) string {
	if n != 1 {
		return fmt.Sprintf("%d %s", n, phrase)
	}
	words := strings.SplitN(phrase, " ", 3)
	for i, w := range words {
		if strings.HasSuffix(w, "s") && (w == "passengers" || w == "flights" || w == "proposals" || w == "bookings" || w == "gates") {
			words[i] = strings.TrimSuffix(w, "s")
			break
		}
	}
	return "1 " + strings.Join(words, " ")
}

// dateOr is the date the question names, or today.
func (q Question) dateOr(today string) string {
	if q.Date == "" {
		return today
	}
	return q.Date
}

// oneAirport is the one airport code the question names, or "".
func (q Question) oneAirport() string {
	if len(q.Airports) == 1 {
		return q.Airports[0]
	}
	return ""
}
