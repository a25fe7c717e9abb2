package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// memFacts is an in-memory FactStore for the logic tests.
type memFacts struct {
	flights   map[string]*FlightRecord
	bookings  map[string]*BookingRecord
	pax       map[string]*PassengerRecord
	proposals []*Proposal
}

func (m *memFacts) Flight(_ context.Context, key string) (*FlightRecord, error) {
	if f, ok := m.flights[key]; ok {
		return f, nil
	}
	return nil, Errorf(ENOTFOUND, "flight %q not found", key)
}

func (m *memFacts) Flights(_ context.Context, f FlightFilter) ([]*FlightRecord, error) {
	var out []*FlightRecord
	for k, r := range m.flights {
		if f.Designator != "" && !strings.HasPrefix(k, f.Designator+"-") || f.Date != "" && r.Date != f.Date ||
			f.Status != "" && r.Status != f.Status || f.Airport != "" && r.Origin != f.Airport && r.Destination != f.Airport {
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *FlightRecord) int { return a.Departure().Compare(b.Departure()) })
	return out, nil
}

// SeatsLeft is as the store counts: the cabin's capacity less the
// passengers of active bookings holding it.
func (m *memFacts) SeatsLeft(_ context.Context, flight, cabin string) (int, error) {
	var f *FlightRecord
	for _, r := range m.flights {
		if r.Flight.Flight == flight {
			f = r
		}
	}
	if f == nil {
		return 0, Errorf(ENOTFOUND, "flight %q not found", flight)
	}
	left := f.Capacity[cabin]
	for _, b := range m.bookings {
		if b.Status != BookingActive {
			continue
		}
		for _, sg := range b.Segments {
			if sg.Flight == flight && sg.Cabin == cabin {
				left -= len(b.Passengers)
			}
		}
	}
	return left, nil
}

func (m *memFacts) Booking(_ context.Context, l string) (*BookingRecord, error) {
	if b, ok := m.bookings[l]; ok {
		return b, nil
	}
	return nil, Errorf(ENOTFOUND, "booking %q not found", l)
}

func (m *memFacts) BookingsOnFlight(_ context.Context, key string) ([]*BookingRecord, error) {
	var out []*BookingRecord
	for _, b := range m.bookings {
		if slices.ContainsFunc(b.Segments, func(s Segment) bool { return s.Flight == key }) {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b *BookingRecord) int { return strings.Compare(a.Locator, b.Locator) })
	return out, nil
}

func (m *memFacts) BookingsOfPassenger(_ context.Context, id string) ([]*BookingRecord, error) {
	var out []*BookingRecord
	for _, b := range m.bookings {
		if slices.ContainsFunc(b.Passengers, func(p BookingPassenger) bool { return p.ID == id }) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (m *memFacts) FindPassengers(_ context.Context, q string, limit int) ([]*PassengerRecord, error) {
	var out []*PassengerRecord
	// As the store: the name or one of its words starts with q, by name.
	for _, p := range m.pax {
		name, q := strings.ToLower(p.Name), strings.ToLower(q)
		if p.ID == q || strings.HasPrefix(name, q) || strings.Contains(name, " "+q) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *PassengerRecord) int { return strings.Compare(a.Name, b.Name) })
	return out[:min(len(out), limit)], nil
}

func (m *memFacts) Proposals(_ context.Context, f ProposalFilter) ([]*Proposal, error) {
	var out []*Proposal
	for _, p := range m.proposals {
		if (f.Flight == "" || p.Flight == f.Flight) && (f.Status == "" || p.Status == f.Status) {
			out = append(out, p)
		}
	}
	return out, nil
}

// A hub the simulator never generates: Madrid, with its own carriers.
// ask answers question at now as the node does (the question read in
// the site's zone) and returns the facts' lines and the answer.
func ask(t *testing.T, f *Facts, question string, now time.Time) ([]string, FactAnswer) {
	t.Helper()
	got, err := f.Answer(context.Background(), ParseQuestion(question, now.In(f.zone())), now)
	if err != nil {
		t.Fatal(err)
	}
	lines := make([]string, 0, len(got.Facts))
	for _, fact := range got.Facts {
		lines = append(lines, fact.Text)
	}
	return lines, got
}

// wantLines checks that the answer has one line for each of want, in
// order, each starting with it.
func wantLines(t *testing.T, question string, lines, want []string) {
	t.Helper()
	if len(lines) != len(want) {
		t.Errorf("%q: %d lines, want %d:\n%s\nwant\n%s", question, len(lines), len(want), strings.Join(lines, "\n"), strings.Join(want, "\n"))
		return
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("%q: line %d is %q, want %q", question, i, lines[i], w)
		}
	}
}

// wantText checks that the answer's lines hold every one of want and
// none of not.
func wantText(t *testing.T, question string, got FactAnswer, lines, want, not []string) {
	t.Helper()
	text := strings.Join(lines, "\n")
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%q: no %q in:\n%s\n(missing %v)", question, w, text, got.Missing)
		}
	}
	for _, n := range not {
		if strings.Contains(text, n) {
			t.Errorf("%q: %q in:\n%s", question, n, text)
		}
	}
}

func madridDay(t *testing.T) (*memFacts, time.Time, *time.Location) {
	t.Helper()
	zone, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return time.Date(2027, 3, 9, h, m, 0, 0, zone) }
	lima := time.FixedZone("", -5*3600)
	m := &memFacts{flights: map[string]*FlightRecord{}, bookings: map[string]*BookingRecord{}, pax: map[string]*PassengerRecord{}}
	add := func(des, org, dst, status string, dep, arr time.Time, off uint64) {
		f := Flight{Flight: des + "-2027-03-09", Carrier: des[:2], Number: des[2:], Date: "2027-03-09", Origin: org, Destination: dst,
			ScheduledDeparture: dep, ScheduledArrival: arr, Status: status, Gate: "K" + des[2:]}
		m.flights[FlightKey(f.Carrier, f.Number, f.Date)] = &FlightRecord{Flight: f, Version: Version{EventID: "e" + des, Offset: off}}
	}
	add("IB3170", "CDG", "MAD", FlightCancelled, at(9, 0), at(11, 5), 11)
	add("IB6651", "MAD", "LIM", FlightScheduled, at(12, 0), time.Date(2027, 3, 9, 17, 0, 0, 0, lima), 12)
	add("UX1093", "MAD", "BCN", FlightScheduled, at(11, 40), at(13, 0), 13)
	book := func(loc string, off uint64, segs []string, pax ...BookingPassenger) {
		b := Booking{Locator: loc, Status: BookingActive, Passengers: pax}
		for _, s := range segs {
			b.Segments = append(b.Segments, Segment{Flight: s + "-2027-03-09", Cabin: "Y"})
		}
		m.bookings[loc] = &BookingRecord{Booking: b, Version: Version{EventID: "b" + loc, Offset: off}}
		for _, p := range pax {
			m.pax[p.ID] = &PassengerRecord{Passenger: Passenger{ID: p.ID, Name: p.Name, Tier: p.Tier, SSR: p.SSR}, Version: Version{Offset: off}}
		}
	}
	book("QW7P2K", 21, []string{"IB3170", "IB6651"}, BookingPassenger{ID: "X1", Name: "Lucía Ferrer", Tier: "gold", SSR: []string{"WCHR"}})
	book("ZZ9Y4M", 22, []string{"IB3170"}, BookingPassenger{ID: "X2", Name: "Pál Horváth", Tier: "none"},
		BookingPassenger{ID: "X3", Name: "Ada Horváth", Tier: "none", SSR: []string{"UMNR"}})
	book("RT5K8N", 23, []string{"UX1093"}, BookingPassenger{ID: "X4", Name: "Iker Zubiri", Tier: "platinum", SSR: []string{"WCHR"}})
	return m, at(8, 0), zone
}

func TestFactsAnswerTheQuestionsStaffAsk(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone}
	cases := []struct {
		question string
		want     []string // substrings of the facts, in any line
		not      []string // must appear in no line
		cites    []string
		missing  []string
	}{
		{question: "Which wheelchair passengers are on IB3170?", want: []string{"1 passenger with WCHR/WCHS/WCHC on IB3170", "Lucía Ferrer (booking QW7P2K, gold, WCHR)"},
			not: []string{"Iker", "Horváth"}, cites: []string{"IB3170-2027-03-09", "QW7P2K"}},
		{question: "wchr pax ib 3170", want: []string{"Lucía Ferrer"}, not: []string{"Iker"}},
		{question: "Is IB6651 on time? What gate?", want: []string{"IB6651 MAD→LIM on 2027-03-09: scheduled", "gate K6651", "local (UTC-05:00)"}, cites: []string{"IB6651-2027-03-09"}},
		{question: "who on IB3170 misses their connection", want: []string{"Lucía Ferrer", "connects to IB6651", "connection broken"}, not: []string{"Pál"}},
		{question: "How many passengers are on IB3170-2027-03-09?", want: []string{"3 passengers on IB3170"}},
		{question: "any unaccompanied minors on IB3170?", want: []string{"Ada Horváth (booking ZZ9Y4M, UMNR)"}, not: []string{"Lucía"}},
		{question: "What is booking QW7P2K's itinerary?", want: []string{"Booking QW7P2K (active): Lucía Ferrer (WCHR)", "Segment 1, cabin Y: IB3170", "Segment 2, cabin Y: IB6651"}, cites: []string{"QW7P2K", "IB6651-2027-03-09"}},
		{question: "How many passengers are on cancelled flights today?", want: []string{"1 cancelled flight on 2027-03-09, with 3 passengers in all"}},
		{question: "Where is IB9999?", missing: []string{"flight IB9999"}},
		{question: "Show booking AB12CD", missing: []string{"booking AB12CD"}},
		{question: "What bookings does Iker Zubiri have?", want: []string{"Iker Zubiri (X4, platinum, WCHR): 1 booking", "Booking RT5K8N"}},
		// A city for an airport code.
		{question: "flights to Barcelona today", want: []string{"to Barcelona (BCN)", "UX1093"}, not: []string{"IB6651", "IB3170"}, cites: []string{"UX1093-2027-03-09"}},
		{question: "arrivals from paris today?", want: []string{"from paris (CDG)", "IB3170"}, not: []string{"UX1093", "IB6651"}},
		{question: "any cancelled flights out of Paris today", want: []string{"IB3170"}, not: []string{"UX1093"}},
		{question: "departures to Lima today", want: []string{"IB6651"}, not: []string{"UX1093"}},
		{question: "flights from Madrid to Barcelona today", want: []string{"from Madrid to Barcelona (BCN)", "UX1093"}, not: []string{"IB6651"}},
		{question: "flights from Paris to Barcelona today", missing: []string{"flight from Paris to Barcelona on 2027-03-09"}},
		{question: "flights to Tokyo today", missing: []string{"flight to Tokyo on 2027-03-09"}},
		{question: "flights to Barcelona", want: []string{"UX1093"}, not: []string{"IB6651"}}, // today, when it says which way
		// One flight of a list, then as a question about it.
		{question: "when is the next flight to Barcelona?", want: []string{"The next departure to Barcelona (BCN) after 08:00: UX1093 at 11:40", "UX1093 MAD→BCN"},
			not: []string{"IB6651"}, cites: []string{"UX1093-2027-03-09"}},
		{question: "what's the last departure to LIM today", want: []string{"The last departure to LIM on 2027-03-09: IB6651 at 12:00"}},
		{question: "next arrival from Paris", missing: []string{"next arrival from Paris (CDG) after 08:00 on 2027-03-09 or 2027-03-10"}}, // IB3170 is cancelled
		// A gate, not a flight.
		{question: "which flights leave from gate K1093 today", want: []string{"1 flight on 2027-03-09 at gate K1093", "UX1093"}, not: []string{"IB6651"}},
		{question: "what's at gate k6651", want: []string{"IB6651"}, not: []string{"UX1093"}},
		{question: "next departure from gate K1093", want: []string{"The next departure at gate K1093 after 08:00: UX1093 at 11:40"}},
		{question: "flights at gate Z99 today", missing: []string{"flight at gate Z99 on 2027-03-09"}},
		// All of a day's flights.
		{question: "how many flights today?", want: []string{"3 flights on 2027-03-09 (2 scheduled, 1 cancelled)"}, not: []string{"passengers"}},
		{question: "how many passengers are flying today", want: []string{"3 flights on 2027-03-09 (2 scheduled, 1 cancelled), with 4 passengers in all"}},
	}
	for _, c := range cases {
		t.Run(c.question, func(t *testing.T) {
			q := ParseQuestion(c.question, now.In(zone))
			got, err := f.Answer(context.Background(), q, now)
			if err != nil {
				t.Fatal(err)
			}
			text := ""
			var cites []string
			for _, fact := range got.Facts {
				text += fact.Text + "\n"
				cites = append(cites, fact.Cite.ID)
				if fact.Cite.Offset == 0 && fact.Cite.Kind != "count" {
					t.Errorf("fact %q cites %s without a log version", fact.Text, fact.Cite.ID)
				}
			}
			for _, w := range c.want {
				if !strings.Contains(text, w) {
					t.Errorf("facts lack %q:\n%s", w, text)
				}
			}
			for _, w := range c.not {
				if strings.Contains(text, w) {
					t.Errorf("facts contain %q:\n%s", w, text)
				}
			}
			for _, w := range c.cites {
				if !slices.Contains(cites, w) {
					t.Errorf("no citation of %s in %v", w, cites)
				}
			}
			if !slices.Equal(got.Missing, c.missing) {
				t.Errorf("missing = %v, want %v", got.Missing, c.missing)
			}
			if len(c.missing) > 0 && len(got.Facts) > 0 {
				t.Errorf("facts for a question about something that does not exist: %s", text)
			}
		})
	}
}

func TestParseQuestionTellsLocatorsFromWords(t *testing.T) {
	now := time.Date(2027, 3, 9, 8, 0, 0, 0, time.UTC)
	q := ParseQuestion("What does the POLICY say about hotel vouchers for overnight cancellations?", now)
	if q.Structured() || len(q.Flights) > 0 || slices.ContainsFunc(q.Locators, func(l LocatorMention) bool { return l.Sure }) {
		t.Errorf("a policy question read as structured: %+v", q)
	}
	q = ParseQuestion("status of lh 400 tomorrow", now)
	if len(q.Flights) != 1 || q.Flights[0] != (FlightMention{Designator: "LH400", Date: "2027-03-10"}) {
		t.Errorf("flights = %+v", q.Flights)
	}
	q = ParseQuestion("compensation under EU 261 for a 3 hour delay", now)
	if len(q.Flights) != 0 {
		t.Errorf("EU 261 read as a flight: %+v", q.Flights)
	}
	// A date's year, or a short word before a number, is not a flight.
	for text, want := range map[string][]FlightMention{
		"any delays on 2027-03-10":              nil,
		"which flights leave at 10 today":       nil,
		"is OS 87 on 2027-03-10 late":           {{Designator: "OS87", Date: "2027-03-10"}},
		"gate of os87-2027-03-10":               {{Designator: "OS87", Date: "2027-03-10"}},
		"AT 800 and LH400 to JFK on 2027-03-09": {{Designator: "AT800", Date: "2027-03-09"}, {Designator: "LH400", Date: "2027-03-09"}},
	} {
		if got := ParseQuestion(text, now).Flights; !slices.Equal(got, want) {
			t.Errorf("%q: flights %+v, want %+v", text, got, want)
		}
	}
}

// A status word in a question about the procedure ("after a cancellation")
// does not make it a list of the day's cancelled flights; a count, a day
// or the word flights does.
func TestParseQuestionTellsProcedureFromTheDaysFlights(t *testing.T) {
	now := time.Date(2027, 3, 9, 8, 0, 0, 0, time.UTC)
	for text, want := range map[string]bool{
		"in which order do we rebook passengers after a cancellation?":        false,
		"passenger stuck overnight after a cancellation, do we pay the hotel": false,
		"do we hand out hotel vouchers when a flight is cancelled overnight":  false,
		"How many passengers are on cancelled flights today?":                 true,
		"which flights were cancelled today":                                  true,
		"cancellations today":                                                 true,
		"wheelchair passengers on cancelled flights":                          true,
		"how many cancellations so far":                                       true,
		"which passengers were on the flight cancelled 2027-03-09":            true,
		"whats cancelled this morning?":                                       true,
		"what's delayed right now":                                            true,
		"anything cancelled?":                                                 true,
		"which flights are running late at the moment?":                       true,
		"anything late?":       true,
		"any delays right now": true,
		"what's running late":  true,
		"what do we owe passengers when a flight is running late": false,
		"what must we do when flights to London are cancelled":    false,
	} {
		if got := ParseQuestion(text, now).Structured(); got != want {
			t.Errorf("%q: structured %v, want %v", text, got, want)
		}
	}
	// The day's flights to or from one airport, whatever their status.
	for text, want := range map[string][3]bool{ // lists, to, from
		"departures to LHR today":                                  {true, true, false},
		"arrivals from CDG on 2027-03-09":                          {true, false, true},
		"flights at VIE today":                                     {true, false, false},
		"what is the procedure for flights to USA":                 {false, false, false},
		"LHR flights":                                              {false, false, false},
		"is the London flight on time":                             {true, false, false}, // either way
		"how many passengers are flying to LHR today":              {true, true, false},
		"who flies from CDG today":                                 {true, false, true},
		"any Paris departures delayed?":                            {true, true, false},
		"the Tokyo arrivals":                                       {true, false, true},
		"the late flight":                                          {false, false, false},
		"what is the procedure when the Paris flight is cancelled": {false, false, false},
	} {
		q := ParseQuestion(text, now)
		if got := [3]bool{q.ListsAirport, q.ToAirport, q.FromAirport}; got != want || q.Structured() != want[0] {
			t.Errorf("%q: lists, to, from = %v (structured %v), want %v", text, got, q.Structured(), want)
		}
	}
	// A place named instead of a code: which airports, which way (in a
	// list of flights), and not a person's name.
	for text, want := range map[string]string{ // place, airports, to/from, names
		"departures to New York today":                 "New York [ISP JFK LGA NYS SWF] to []",
		"flights from Zürich tomorrow":                 "Zürich [ZRH] from []",
		"arrivals from Heathrow today":                 "Heathrow [LHR] from []",
		"flights at Vienna today":                      "Vienna [VIE] - []",
		"is Charlotte Weber flying to Charlotte today": "Charlotte [CLT] - [Charlotte Weber]",
		"bookings for Charlotte Weber":                 "- [] - [Charlotte Weber]",
		"departures to CDG today":                      "- [] to []", // the code itself
		"flights to split today":                       "- [] - []",  // a common word, without a capital
		"flights to Split today":                       "Split [SPU] to []",
		"what do we do in the next hour":               "- [] - []",
		"is the London flight on time":                 "London [BQH LCY LGW LHR LOZ LTN NHT STN YXU] - []",
		"is the delayed Chicago flight boarding":       "Chicago [AUZ DPA GYY LOT MDW ORD PWK RFD UGN] - []",
		"any New York departures delayed":              "New York [ISP JFK LGA NYS SWF] to []",
		"did the split flight leave":                   "- [] - []", // a common word
		"did the Split flight leave":                   "Split [SPU] - []",
		"the first flight today":                       "- [] - []",
	} {
		q := ParseQuestion(text, now)
		place, codes, way := "-", []string(nil), "-"
		if q.Place != nil {
			place, codes = q.Place.Name, q.Place.Airports
		}
		switch {
		case q.ToAirport && !q.FromAirport:
			way = "to"
		case q.FromAirport && !q.ToAirport:
			way = "from"
		}
		if got := fmt.Sprintf("%s %v %s %v", place, codes, way, q.Names); got != want {
			t.Errorf("%q: %s, want %s", text, got, want)
		}
	}
	// Some passengers on every flight of a day; not a procedure.
	for text, want := range map[string]bool{
		"how many passengers need wheelchairs today":                      true,
		"gold and silver passengers today":                                true,
		"who misses their connection today":                               true,
		"connections at risk today":                                       true,
		"which passengers are at risk of missing their connection":        true, // today's
		"who has a tight connection?":                                     true,
		"how do we handle misconnecting passengers":                       false,
		"what counts as a tight connection":                               false,
		"is a 40 minute connection too short":                             false,
		"are tight connections a problem":                                 false,
		"who missed their connection last week":                           false,
		"how many misconnects in October":                                 false,
		"when must we inform the assistance service for a WCHR passenger": false,
		"wheelchair passengers on OS411 today":                            false, // one flight
		"gold passengers on cancelled flights today":                      false, // by status
	} {
		if got := ParseQuestion(text, now).AcrossDay(); got != want {
			t.Errorf("%q: across the day %v, want %v", text, got, want)
		}
	}
	// A name typed in lower case is guessed from word pairs, only in a
	// question about people.
	for text, want := range map[string][]string{
		"who is tomas novak booked on":                 {"tomas novak"},
		"where is maria de la cruz flying":             {"maria de", "de la", "la cruz"},
		"in which order do we rebook after a delay":    nil,
		"who is rebooked first after a cancellation":   {"first after"},
		"Who is Tomas Novak booked on":                 nil,              // a name already
		"what is the hotel policy for stranded people": {"hotel policy"}, // only an exact name counts
	} {
		if got := ParseQuestion(text, now).NameGuesses; !slices.Equal(got, want) {
			t.Errorf("%q: name guesses %q, want %q", text, got, want)
		}
	}
	// A time of day, in the site's zone.
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2027, 3, 9, 9, 15, 0, 0, cet)
	for text, want := range map[string]*TimeWindow{
		"departures in the next hour":               {From: at, To: at.Add(time.Hour)},
		"what flights leave in the next two hours":  {From: at, To: at.Add(2 * time.Hour)},
		"arrivals in the coming half hour":          {From: at, To: at.Add(30 * time.Minute), Arrivals: true},
		"departures over the next couple of hours":  {From: at, To: at.Add(2 * time.Hour)},
		"what lands in the next 90 mins":            {From: at, To: at.Add(90 * time.Minute), Arrivals: true},
		"departures in the next 1.5 hrs":            {From: at, To: at.Add(90 * time.Minute)},
		"anything leaving in the next few minutes":  {From: at, To: at.Add(3 * time.Minute)},
		"arrivals in the coming hours":              {From: at, To: at.Add(3 * time.Hour), Arrivals: true},
		"is there a later flight to Vienna":         {From: at, To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"any later direct departures to Lisbon?":    {From: at, To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"arrivals later today":                      {From: at, To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet), Arrivals: true},
		"later flights on 2027-03-12":               nil, // another day: all of it
		"flights later than planned":                nil,
		"what lands in the next 30 minutes":         {From: at, To: at.Add(30 * time.Minute), Arrivals: true},
		"what leaves after 12:00":                   {From: time.Date(2027, 3, 9, 12, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"arrivals between 10 and 12:30":             {From: time.Date(2027, 3, 9, 10, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 12, 30, 0, 0, cet), Arrivals: true},
		"flights before 9 on 2027-03-10":            {From: time.Date(2027, 3, 10, 0, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 9, 0, 0, 0, cet)},
		"what leaves after 25:00":                   nil,
		"compensation after 3 hours of delay":       nil,
		"departures after 3pm":                      {From: time.Date(2027, 3, 9, 15, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"how many departures until 10am":            {From: time.Date(2027, 3, 9, 0, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 10, 0, 0, 0, cet)},
		"arrivals between 9.30 a.m. and noon":       {From: time.Date(2027, 3, 9, 9, 30, 0, 0, cet), To: time.Date(2027, 3, 9, 12, 0, 0, 0, cet), Arrivals: true},
		"departures before noon":                    {From: time.Date(2027, 3, 9, 0, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 12, 0, 0, 0, cet)},
		"flights after midday":                      {From: time.Date(2027, 3, 9, 12, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"arrivals between 8pm and midnight":         {From: time.Date(2027, 3, 9, 20, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet), Arrivals: true},
		"departures after 12 am":                    {From: time.Date(2027, 3, 9, 0, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"departures after 13pm":                     nil,
		"departures between 2 and 4pm":              {From: time.Date(2027, 3, 9, 14, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 16, 0, 0, 0, cet)},
		"departures between 10 and 2pm":             {From: time.Date(2027, 3, 9, 10, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 14, 0, 0, 0, cet)},
		"departures between 10pm and 12am":          {From: time.Date(2027, 3, 9, 22, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"departures between 18:00 and 24:00":        {From: time.Date(2027, 3, 9, 18, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"departures until 12 midnight":              {From: time.Date(2027, 3, 9, 0, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"departures after 9 p.m?":                   {From: time.Date(2027, 3, 9, 21, 0, 0, 0, cet), To: time.Date(2027, 3, 10, 0, 0, 0, 0, cet)},
		"departures from 2pm to 4pm":                {From: time.Date(2027, 3, 9, 14, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 16, 0, 0, 0, cet)},
		"arrivals from 14:00-16:30":                 {From: time.Date(2027, 3, 9, 14, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 16, 30, 0, 0, cet), Arrivals: true},
		"departures from 9 until noon":              {From: time.Date(2027, 3, 9, 9, 0, 0, 0, cet), To: time.Date(2027, 3, 9, 12, 0, 0, 0, cet)},
		"flights delayed between 10 and 20 minutes": nil,
	} {
		q := ParseQuestion(text, at)
		switch {
		case want == nil && q.Window != nil:
			t.Errorf("%q: window %+v, want none", text, *q.Window)
		case want != nil && (q.Window == nil || !q.Window.From.Equal(want.From) || !q.Window.To.Equal(want.To) || q.Window.Arrivals != want.Arrivals):
			t.Errorf("%q: window %+v, want %+v", text, q.Window, *want)
		case want != nil && !q.Structured():
			t.Errorf("%q: not read as a list of flights", text)
		case want != nil && q.Window.Scheduled == q.Window.From.Equal(at):
			// Every window here that starts at now is one from now.
			t.Errorf("%q: window of the clock %v, want %v", text, q.Window.Scheduled, !q.Window.From.Equal(at))
		}
	}
	// Free seats, and a name with its possessive.
	if q := ParseQuestion("is LH402 full?", now); !q.Seats || len(q.Flights) != 1 {
		t.Errorf("\"is LH402 full?\": seats %v, flights %v", q.Seats, q.Flights)
	}
	for _, text := range []string{"is Maximilian Auer's flight on time", "is Maximilian Auer’s flight on time"} {
		if q := ParseQuestion(text, now); !slices.Equal(q.Names, []string{"Maximilian Auer"}) {
			t.Errorf("%q: names %q", text, q.Names)
		}
	}
	// Other words for a status ask for the same list.
	for text, want := range map[string]string{
		"which flights are running late at the moment?": FlightDelayed,
		"any delays right now":                          FlightDelayed,
		"how many diversions today":                     FlightDiverted,
		"what's boarding now":                           FlightBoarding,
		"which arrivals are late this afternoon":        FlightDelayed,
		"are any departures late?":                      FlightDelayed,
	} {
		if got := ParseQuestion(text, now).Status; got != want {
			t.Errorf("%q: status %q, want %q", text, got, want)
		}
	}
}

// TestFactsListTheSiteArrivalsOrDepartures: at a site that knows its
// airport, a day's list asked as arrivals holds only the flights that land
// there, and one asked as departures only those that leave.
func TestFactsListTheSiteArrivalsOrDepartures(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	cases := []struct {
		question  string
		want, not []string
	}{
		{"cancelled arrivals today", []string{"1 cancelled flight", "arriving at MAD", "IB3170"}, []string{"UX1093", "IB6651"}},
		{"how many arrivals today?", []string{"1 flight on 2027-03-09 arriving at MAD (1 cancelled)"}, []string{"UX1093", "IB6651"}},
		{"how many departures today", []string{"2 flights on 2027-03-09 departing from MAD (2 scheduled)", "UX1093", "IB6651"}, []string{"IB3170"}},
		{"arrivals from paris today", []string{"IB3170"}, []string{"UX1093", "IB6651"}},
		{"how many flights today", []string{"3 flights on 2027-03-09 (2 scheduled, 1 cancelled)", "IB3170", "UX1093", "IB6651"}, nil},
		{"how many arrivals and departures today", []string{"3 flights on 2027-03-09 (2 scheduled, 1 cancelled)"}, nil},
		{"departures today", []string{"2 flights on 2027-03-09 departing from MAD (2 scheduled)", "UX1093", "IB6651"}, []string{"IB3170", "passenger"}},
		{"show me arrivals", []string{"1 flight on 2027-03-09 arriving at MAD", "IB3170"}, []string{"UX1093", "passenger"}},
		{"list today's arrivals", []string{"IB3170"}, []string{"UX1093", "passenger"}},
		{"which arrivals are cancelled?", []string{"1 cancelled flight on 2027-03-09 arriving at MAD", "IB3170"}, []string{"UX1093"}},
		{"which departures are cancelled?", []string{"0 cancelled flights on 2027-03-09 departing from MAD"}, []string{"IB3170", "UX1093"}},
		// The site named as where flights go: a part of the day is then
		// its arrivals; named as where they come from, its departures.
		{"which flights to Madrid are cancelled this morning?", []string{"1 cancelled flight on 2027-03-09", "arriving 05:00–12:00 at MAD", "IB3170"}, []string{"UX1093", "departing"}},
		{"flights into MAD this morning", []string{"arriving 05:00–12:00 at MAD", "IB3170"}, []string{"UX1093", "departing"}},
		{"flights from Madrid this morning", []string{"departing 05:00–12:00 from MAD", "UX1093"}, []string{"IB3170", "arriving"}},
		// A booking on two of the day's flights counts once.
		{"how many bookings today", []string{"3 flights on 2027-03-09 (2 scheduled, 1 cancelled), with 3 bookings of 4 passengers in all",
			"IB3170 CDG→MAD", "; 2 bookings of 3 passengers"}, nil},
		{"how many bookings are there", []string{"with 3 bookings of 4 passengers in all"}, nil},
		{"how many bookings on departures today", []string{"2 flights on 2027-03-09 departing from MAD (2 scheduled), with 2 bookings of 2 passengers in all"}, []string{"IB3170"}},
	}
	for _, c := range cases {
		t.Run(c.question, func(t *testing.T) {
			lines, got := ask(t, f, c.question, now)
			wantText(t, c.question, got, lines, c.want, c.not)
		})
	}
}

// A day with more flights than a list shows: today's list starts at the
// flights still to come (arrivals in the order they land), and says how
// many earlier ones it left out; near the day's end it shows the last.
func TestFactsLongListsOfTodayStartAtNow(t *testing.T) {
	zone, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	day := func(h, m int) time.Time { return time.Date(2027, 7, 14, h, m, 0, 0, zone) }
	m := &memFacts{flights: map[string]*FlightRecord{}, bookings: map[string]*BookingRecord{}, pax: map[string]*PassengerRecord{}}
	add := func(des, org, dst string, dep, arr time.Time) {
		f := Flight{Flight: des + "-2027-07-14", Carrier: des[:2], Number: des[2:], Date: "2027-07-14", Origin: org, Destination: dst,
			ScheduledDeparture: dep, ScheduledArrival: arr, Status: FlightScheduled}
		m.flights[FlightKey(f.Carrier, f.Number, f.Date)] = &FlightRecord{Flight: f, Version: Version{EventID: "e" + des, Offset: uint64(len(m.flights) + 1)}}
	}
	// 60 departures every 20 minutes from 05:00; 60 arrivals every 20
	// minutes from 05:30 whose landing order is not their leaving order
	// (the first ones are the longest flights).
	for i := range 60 {
		dep := day(5, 0).Add(time.Duration(i) * 20 * time.Minute)
		add(fmt.Sprintf("AA%d", 100+i), "ORD", "DEN", dep, dep.Add(150*time.Minute))
		arr := day(5, 30).Add(time.Duration(i) * 20 * time.Minute)
		add(fmt.Sprintf("UA%d", 500+i), "LAX", "ORD", arr.Add(-time.Duration(240-3*i)*time.Minute), arr)
	}
	f := &Facts{Store: m, Rules: DefaultRebookRules(), Zone: zone, Hub: "ORD"}
	answer := func(question string, now time.Time) []string {
		t.Helper()
		lines, _ := ask(t, f, question, now)
		return lines
	}
	check := func(question string, now time.Time, want ...string) {
		t.Helper()
		wantLines(t, question, answer(question, now), want)
	}
	fromTo := func(head, note, first, last, tail string) []string {
		w := make([]string, 28)
		w[0], w[1], w[2], w[26], w[27] = head, note, first, last, tail
		return w
	}
	// At 12:10 the first departure still to come is AA122 at 12:20, the
	// first arrival UA520 landing at 12:10.
	noon := day(12, 10).UTC() // as the node passes it
	check("departures today", noon, fromTo("60 flights on 2027-07-14 departing from ORD", "Listing from Wed 12:10 CDT on: 22 flights departing earlier left out",
		"AA122 ORD→DEN", "AA146 ORD→DEN", "… and 13 more flights (listing 25 of 60)")...)
	check("show me today's arrivals", noon, fromTo("60 flights on 2027-07-14 arriving at ORD", "Listing from Wed 12:10 CDT on: 20 flights arriving earlier left out",
		"UA520 LAX→ORD", "UA544 LAX→ORD", "… and 15 more flights (listing 25 of 60)")...)
	// Late in the day, the last 25.
	late := day(23, 0)
	got := answer("departures today", late)
	if len(got) != 27 || got[1] != "Listing the last 25: 35 flights departing earlier left out" || !strings.HasPrefix(got[2], "AA135 ") || !strings.HasPrefix(got[26], "AA159 ") {
		t.Errorf("late in the day, the last 25 departures:\n%s", strings.Join(got, "\n"))
	}
	// Before the first flight, and another day, start at the beginning.
	early := make([]string, 27)
	early[0], early[1], early[25], early[26] = "60 flights on 2027-07-14 departing from ORD", "AA100 ORD→DEN", "AA124 ORD→DEN", "… and 35 more flights"
	check("departures today", day(4, 0), early...)
	if got := answer("departures on 2027-07-14", day(4, 0).AddDate(0, 0, 1)); strings.Contains(strings.Join(got, "\n"), "Listing from") {
		t.Errorf("a day not today starts later:\n%s", strings.Join(got, "\n"))
	}
	// Only the flights with the passengers asked for are listed, and the
	// count left out is of those: a gold passenger on every other
	// departure, 30 flights listed, 11 of them before AA122.
	for i := 0; i < 60; i += 2 {
		loc, id := fmt.Sprintf("G%05d", i), fmt.Sprintf("P%d", i)
		b := Booking{Locator: loc, Status: BookingActive, Passengers: []BookingPassenger{{ID: id, Name: "Pat Gold", Tier: "gold"}},
			Segments: []Segment{{Flight: fmt.Sprintf("AA%d-2027-07-14", 100+i), Cabin: "Y"}}}
		m.bookings[loc] = &BookingRecord{Booking: b, Version: Version{EventID: "b" + loc, Offset: uint64(200 + i)}}
		m.pax[id] = &PassengerRecord{Passenger: Passenger{ID: id, Name: "Pat Gold", Tier: "gold"}, Version: Version{Offset: uint64(200 + i)}}
	}
	// A flight and its passenger are two lines.
	got = answer("gold passengers on departures today", noon)
	if len(got) < 4 || got[0] != "30 gold passengers on 30 flights departing from ORD of 2027-07-14" ||
		got[1] != "Listing from Wed 12:10 CDT on: 11 gold passengers on 11 flights departing earlier left out" ||
		!strings.HasPrefix(got[2], "AA122 ") || got[3] != "Pat Gold (booking G00022, gold)" ||
		got[len(got)-1] != "… and 6 gold passengers on 6 more flights (listing 13 of 30 flights)" {
		t.Errorf("the gold passengers from 12:10 on:\n%s", strings.Join(got, "\n"))
	}
	// A list of flights for some passengers skips the flights without
	// any, and what it leaves out counts only the flights it lists.
	for i := range 60 {
		fl := &m.flights[fmt.Sprintf("AA%d-2027-07-14", 100+i)].Flight
		at := fl.ScheduledDeparture.Add(5 * time.Minute)
		fl.Status, fl.EstimatedDeparture = FlightDelayed, &at
	}
	got = answer("delayed departures with gold passengers today", day(7, 0))
	if len(got) != 28 || got[0] != "60 delayed flights on 2027-07-14 departing from ORD, with 30 gold passengers in all, on 30 of them" ||
		got[1] != "Listing from Wed 07:00 CDT on: 3 delayed flights departing earlier left out" || !strings.HasPrefix(got[2], "AA106 ") ||
		got[27] != "… and 2 more flights (listing 25 of 30)" {
		t.Errorf("the delayed departures with gold passengers from 07:00 on:\n%s", strings.Join(got, "\n"))
	}
	got = answer("delayed departures with gold passengers today", noon)
	if len(got) != 27 || got[1] != "Listing the last 25: 5 delayed flights departing earlier left out" || !strings.HasPrefix(got[2], "AA110 ") {
		t.Errorf("the last 25 delayed departures with gold passengers:\n%s", strings.Join(got, "\n"))
	}
	// Late in the day, the last that fit.
	got = answer("gold passengers on departures today", day(23, 0))
	if len(got) < 3 || got[1] != "Listing the last 12: 18 gold passengers on 18 flights departing earlier left out" || !strings.HasPrefix(got[2], "AA136 ") {
		t.Errorf("the gold passengers late in the day:\n%s", strings.Join(got, "\n"))
	}
}

// A surname alone: every passenger of it with their bookings' flights,
// one of them as a question naming that person, and no answer at all
// for a capitalised word no passenger has (it may not be a name).
func TestFactsPassengersOfASurname(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	store.pax["X5"] = &PassengerRecord{Passenger: Passenger{ID: "X5", Name: "Marta Horváthová"}, Version: Version{Offset: 30}}
	ask := func(question string) (FactAnswer, Question) {
		t.Helper()
		q := ParseQuestion(question, now.In(zone))
		got, err := f.Answer(context.Background(), q, now)
		if err != nil {
			t.Fatal(err)
		}
		return got, q
	}
	text := func(a FactAnswer) string {
		var lines []string
		for _, fact := range a.Facts {
			lines = append(lines, fact.Text)
		}
		return strings.Join(lines, "\n")
	}
	for _, question := range []string{"bookings for Horváth", "any passengers named Horváth?", "find Horváth's booking"} {
		got, q := ask(question)
		if q.Surname != "Horváth" {
			t.Errorf("%q: surname %q", question, q.Surname)
		}
		want := "2 passengers with the surname Horváth\nAda Horváth (X3, UMNR): 1 booking: ZZ9Y4M (active, IB3170-2027-03-09)\nPál Horváth (X2): 1 booking: ZZ9Y4M (active, IB3170-2027-03-09)"
		if text(got) != want {
			t.Errorf("%q:\n%s\nwant\n%s", question, text(got), want)
		}
	}
	got, q := ask("where is Mr Zubiri?")
	if len(q.Names) > 0 || !strings.HasPrefix(text(got), "Iker Zubiri (X4, platinum, WCHR): 1 booking") || !strings.Contains(text(got), "Booking RT5K8N") {
		t.Errorf("one passenger of the surname:\n%s", text(got))
	}
	for question, want := range map[string][]string{"what is Passenger Lucía Ferrer booked on": {"Lucía Ferrer"}, "is Dr Iker Zubiri on UX1093": {"Iker Zubiri"}, "where is May Lin": {"May Lin"}} {
		if q := ParseQuestion(question, now); !slices.Equal(q.Names, want) {
			t.Errorf("%q: names %q, want %q", question, q.Names, want)
		}
	}
	for _, question := range []string{"what does a passenger with a Schengen visa need", "Bookings for Monday", "who looks after Lufthansa passengers"} {
		got, q := ask(question)
		if len(got.Facts) > 0 || len(got.Missing) > 0 {
			t.Errorf("%q (surname %q) answered:\n%s %v", question, q.Surname, text(got), got.Missing)
		}
	}
}

// A flight named by its time of day is the one scheduled nearest it
// (within half an hour), to or from where the question says, cancelled
// or not.
func TestFactsFlightOfATimeOfDay(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	cases := []struct {
		question  string
		want, not []string
	}{
		{"status of the 11:40 to Barcelona", []string{"The 11:40 departure to Barcelona (BCN) on 2027-03-09: UX1093, scheduled at 11:40", "UX1093 MAD→BCN"}, []string{"IB6651"}},
		{"is the 11.30 flight to Barcelona full?", []string{"The 11:30 departure to Barcelona (BCN) on 2027-03-09: UX1093, scheduled at 11:40"}, []string{"IB6651"}},
		{"where is the 11:05 from Paris", []string{"The 11:05 arrival from Paris (CDG) on 2027-03-09: IB3170, scheduled at 11:05", "IB3170 CDG→MAD on 2027-03-09: cancelled"}, nil},
		{"what gate is the 12:00 departure", []string{"The 12:00 departure on 2027-03-09: IB6651", "gate K6651"}, []string{"UX1093"}},
	}
	for _, c := range cases {
		q := ParseQuestion(c.question, now.In(zone))
		if q.Pick != "at" {
			t.Errorf("%q: pick %q %q", c.question, q.Pick, q.PickClock)
		}
		got, err := f.Answer(context.Background(), q, now)
		if err != nil {
			t.Fatal(err)
		}
		var text string
		for _, fact := range got.Facts {
			text += fact.Text + "\n"
		}
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%q: no %q in:\n%s%v", c.question, w, text, got.Missing)
			}
		}
		for _, n := range c.not {
			if strings.Contains(text, n) {
				t.Errorf("%q: %q in:\n%s", c.question, n, text)
			}
		}
	}
	got, err := f.Answer(context.Background(), ParseQuestion("the 15:00 to Barcelona", now.In(zone)), now)
	if err != nil || len(got.Facts) != 0 || !slices.Equal(got.Missing, []string{"departure to Barcelona (BCN) scheduled within 30 minutes of 15:00 on 2027-03-09"}) {
		t.Errorf("no flight near 15:00: %v %v %v", got.Facts, got.Missing, err)
	}
	// A time window stays one.
	if q := ParseQuestion("flights to Barcelona after 10:30", now.In(zone)); q.Pick != "" || q.Window == nil {
		t.Errorf("a window read as a flight's time: pick %q, window %v", q.Pick, q.Window)
	}
}

// The flights changed since a time: the latest change first, narrowed by
// status or place, none when nothing changed; not a question about a
// procedure or one flight.
func TestFactsFlightsChangedSince(t *testing.T) {
	store, now, zone := madridDay(t) // now is 08:00 in Madrid
	for key, at := range map[string]time.Time{
		"IB3170-2027-03-09": now.Add(-20 * time.Minute),
		"UX1093-2027-03-09": now.Add(-50 * time.Minute),
		"IB6651-2027-03-09": now.Add(-3 * time.Hour),
	} {
		store.flights[key].Version.EventTime = at
	}
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	cases := []struct {
		question string
		want     []string
	}{
		{"what changed in the last hour?", []string{"2 flights changed since Tue 07:00 CET (the newest change to each)", "IB3170 CDG→MAD on 2027-03-09: cancelled; departure Tue 09:00 CET",
			"(changed 07:40)", "UX1093 MAD→BCN on 2027-03-09: scheduled", "(changed 07:10)"}},
		{"any updates in the past 30 minutes", []string{"1 flight changed since Tue 07:30 CET", "IB3170"}},
		{"what's new since 4:30", []string{"3 flights changed since Tue 04:30 CET", "IB6651"}},
		{"any cancellations in the last 2 hours", []string{"1 flight changed since Tue 06:00 CET and now cancelled (the newest change to each)", "IB3170"}},
		{"what changed on flights to Barcelona in the last hour", []string{"1 flight to Barcelona (BCN) changed since", "UX1093"}},
		{"anything happened in the last 10 minutes", []string{"0 flights changed since Tue 07:50 CET"}},
		{"what changed over the past couple of hours", []string{"2 flights changed since Tue 06:00 CET", "IB3170", "UX1093"}},
		{"any changes in the last half hour", []string{"1 flight changed since Tue 07:30 CET", "IB3170"}},
	}
	for _, c := range cases {
		q := ParseQuestion(c.question, now.In(zone))
		if !q.Structured() {
			t.Errorf("%q: not a question the state answers", c.question)
		}
		got, err := f.Answer(context.Background(), q, now)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, fact := range got.Facts {
			lines = append(lines, fact.Text)
		}
		text := strings.Join(lines, "\n")
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%q: no %q in:\n%s", c.question, w, text)
			}
		}
		if strings.Contains(c.question, "last hour?") && (len(lines) != 3 || !strings.HasPrefix(lines[1], "IB3170")) {
			t.Errorf("%q: the newest change first, got:\n%s", c.question, text)
		}
	}
	for _, question := range []string{"what must we do when a gate changes in the last hour before departure", "has IB3170 changed in the last hour", "flights to New York"} {
		if q := ParseQuestion(question, now.In(zone)); q.Since != nil {
			t.Errorf("%q read as the changes since %v", question, q.Since)
		}
	}
}

// A country names every airport in it, but not the hub's own: "flights
// to Spain" at Madrid go elsewhere in Spain. A capitalised place no name
// knows is no flight, not every flight of the day.
func TestFactsCountriesAndUnknownPlaces(t *testing.T) {
	store, now, zone := madridDay(t)
	store.flights["UX1093-2027-03-09"].Capacity = map[string]int{"J": 12, "Y": 150}
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	cases := []struct {
		question  string
		want, not []string
		missing   string
	}{
		{"flights to Spain today", []string{"1 flight on 2027-03-09 to Spain (BCN)", "UX1093"}, []string{"IB3170", "IB6651"}, ""},
		// One flight asked for by where it goes: the day's, with times.
		{"when does the flight from Paris land", []string{"from Paris (CDG)", "IB3170 CDG→MAD"}, []string{"UX1093", "IB6651"}, ""},
		{"is there a flight to Barcelona with seats in business", []string{"to Barcelona (BCN)", "UX1093 MAD→BCN", "seats free by cabin: J 12 of 12, Y 149 of 150"}, []string{"IB3170", "IB6651"}, ""},
		{"arrivals from France", []string{"from France (CDG)", "IB3170"}, []string{"UX1093"}, ""},
		{"any departures to peru today?", []string{"to peru (LIM)", "IB6651"}, []string{"UX1093"}, ""},
		// A continent names its countries' airports, the hub's left out.
		{"any flights to South America today?", []string{"to South America (LIM)", "IB6651"}, []string{"UX1093", "IB3170"}, ""},
		{"flights to Europe today", []string{"to Europe (BCN)", "UX1093"}, []string{"IB6651"}, ""},
		{"arrivals from Europe", []string{"from Europe (CDG)", "IB3170"}, []string{"IB6651"}, ""},
		{"any arrivals from Asia running late", []string{"0 flights delayed or at least 15 minutes late on arrival on 2027-03-09 from Asia"}, nil, ""},
		{"flights to the US today", nil, nil, "flight to the US on 2027-03-09"},
		// A region names its countries' airports too.
		{"flights to Latin America today", []string{"to Latin America (LIM)", "IB6651"}, []string{"UX1093", "IB3170"}, ""},
		{"arrivals from the Middle East", nil, nil, "flight from the Middle East on 2027-03-09"},
		{"any flights to the Middle East delayed", []string{"0 delayed flights on 2027-03-09 to the Middle East"}, nil, ""},
		{"any flights to the Moon delayed", nil, nil, "flight to the Moon (no airport of that name)"},
		// Whether anything going somewhere is so, and which way.
		{"is anything going to Peru delayed", []string{"0 delayed flights on 2027-03-09 to Peru"}, nil, ""},
		{"anything to LIM cancelled?", []string{"0 cancelled flights on 2027-03-09 to LIM"}, nil, ""},
		{"cancelled flights to Paris today", []string{"0 cancelled flights on 2027-03-09 to Paris"}, []string{"IB3170"}, ""},
		{"cancelled flights from Paris today", []string{"1 cancelled flight on 2027-03-09 from Paris (CDG)", "IB3170"}, nil, ""},
		{"list flights to Narnia", nil, nil, "flight to Narnia (no airport of that name)"},
		{"when is the next flight to Atlantis", nil, nil, "flight to Atlantis (no airport of that name)"},
		{"cancelled flights from Gondor today", nil, nil, "flight from Gondor (no airport of that name)"},
	}
	for _, c := range cases {
		lines, got := ask(t, f, c.question, now)
		if c.missing != "" {
			if len(got.Facts) != 0 || !slices.Equal(got.Missing, []string{c.missing}) {
				t.Errorf("%q: facts %q, missing %q, want only %q missing", c.question, lines, got.Missing, c.missing)
			}
			continue
		}
		wantText(t, c.question, got, lines, c.want, c.not)
	}
	// A large city's own name, where airportsdata files its airport under
	// another ("New Delhi").
	for name, code := range map[string]string{"delhi": "DEL", "new delhi": "DEL", "taichung": "RMQ"} {
		if got := PlaceAirports(name); !slices.Contains(got, code) {
			t.Errorf("PlaceAirports(%q) = %v, want %s among them", name, got, code)
		}
	}
	// A city's name stays the name of its airports.
	for code, want := range map[string]string{"CDG": "paris", "MAD": "madrid", "JFK": "new york"} {
		if got := PlaceName(code); got != want {
			t.Errorf("PlaceName(%s) = %q, want %q", code, got, want)
		}
	}
}

// The other common service codes answer in words staff use: infants,
// pets, medical cases, special meals.
func TestFactsOtherServiceRequests(t *testing.T) {
	store, now, zone := madridDay(t)
	store.bookings["IN1F4N"] = &BookingRecord{Booking: Booking{Locator: "IN1F4N", Status: BookingActive,
		Passengers: []BookingPassenger{{ID: "X9", Name: "Mila Ruiz", SSR: []string{"INFT"}}, {ID: "X10", Name: "Eva Ruiz", SSR: []string{"KSML", "PETC"}}},
		Segments:   []Segment{{Flight: "UX1093-2027-03-09", Cabin: "Y"}}}, Version: Version{EventID: "bIN1F4N", Offset: 40}}
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for question, want := range map[string][]string{
		"how many infants today":         {"1 passenger with INFT on 1 flight of 2027-03-09"},
		"any pets on UX1093?":            {"1 passenger with PETC/AVIH on UX1093", "Eva Ruiz"},
		"kosher meals on UX1093":         {"1 passenger with KSML on UX1093", "Eva Ruiz"},
		"medical cases on flights today": {"0 passengers with MEDA/OXYG/STCR"},
	} {
		lines, got := ask(t, f, question, now)
		wantText(t, question, got, lines, want, nil)
	}
}

// Some passengers across the site's departures (or arrivals) of a day,
// each person once however many of the flights they are on.
func TestFactsPassengersAcrossTheSiteDepartures(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for question, want := range map[string]string{
		"wheelchair passengers today":                 "2 passengers with WCHR/WCHS/WCHC on 3 flights of 2027-03-09", // Lucía Ferrer on two
		"wheelchair passengers on departures today":   "2 passengers with WCHR/WCHS/WCHC on 2 flights departing from MAD of 2027-03-09",
		"how many wheelchair users on arrivals today": "1 passenger with WCHR/WCHS/WCHC on 1 flight arriving at MAD of 2027-03-09",
	} {
		got, err := f.Answer(context.Background(), ParseQuestion(question, now.In(zone)), now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Facts) == 0 || got.Facts[0].Text != want {
			t.Errorf("%q: %v, want %q first", question, got.Facts, want)
		}
	}
}

// The day's flights with a cabin full, or overbooked, cancelled ones
// left out, narrowed by place.
func TestFactsFullAndOverbookedFlights(t *testing.T) {
	store, now, zone := madridDay(t)
	store.flights["IB6651-2027-03-09"].Capacity = map[string]int{"J": 4, "Y": 1} // Lucía Ferrer fills Y
	store.flights["UX1093-2027-03-09"].Capacity = map[string]int{"Y": 1}
	store.flights["IB3170-2027-03-09"].Capacity = map[string]int{"Y": 1} // cancelled, and over
	store.bookings["OV3R8K"] = &BookingRecord{Booking: Booking{Locator: "OV3R8K", Status: BookingActive,
		Passengers: []BookingPassenger{{ID: "X11", Name: "Nora Gil"}}, Segments: []Segment{{Flight: "UX1093-2027-03-09", Cabin: "Y"}}},
		Version: Version{EventID: "bOV3R8K", Offset: 41}}
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for question, want := range map[string][]string{
		"which flights are full today": {"2 flights on 2027-03-09 with a cabin full (1 overbooked)",
			"UX1093 MAD→BCN on 2027-03-09: scheduled; departure Tue 11:40 CET; arrival Tue 13:00 CET; gate K1093; seats free by cabin: Y 0 of 1 (1 over)",
			"IB6651 MAD→LIM on 2027-03-09: scheduled; departure Tue 12:00 CET; arrival Tue 17:00 local (UTC-05:00); gate K6651; seats free by cabin: J 4 of 4, Y 0 of 1"},
		"any overbooked flights?":      {"1 flight on 2027-03-09 with a cabin overbooked", "UX1093 MAD→BCN on 2027-03-09: scheduled; departure Tue 11:40 CET; arrival Tue 13:00 CET; gate K1093; seats free by cabin: Y 0 of 1 (1 over)"},
		"full flights to Lima today":   {"1 flight on 2027-03-09 to Lima (LIM) with a cabin full (0 overbooked)", "IB6651 MAD→LIM"},
		"are any departures sold out?": {"2 flights on 2027-03-09 departing from MAD with a cabin full (1 overbooked)", "UX1093 ", "IB6651 "},
	} {
		lines, _ := ask(t, f, question, now)
		wantLines(t, question, lines, want)
	}
	// One flight named is that flight's seats, as before.
	if q := ParseQuestion("is UX1093 full?", now.In(zone)); q.Full {
		t.Errorf("a named flight read as the full flights of the day")
	}
}

// Tight connections hold with under 15 minutes above the minimum
// connection time; "at risk" is those and the broken ones.
func TestFactsTightAndAtRiskConnections(t *testing.T) {
	store, now, zone := madridDay(t)
	at := func(h, m int) time.Time { return time.Date(2027, 3, 9, h, m, 0, 0, zone) }
	for _, f := range []Flight{
		{Flight: "IB800-2027-03-09", Carrier: "IB", Number: "800", Date: "2027-03-09", Origin: "LHR", Destination: "MAD", ScheduledDeparture: at(8, 0), ScheduledArrival: at(10, 30), Status: FlightScheduled},
		{Flight: "IB801-2027-03-09", Carrier: "IB", Number: "801", Date: "2027-03-09", Origin: "OPO", Destination: "MAD", ScheduledDeparture: at(8, 0), ScheduledArrival: at(9, 0), Status: FlightScheduled},
	} {
		store.flights[f.Flight] = &FlightRecord{Flight: f, Version: Version{EventID: "e" + f.Number, Offset: 50}}
	}
	for loc, in := range map[string]string{"T1GHT5": "IB800", "R00MY7": "IB801"} {
		store.bookings[loc] = &BookingRecord{Booking: Booking{Locator: loc, Status: BookingActive,
			Passengers: []BookingPassenger{{ID: "P" + loc, Name: "Guest " + loc}},
			Segments:   []Segment{{Flight: in + "-2027-03-09", Cabin: "Y"}, {Flight: "UX1093-2027-03-09", Cabin: "Y"}}}, Version: Version{EventID: "b" + loc, Offset: 51}}
	}
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for question, c := range map[string]struct{ want, not []string }{
		"passengers with tight connections today": {[]string{"1 passenger whose onward connection holds with under 15 min to spare", "Guest T1GHT5", "connection holds (70 min, 10 above the minimum)"},
			[]string{"R00MY7", "Lucía"}},
		"connections at risk today": {[]string{"2 passengers whose onward connection is broken or holds with under 15 min to spare", "Guest T1GHT5", "Lucía Ferrer", "connection broken"}, []string{"R00MY7"}},
		"who misconnects today":     {[]string{"Lucía Ferrer"}, []string{"T1GHT5", "R00MY7"}},
		// No day named: today's.
		"which passengers are at risk of missing their connection": {[]string{"2 passengers whose onward connection is broken or holds with under 15 min to spare",
			"Guest T1GHT5", "Lucía Ferrer"}, []string{"R00MY7"}},
		"who has a tight connection?": {[]string{"1 passenger whose onward connection holds with under 15 min to spare", "Guest T1GHT5"}, []string{"R00MY7", "Lucía"}},
	} {
		lines, got := ask(t, f, question, now)
		wantText(t, question, got, lines, c.want, c.not)
	}
}

// A seat named with its flight is answered with the booking holding it,
// or that none does; a passenger's line on a flight carries the seat.
func TestFactsWhoHoldsASeat(t *testing.T) {
	store, now, zone := madridDay(t)
	store.bookings["QW7P2K"].Segments[1].Seat = "14C"
	store.bookings["RT5K8N"].Segments[0].Seat = "3a"
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for question, want := range map[string][]string{
		"who is in seat 14C on IB6651": {"IB6651 MAD→LIM", "Seat 14C on IB6651: Lucía Ferrer (booking QW7P2K, seat 14C, gold, WCHR)"},
		"who sits in 3A on UX1093?":    {"UX1093 MAD→BCN", "Seat 3A on UX1093: Iker Zubiri (booking RT5K8N, seat 3a, platinum, WCHR)"},
		"seat 3a and 12F on UX1093": {"UX1093 MAD→BCN", "Seat 3A on UX1093: Iker Zubiri",
			"Seat 12F on UX1093: no booking holds it; bookings with seat numbers: 1 of 1 active"},
		"who is in seat 14C on IB3170": {"IB3170 CDG→MAD", "Seat 14C on IB3170: no booking holds it; bookings with seat numbers: 0 of 2 active"},
		"passengers on IB6651":         {"IB6651 MAD→LIM", "1 passenger on IB6651", "Lucía Ferrer (booking QW7P2K, seat 14C, gold, WCHR)"},
	} {
		lines, _ := ask(t, f, question, now)
		wantLines(t, question, lines, want)
	}
	for text, want := range map[string][]string{
		"who is in seat 14c on IB6651":   {"14C"},
		"who sits in 2A and 2B on LH400": {"2A", "2B"},
		"who is sitting in 11e on LH400": {"11E"},
		"is 2A free on LH400":            nil, // no word of sitting: not read as a seat
		"seats left on LH400":            nil,
		"gate A12 on LH400, seat no. 7K": {"7K"},
		"who sits in 14C on 3k 512":      {"14C"}, // 3K is the carrier of flight 512
		"who is seated in 3k on 3K512":   {"3K"},
		"who sits in 12A 2027-03-09":     {"12A"}, // a date after the seat
	} {
		if q := ParseQuestion(text, now); !slices.Equal(q.InSeats, want) {
			t.Errorf("%q: seats %v, want %v", text, q.InSeats, want)
		}
	}
}

func TestFactsDelaysBeyondAndPartsOfTheDay(t *testing.T) {
	store, now, zone := madridDay(t)
	late := func(key, status string, by time.Duration) {
		fl := &store.flights[key].Flight
		at := fl.ScheduledDeparture.Add(by)
		fl.Status, fl.EstimatedDeparture = status, &at
	}
	late("IB6651-2027-03-09", FlightDelayed, 75*time.Minute)
	late("UX1093-2027-03-09", FlightBoarding, 15*time.Minute) // 11:55, still the morning
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for question, want := range map[string][]string{
		"flights delayed by more than an hour":       {"1 flight delayed by more than 1 hour on 2027-03-09", "IB6651 MAD→LIM"},
		"which departures are over 10 minutes late?": {"2 flights delayed by more than 10 minutes on 2027-03-09", "UX1093 MAD→BCN on 2027-03-09: boarding", "IB6651"},
		"flights delayed at least 15 min":            {"2 flights delayed by at least 15 minutes", "UX1093", "IB6651"},
		"flights delayed more than 15 minutes":       {"1 flight delayed by more than 15 minutes", "IB6651"},
		"any flight more than an hour late?":         {"1 flight delayed by more than 1 hour", "IB6651"},
		"flights delayed more than 2 hours today":    {"0 flights delayed by more than 2 hours on 2027-03-09"},
		"departures this afternoon":                  {"1 flight on 2027-03-09 departing 12:00–18:00 from MAD", "IB6651"},
		"morning departures":                         {"1 flight on 2027-03-09 departing 05:00–12:00 from MAD", "UX1093"},
		"flights tonight":                            {"0 flights on 2027-03-09 departing 18:00–24:00 from MAD"},
	} {
		lines, _ := ask(t, f, question, now)
		wantLines(t, question, lines, want)
	}
	// Disruptions as the board counts them: cancelled, diverted or
	// leaving at least 15 minutes late.
	for _, question := range []string{"any disruptions today?", "give me a summary of today's disruptions", "which flights are disrupted", "are flights disrupted today"} {
		lines, _ := ask(t, f, question, now)
		wantLines(t, question, lines, []string{"3 disrupted flights (cancelled, diverted or at least 15 minutes late) on 2027-03-09",
			"IB3170 CDG→MAD on 2027-03-09: cancelled", "UX1093 MAD→BCN on 2027-03-09: boarding", "IB6651 MAD→LIM on 2027-03-09: delayed"})
	}
	// Procedures stay procedures, whatever passengers they speak of.
	for _, text := range []string{"what do we do if a flight is disrupted", "how do we handle disrupted passengers?",
		"what vouchers can I give passengers on a disrupted flight?", "what do I tell passengers about the disruption today",
		"what's the minimum connection time today", "what is the policy for connecting passengers today?",
		"is the transfer desk open tonight?"} {
		if q := ParseQuestion(text, now); q.Structured() {
			t.Errorf("%q read as a list", text)
		}
	}
	lines, _ := ask(t, f, "wheelchair passengers on disrupted flights today", now)
	wantLines(t, "wheelchair passengers on disrupted flights today", lines, []string{
		"3 disrupted flights (cancelled, diverted or at least 15 minutes late) on 2027-03-09, with 2 passengers with WCHR/WCHS/WCHC in all, on 3 of them",
		"IB3170 CDG→MAD", "Lucía Ferrer (booking QW7P2K, gold, WCHR): connects to IB6651", "UX1093 MAD→BCN", "Iker Zubiri (booking RT5K8N",
		"IB6651 MAD→LIM", "Lucía Ferrer (booking QW7P2K"})
	// Asked for the flights, or for how many: the flights, with counts.
	lines, _ = ask(t, f, "which disrupted flights have wheelchair passengers today", now)
	wantLines(t, "the flights", lines, []string{
		"3 disrupted flights (cancelled, diverted or at least 15 minutes late) on 2027-03-09, with 2 passengers with WCHR/WCHS/WCHC in all, on 3 of them",
		"IB3170 CDG→MAD", "UX1093 MAD→BCN", "IB6651 MAD→LIM"})
	lines, _ = ask(t, f, "how many wheelchair passengers are on disrupted flights today", now)
	wantLines(t, "how many", lines, []string{
		"3 disrupted flights (cancelled, diverted or at least 15 minutes late) on 2027-03-09, with 2 passengers with WCHR/WCHS/WCHC in all, on 3 of them",
		"IB3170 CDG→MAD", "UX1093 MAD→BCN", "IB6651 MAD→LIM"})
	lines, _ = ask(t, f, "are flights to Peru disrupted today?", now)
	wantLines(t, "are flights to Peru disrupted today?", lines, []string{"1 disrupted flight (cancelled, diverted or at least 15 minutes late) on 2027-03-09 to Peru (LIM)", "IB6651 MAD→LIM"})
	lines, _ = ask(t, f, "onward flights to LIM after 11am", now)
	wantLines(t, "onward flights to LIM after 11am", lines, []string{"1 flight on 2027-03-09 to LIM departing 11:00–24:00 from MAD", "IB6651 MAD→LIM"})
	if q := ParseQuestion("connecting flights to LIM after 11am", now); q.Window == nil || q.Window.Arrivals {
		t.Errorf("connecting flights to LIM after 11am: window %+v, want departures", q.Window)
	}
	// Readings of a delay bound, and of "if" and "when".
	for text, want := range map[string]time.Duration{
		"flights more than 1.5 hours late":                                         90 * time.Minute,
		"any departure over 90m late":                                              90 * time.Minute,
		"flights delayed by more than half an hour":                                30 * time.Minute,
		"flights no more than 30 minutes late":                                     0, // a bound from above
		"flights cancelled or delayed more than 3 hours":                           0, // the cancelled ones too
		"latest check-in at least 45 min before departure":                         0,
		"flights more than an hour and a half late":                                90 * time.Minute,
		"departures over two and a half hours late":                                150 * time.Minute,
		"arrivals more than four hours late":                                       4 * time.Hour,
		"flights more than a couple of hours late":                                 2 * time.Hour,
		"delayed flights with connections of at least 45 minutes":                  0,
		"connecting flights delayed more than 30 minutes":                          30 * time.Minute,
		"connections delayed by more than an hour":                                 time.Hour,
		"flights delayed over an hour for connecting passengers":                   time.Hour,
		"connecting arrivals more than 45 minutes late today":                      45 * time.Minute,
		"delayed passengers with a layover over 2 hours":                           0,
		"delayed flights with more than 40 minutes to connect":                     0,
		"transfers of at least 45 minutes on flights delayed more than 30 minutes": 30 * time.Minute,
	} {
		if q := ParseQuestion(text, now); q.MinDelay != want {
			t.Errorf("%q: min delay %s, want %s", text, q.MinDelay, want)
		}
	}
	for text, want := range map[string]bool{
		"which flights are delayed, if any?":                  true,
		"check if any flights are cancelled today":            true,
		"which departures are delayed and when do they board": true,
		"what do we do if a departure is delayed":             false,
		"what do we do if departures are delayed tonight":     false,
		"departures after 18:00, if any":                      true,
	} {
		if q := ParseQuestion(text, now); q.Structured() != want {
			t.Errorf("%q: a list %v, want %v", text, q.Structured(), want)
		}
	}
	// An arrival whose departure is late is late on arrival, with no
	// arrival estimate yet.
	in := &store.flights["IB3170-2027-03-09"].Flight
	dep := in.ScheduledDeparture.Add(50 * time.Minute)
	in.Status, in.EstimatedDeparture = FlightDelayed, &dep
	lines, _ = ask(t, f, "arrivals more than 30 minutes late", now)
	wantLines(t, "arrivals more than 30 minutes late", lines, []string{"1 flight delayed by more than 30 minutes on arrival on 2027-03-09", "IB3170 CDG→MAD"})
	// Late arrivals are the delayed ones and those on their way or landed
	// 15 minutes late or more, whatever their status.
	in.Status = FlightDeparted
	lines, _ = ask(t, f, "which arrivals are late?", now)
	wantLines(t, "which arrivals are late? (50 minutes)", lines, []string{"1 flight delayed or at least 15 minutes late on arrival on 2027-03-09", "IB3170 CDG→MAD"})
	dep = in.ScheduledDeparture.Add(10 * time.Minute)
	lines, _ = ask(t, f, "which arrivals are late?", now)
	wantLines(t, "which arrivals are late? (10 minutes)", lines, []string{"0 flights delayed or at least 15 minutes late on arrival on 2027-03-09"})
	in.Status, in.EstimatedDeparture = FlightCancelled, nil

	// A flight without any of the passengers asked for is counted, not listed.
	lines, _ = ask(t, f, "delayed departures with gold passengers after 11:00", now)
	wantLines(t, "delayed departures with gold passengers after 11:00", lines, []string{
		"1 delayed flight on 2027-03-09 departing 11:00–24:00 from MAD, with 1 gold passenger in all", "IB6651 MAD→LIM"})
	if !strings.HasSuffix(lines[0], ", on 1 of them") {
		t.Errorf("the count does not say how many flights have any: %q", lines[0])
	}
	lines, _ = ask(t, f, "any gold passengers on departures after 11:00?", now)
	wantLines(t, "gold passengers on departures after 11:00", lines, []string{
		"1 gold passenger on 1 flight departing 11:00–24:00 from MAD of 2027-03-09", "IB6651 MAD→LIM", "Lucía Ferrer (booking QW7P2K, gold, WCHR)"}) // not UX1093
	lines, _ = ask(t, f, "frequent flyers on departures after 11:00", now)
	wantLines(t, "frequent flyers on departures after 11:00", lines, []string{
		"2 frequent-flyer passengers on 2 flights departing 11:00–24:00 from MAD of 2027-03-09",
		"UX1093 MAD→BCN on 2027-03-09: boarding", "Iker Zubiri", "IB6651 MAD→LIM", "Lucía Ferrer"})
	// Passengers connecting in a part of the day come in on its arrivals.
	lines, _ = ask(t, f, "who misconnects this morning", now)
	wantLines(t, "who misconnects this morning", lines, []string{
		"1 passenger whose onward connection is broken on 1 flight arriving 05:00–12:00 at MAD of 2027-03-09",
		"IB3170 CDG→MAD on 2027-03-09: cancelled", "Lucía Ferrer (booking QW7P2K, gold, WCHR): connects to IB6651"})
	lines, _ = ask(t, f, "how many connecting passengers this afternoon", now)
	wantLines(t, "how many connecting passengers this afternoon", lines, []string{
		"0 passengers with onward connections on 0 flights arriving 12:00–18:00 at MAD of 2027-03-09"})
	for question, not := range map[string]string{
		"flights delayed by more than an hour": "UX1093", // 25 minutes
		"departures this afternoon":            "UX1093", // 11:40
		"morning departures":                   "IB6651", // 12:00
	} {
		lines, _ := ask(t, f, question, now)
		if text := strings.Join(lines, "\n"); strings.Contains(text, not) {
			t.Errorf("%q lists %s:\n%s", question, not, text)
		}
	}
	// A delay or a part of the day in a procedure question is no list.
	for _, text := range []string{"what compensation is due for a delay of more than 3 hours", "can we give a hotel until the morning",
		"do passengers get a meal voucher when their flight is more than 2 hours late", "what do we do if a departure is delayed over 3 hours"} {
		if q := ParseQuestion(text, now); q.Structured() || q.Window != nil {
			t.Errorf("%q read as a list of flights: window %v, min delay %s", text, q.Window, q.MinDelay)
		}
	}
}

// A proposal's arrival is told by the clock a flight's is: the site's
// zone, or local with its offset.
func TestFactsProposalTimes(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	lima := time.FixedZone("", -5*3600)
	store.proposals = []*Proposal{
		{ID: "p-1", Locator: "QW7P2K", Flight: "IB3170-2027-03-09", Status: ProposalPending, Chosen: "o1",
			Options: []Option{{ID: "o1", Flights: []string{"IB3172-2027-03-09"}, Cabin: "Y", Arrive: time.Date(2027, 3, 9, 15, 30, 0, 0, zone)}}},
		{ID: "p-2", Locator: "ZZ9Y4M", Flight: "IB3170-2027-03-09", Status: ProposalPending, Chosen: "o2",
			Options: []Option{{ID: "o2", Flights: []string{"IB3172-2027-03-09", "IB6653-2027-03-09"}, Cabin: "Y", Arrive: time.Date(2027, 3, 9, 22, 10, 0, 0, lima)}}},
	}
	lines, _ := ask(t, f, "rebooking proposals for IB3170", now)
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		"Proposal p-1 for booking QW7P2K (pending): IB3172-2027-03-09 in Y, arriving Tue 15:30 CET",
		"Proposal p-2 for booking ZZ9Y4M (pending): IB3172-2027-03-09 + IB6653-2027-03-09 in Y, arriving Tue 22:10 local (UTC-05:00)",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no line %q in:\n%s", want, joined)
		}
	}
}

// A last flight with more passengers than a list shows is listed, cut
// short, when every flight of the day has gone.
func TestFactsLongListOfOneLastFlight(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for i := range 30 {
		loc, id := fmt.Sprintf("GL%04d", i), fmt.Sprintf("G%d", i)
		store.bookings[loc] = &BookingRecord{Booking: Booking{Locator: loc, Status: BookingActive,
			Passengers: []BookingPassenger{{ID: id, Name: "Ana Oro", Tier: "gold"}}, Segments: []Segment{{Flight: "IB6651-2027-03-09", Cabin: "Y"}}},
			Version: Version{EventID: "b" + loc, Offset: uint64(100 + i)}}
		store.pax[id] = &PassengerRecord{Passenger: Passenger{ID: id, Name: "Ana Oro", Tier: "gold"}, Version: Version{Offset: uint64(100 + i)}}
	}
	late := time.Date(now.Year(), now.Month(), now.Day(), 23, 0, 0, 0, zone)
	lines, _ := ask(t, f, "gold passengers today", late)
	joined := strings.Join(lines, "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[1], "Listing the last 1: 1 gold passenger on 1 flight") || !strings.HasPrefix(lines[2], "IB6651 ") ||
		!strings.Contains(lines[len(lines)-1], "more on IB6651") {
		t.Errorf("the last flight, cut short:\n%s", joined)
	}
}

// The proposals waiting for a decision, of no one flight: how many, for
// how many passengers, on which disrupted flights (the most first), and
// a few of each, those with a rebooking to approve first; decided ones
// are not counted, and a question about how to rebook is not this.
func TestFactsOpenProposals(t *testing.T) {
	store, now, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	opt := func(id, flight string) []Option {
		return []Option{{ID: id, Flights: []string{flight}, Cabin: "Y", Arrive: time.Date(2027, 3, 9, 15, 30, 0, 0, zone)}}
	}
	store.proposals = []*Proposal{
		{ID: "p-1", Locator: "QW7P2K", Flight: "IB6651-2027-03-09", Status: ProposalPending, Chosen: "o1", Options: opt("o1", "IB6653-2027-03-09"), LogOffset: 70},
		{ID: "p-2", Locator: "RT5K8N", Flight: "UX1093-2027-03-09", Status: ProposalPending, Chosen: "o2", Options: opt("o2", "UX1095-2027-03-09"), LogOffset: 71},
		// No valid alternative: counted, listed after those to approve.
		{ID: "p-6", Locator: "NO1ALT", Flight: "UX1093-2027-03-09", Status: ProposalPending, LogOffset: 75},
		{ID: "p-3", Locator: "ZZ9Y4M", Flight: "UX1093-2027-03-09", Status: ProposalPending, Chosen: "o3", Options: opt("o3", "UX1097-2027-03-09"), LogOffset: 72,
			Need: Need{Pax: 2}},
		{ID: "p-7", Locator: "GH56JK", Flight: "UX1093-2027-03-09", Status: ProposalPending, Chosen: "o7", Options: opt("o7", "UX1097-2027-03-09"), LogOffset: 76},
		{ID: "p-4", Locator: "AB12CD", Flight: "UX1093-2027-03-09", Status: ProposalExecuted, Chosen: "o4", Options: opt("o4", "UX1097-2027-03-09"), LogOffset: 73},
		{ID: "p-5", Locator: "EF34GH", Flight: "XX0001-2027-03-08", Status: ProposalPending, Chosen: "o5", Options: opt("o5", "UX1097-2027-03-09"), LogOffset: 74},
	}
	for _, question := range []string{"which proposals are waiting for approval", "how many rebooking proposals are pending?", "show me the open rebookings", "proposals to approve", "any rebooking proposals?"} {
		lines, got := ask(t, f, question, now)
		wantText(t, question, got, lines, []string{
			"6 pending rebooking proposals waiting for a decision, for 7 passengers on 3 disrupted flights; 5 with a rebooking to approve, 1 with no valid alternative (handle at the desk)",
			"UX1093 MAD→BCN on 2027-03-09: scheduled",
			"4 pending proposals (1 with no valid alternative)",
			"Proposal p-2 for booking RT5K8N (pending): UX1095-2027-03-09 in Y",
			"Proposal p-3 for booking ZZ9Y4M (pending)",
			"Proposal p-7 for booking GH56JK (pending)",
			"IB6651 MAD→LIM on 2027-03-09",
			"Proposal p-1 for booking QW7P2K (pending)",
			"XX0001-2027-03-08 (the flight is not in the current state): 1 pending proposal",
		}, []string{"p-4", "AB12CD", "p-6"}) // p-6: UX1093 lists three while other flights wait
		if i, j := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "UX1093") }), slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "IB6651") }); i < 0 || j < 0 || i > j {
			t.Errorf("%q: the flight with the most proposals is not first:\n%s", question, strings.Join(lines, "\n"))
		}
	}
	for _, question := range []string{"how do we rebook passengers", "what is the rebooking policy for cancelled flights", "rebooking proposals for IB6651",
		"in which order do we rebook passengers after a cancellation?"} {
		if q := ParseQuestion(question, now); q.OpenProposals {
			t.Errorf("%q read as the open proposals of the day", question)
		}
	}
}

// The flights that left late, gone or still waiting, by the clock: a
// departure gone 25 minutes late is one, one 10 minutes late is not, nor
// is an arrival at the site.
func TestFactsFlightsThatLeftLate(t *testing.T) {
	store, _, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	gone := &store.flights["UX1093-2027-03-09"].Flight
	dep := gone.ScheduledDeparture.Add(25 * time.Minute)
	gone.Status, gone.EstimatedDeparture = FlightDeparted, &dep
	onTime := &store.flights["IB6651-2027-03-09"].Flight
	dep2 := onTime.ScheduledDeparture.Add(10 * time.Minute)
	onTime.Status, onTime.EstimatedDeparture = FlightDeparted, &dep2
	late := time.Date(2027, 3, 9, 13, 0, 0, 0, zone)
	for _, question := range []string{"which flights left late today", "how many departures were late today", "did any flight take off late? which flights departed late"} {
		lines, got := ask(t, f, question, late)
		wantText(t, question, got, lines, []string{"1 flight delayed or at least 15 minutes late on departure on 2027-03-09", "UX1093 MAD→BCN"}, []string{"IB6651", "IB3170"})
	}
	// Still "delayed right now" is the status alone.
	if q := ParseQuestion("how many flights are delayed right now", late); q.WentLate {
		t.Errorf("delayed right now read as gone late")
	}
}

// How late the day's flights are, ranked or summed up, and its gates by
// use: computed from state, of the flights not cancelled, on departure
// or, for arrivals, on arrival; an early flight counts as on time.
func TestFactsRankDelaysAndGates(t *testing.T) {
	store, now, zone := madridDay(t)
	at := func(h, m int) time.Time { return time.Date(2027, 3, 9, h, m, 0, 0, zone) }
	ptr := func(t time.Time) *time.Time { return &t }
	add := func(des, org, dst, gate string, dep, estDep, arr time.Time, estArr *time.Time, off uint64) {
		fl := Flight{Flight: des + "-2027-03-09", Carrier: des[:2], Number: des[2:], Date: "2027-03-09", Origin: org, Destination: dst,
			ScheduledDeparture: dep, EstimatedDeparture: ptr(estDep), ScheduledArrival: arr, EstimatedArrival: estArr, Status: FlightDelayed, Gate: gate}
		store.flights[FlightKey(fl.Carrier, fl.Number, fl.Date)] = &FlightRecord{Flight: fl, Version: Version{EventID: "e" + des, Offset: off}}
	}
	store.flights["IB6651-2027-03-09"].EstimatedDeparture = ptr(at(12, 45)) // 45 min late
	ux := store.flights["UX1093-2027-03-09"]
	ux.EstimatedDeparture, ux.EstimatedArrival = ptr(at(11, 50)), ptr(at(13, 20))              // 10 min late, lands 20 min late
	add("VY7000", "MAD", "ORY", "K1093", at(15, 0), at(16, 30), at(17, 0), nil, 31)            // 90 min late
	add("IB3171", "LIS", "MAD", "K3171", at(7, 0), at(6, 55), at(8, 10), ptr(at(8, 0)), 32)    // early
	add("IB3173", "FCO", "MAD", "K3173", at(9, 0), at(9, 20), at(11, 30), ptr(at(11, 35)), 33) // 20 min late, lands 5 late
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	cases := []struct {
		question string
		want     []string // lines, in order, each starting so
	}{
		{"which flight has the longest delay today", []string{
			"4 flights late on departure on 2027-03-09, of 5 flights not cancelled; the latest first",
			"VY7000 MAD→ORY", "IB6651 MAD→LIM", "IB3173 FCO→MAD", "UX1093 MAD→BCN"}},
		{"what is the average delay today?", []string{
			"Average delay on departure on 2027-03-09: 33 minutes over 5 flights not cancelled",
			"3 of them at least 15 minutes late on departure, by 51 minutes on average",
			"The longest: VY7000 MAD→ORY"}},
		{"most delayed arrivals", []string{
			"1 flight late on arrival on 2027-03-09 arriving at MAD, of 2 flights not cancelled",
			"IB3173 FCO→MAD on 2027-03-09: delayed; departure Tue 09:00 CET, now Tue 09:20 CET (20 min late)"}},
		{"average arrival delay today", []string{"Average delay on arrival on 2027-03-09 arriving at MAD: 2 minutes over 2 flights not cancelled",
			"The longest: IB3173 FCO→MAD"}},
		{"what was the average delay at gate K1093 today", []string{"Average delay on departure on 2027-03-09 at gate K1093: 50 minutes over 2 flights not cancelled",
			"1 of them at least 15 minutes late on departure, by 90 minutes on average", "The longest: VY7000"}},
		{"which departures to Peru were delayed the most", []string{"1 flight late on departure on 2027-03-09 to Peru (LIM), of 1 flight not cancelled", "IB6651 MAD→LIM"}},
		{"which gates are busiest today", []string{
			"4 gates in use on 2027-03-09 by 5 flights not cancelled; the busiest first",
			"Gate K1093: 2 flights (2 departing, 0 arriving): UX1093, VY7000",
			"Gate K3171: 1 flight (0 departing, 1 arriving): IB3171", "Gate K3173", "Gate K6651"}},
	}
	for _, c := range cases {
		q := ParseQuestion(c.question, now.In(zone))
		if !q.Structured() {
			t.Errorf("%q: not a question the state answers", c.question)
		}
		lines, _ := ask(t, f, c.question, now)
		wantLines(t, c.question, lines, c.want)
	}
	if lines, _ := ask(t, f, "most delayed arrivals", now); len(lines) == 2 && !strings.HasSuffix(lines[1], "; 5 minutes late on arrival") {
		t.Errorf("an arrival is ranked by how late it lands: %q", lines[1])
	}
	if q := ParseQuestion("is gate K1093 busy today", now.In(zone)); q.BusyGates || q.Gate != "K1093" {
		t.Errorf("one gate asked about read as the gates by use: %+v", q)
	}
	// Who is on the most delayed flight: that flight's passengers.
	store.bookings["VY7K00"] = &BookingRecord{Booking: Booking{Locator: "VY7K00", Status: BookingActive,
		Passengers: []BookingPassenger{{ID: "X9", Name: "Nora Lind", Tier: "none"}}, Segments: []Segment{{Flight: "VY7000-2027-03-09", Cabin: "Y"}}}, Version: Version{Offset: 40}}
	lines, _ := ask(t, f, "which passengers are on the most delayed flight today", now)
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "The most delayed flight on departure on 2027-03-09: VY7000, 90 minutes late") ||
		!strings.HasPrefix(lines[1], "VY7000 MAD→ORY") || !strings.HasPrefix(lines[2], "1 passenger on VY7000") || !strings.HasPrefix(lines[3], "Nora Lind (booking VY7K00") {
		t.Errorf("the passengers of the most delayed flight:\n%s", strings.Join(lines, "\n"))
	}
	// Not a ranking: of one flight, a procedure, another time, one gate.
	for _, question := range []string{"is IB6651 the most delayed flight today", "what is the average delay compensation under EU 261",
		"which gates were busiest last week", "which gate does UX1093 leave from", "what do we do for the longest delays"} {
		if q := ParseQuestion(question, now.In(zone)); q.RankDelay || q.AverageDelay || q.BusyGates {
			t.Errorf("%q read as a ranking: %+v", question, q)
		}
	}
}

// The flights with no gate yet: of the site's flights still to leave or
// land, not cancelled or diverted, in the order they leave or land; a
// flight gone or cancelled is not waiting for one, nor is a flight
// between two other airports. Every one with a gate is an answer too.
func TestFactsFlightsWithNoGate(t *testing.T) {
	store, now, zone := madridDay(t)
	at := func(h, m int) time.Time { return time.Date(2027, 3, 9, h, m, 0, 0, zone) }
	add := func(des, org, dst, status, gate string, dep, arr time.Time, off uint64) {
		fl := Flight{Flight: des + "-2027-03-09", Carrier: des[:2], Number: des[2:], Date: "2027-03-09", Origin: org, Destination: dst,
			ScheduledDeparture: dep, ScheduledArrival: arr, Status: status, Gate: gate}
		store.flights[FlightKey(fl.Carrier, fl.Number, fl.Date)] = &FlightRecord{Flight: fl, Version: Version{EventID: "e" + des, Offset: off}}
	}
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	// madridDay's flights all have gates.
	lines, _ := ask(t, f, "which flights have no gate yet?", now)
	wantLines(t, "all with gates", lines, []string{"All 2 flights on 2027-03-09 still to leave or land, not cancelled or diverted have a gate"})

	add("VY7000", "MAD", "ORY", FlightScheduled, "", at(15, 0), at(17, 0), 31)
	add("IB3171", "LIS", "MAD", FlightDelayed, " ", at(7, 0), at(8, 10), 32)
	add("IB3172", "MAD", "LIS", FlightDeparted, "", at(7, 30), at(8, 0), 33) // gone
	add("IB3174", "MAD", "OPO", FlightCancelled, "", at(9, 30), at(10, 40), 34)
	add("IB3175", "LIS", "OPO", FlightScheduled, "", at(9, 30), at(10, 40), 35) // not the site's
	for _, question := range []string{"which flights have no gate yet?", "flights without an assigned gate today", "any flights still waiting for a gate",
		"show me the flights whose gate is not assigned yet", "how many flights have no gate", "unassigned gates today"} {
		q := ParseQuestion(question, now.In(zone))
		if !q.NoGate || !q.Structured() {
			t.Errorf("%q: not read as the flights with no gate: %+v", question, q)
			continue
		}
		lines, _ := ask(t, f, question, now)
		wantLines(t, question, lines, []string{
			"2 flights with no gate yet, of 4 flights on 2027-03-09 still to leave or land, not cancelled or diverted",
			"IB3171 LIS→MAD on 2027-03-09: delayed", "VY7000 MAD→ORY on 2027-03-09: scheduled"})
	}
	lines, _ = ask(t, f, "which departures have no gate yet", now)
	wantLines(t, "departures", lines, []string{
		"1 flight with no gate yet, of 3 flights on 2027-03-09 departing from MAD still to leave or land, not cancelled or diverted",
		"VY7000 MAD→ORY"})
	lines, _ = ask(t, f, "which flights to Paris have no gate", now)
	wantLines(t, "to a place", lines, []string{"1 flight with no gate yet, of 1 flight on 2027-03-09 to Paris (ORY) still to leave or land, not cancelled or diverted", "VY7000 MAD→ORY"})
	// Not the flights with no gate: one flight, a procedure, changes.
	for _, question := range []string{"does VY7000 have a gate yet", "what do we do when a flight has no gate", "which flights had no gate change today",
		"which gates are busiest today", "passengers who need assistance from the gate"} {
		if q := ParseQuestion(question, now.In(zone)); q.NoGate {
			t.Errorf("%q read as the flights with no gate: %+v", question, q)
		}
	}
}

// A window of the clock holds the flights scheduled in it as well as
// those now leaving in it, as a timetable lists them: the 11:40 that left
// at 12:05 is a morning flight and an afternoon one. A window from now
// holds only what leaves in it.
func TestFactsWindowsOfTheClockHoldTheScheduled(t *testing.T) {
	store, _, zone := madridDay(t)
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	ux := &store.flights["UX1093-2027-03-09"].Flight
	left := ux.ScheduledDeparture.Add(25 * time.Minute) // 12:05
	ux.Status, ux.EstimatedDeparture = FlightDeparted, &left
	ib := &store.flights["IB6651-2027-03-09"].Flight
	later := ib.ScheduledDeparture.Add(90 * time.Minute) // 13:30
	ib.Status, ib.EstimatedDeparture = FlightDelayed, &later
	now := time.Date(2027, 3, 9, 11, 30, 0, 0, zone)
	cases := []struct {
		question  string
		want, not []string
	}{
		{"departures this morning", []string{"1 flight on 2027-03-09 departing 05:00–12:00 from MAD", "UX1093"}, []string{"IB6651"}},
		{"departures this afternoon", []string{"2 flights on 2027-03-09 departing 12:00–18:00 from MAD", "UX1093", "IB6651"}, nil},
		{"departures between 11:00 and 12:00", []string{"UX1093"}, []string{"IB6651"}},
		{"what leaves in the next hour", []string{"UX1093"}, []string{"IB6651"}},
		{"what leaves in the next three hours", []string{"UX1093", "IB6651"}, nil},
	}
	for _, c := range cases {
		lines, got := ask(t, f, c.question, now)
		wantText(t, c.question, got, lines, c.want, c.not)
	}
	// From now, scheduled in it is not enough: IB6651 was due at 12:00.
	if lines, _ := ask(t, f, "departures in the next 45 minutes", now); slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "IB6651") }) {
		t.Errorf("a flight leaving at 13:30 listed in the next 45 minutes:\n%s", strings.Join(lines, "\n"))
	}
}

// A place named just before the flights ("the Lisbon flight") is that
// place's flights of the day, either way; departures go there and
// arrivals come from there.
func TestFactsThePlaceFlight(t *testing.T) {
	store, now, zone := madridDay(t)
	at := func(h, m int) time.Time { return time.Date(2027, 3, 9, h, m, 0, 0, zone) }
	add := func(des, org, dst, status string, dep, arr time.Time, off uint64) {
		fl := Flight{Flight: des + "-2027-03-09", Carrier: des[:2], Number: des[2:], Date: "2027-03-09", Origin: org, Destination: dst,
			ScheduledDeparture: dep, ScheduledArrival: arr, Status: status, Gate: "K" + des[4:]}
		store.flights[FlightKey(fl.Carrier, fl.Number, fl.Date)] = &FlightRecord{Flight: fl, Version: Version{EventID: "e" + des, Offset: off}}
	}
	add("IB3171", "LIS", "MAD", FlightDelayed, at(7, 0), at(8, 10), 32)
	add("IB3172", "MAD", "LIS", FlightScheduled, at(15, 30), at(16, 0), 33)
	add("TP1013", "LIS", "BCN", FlightScheduled, at(9, 30), at(11, 40), 35) // not the site's
	f := &Facts{Store: store, Rules: DefaultRebookRules(), Zone: zone, Hub: "MAD"}
	for _, question := range []string{"is the Lisbon flight on time?", "what's going on with the Lisbon flight", "any news on the Lisbon flights"} {
		lines, _ := ask(t, f, question, now)
		wantLines(t, question, lines, []string{"2 flights on 2027-03-09 to or from Lisbon (LIS)", "IB3171 LIS→MAD on 2027-03-09: delayed", "IB3172 MAD→LIS on 2027-03-09: scheduled"})
		for _, l := range lines {
			if strings.Contains(l, "TP1013") {
				t.Errorf("%q: another airport's flight: %s", question, l)
			}
		}
	}
	lines, _ := ask(t, f, "the Lisbon departures", now)
	wantLines(t, "departures", lines, []string{"1 flight on 2027-03-09 to Lisbon (LIS)", "IB3172 MAD→LIS"})
	lines, _ = ask(t, f, "has the Lisbon arrival landed", now)
	wantLines(t, "arrivals", lines, []string{"1 flight on 2027-03-09 from Lisbon (LIS)", "IB3171 LIS→MAD"})
	for text, want := range map[string]string{"how late is the Lisbon flight": FlightDelayed, "how late are the Paris arrivals today": FlightDelayed,
		"how late can a passenger check in": "", "how late is IB3171": ""} {
		if got := ParseQuestion(text, now).Status; got != want {
			t.Errorf("%q: status %q, want %q", text, got, want)
		}
	}
	lines, _ = ask(t, f, "how late is the Lisbon flight", now)
	wantLines(t, "how late", lines, []string{"1 flight delayed or at least 15 minutes late on departure on 2027-03-09 to or from Lisbon (LIS)",
		"IB3171 LIS→MAD on 2027-03-09: delayed"})
	// One that left late counts as late, gone or not.
	left, late := at(15, 30), at(16, 10)
	ib := &store.flights["IB3172-2027-03-09"].Flight
	ib.Status, ib.EstimatedDeparture, ib.ScheduledDeparture = FlightDeparted, &late, left
	lines, _ = ask(t, f, "how late is the Lisbon flight", now)
	wantLines(t, "how late, one gone late", lines, []string{"2 flights delayed or at least 15 minutes late on departure on 2027-03-09 to or from Lisbon (LIS)", "IB3171 LIS→MAD on 2027-03-09: delayed", "IB3172 MAD→LIS on 2027-03-09: departed"})
	lines, _ = ask(t, f, "how many passengers are flying to Lima today", now)
	wantLines(t, "passengers flying", lines, []string{"1 flight on 2027-03-09 to Lima (LIM), with 1 passenger in all", "IB6651 MAD→LIM"})
}
