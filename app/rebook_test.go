package app

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// randomSchedule makes a small random network of flights.
func randomSchedule(rng *rand.Rand, n int, base time.Time) ([]*Flight, map[string]int) {
	airports := []string{"AAA", "BBB", "CCC", "DDD", "EEE"}
	statuses := []string{FlightScheduled, FlightScheduled, FlightScheduled, FlightDelayed, FlightCancelled, FlightBoarding, FlightDiverted}
	var out []*Flight
	seats := map[string]int{}
	for i := 0; i < n; i++ {
		o := airports[rng.IntN(len(airports))]
		d := airports[rng.IntN(len(airports))]
		if o == d {
			continue
		}
		dep := base.Add(time.Duration(rng.IntN(48*12)) * 5 * time.Minute) // a 5-minute grid hits connection limits exactly
		f := &Flight{Flight: fmt.Sprintf("XX%d-2026-11-25", 100+i), Carrier: "XX", Number: fmt.Sprint(100 + i), Origin: o, Destination: d,
			ScheduledDeparture: dep, ScheduledArrival: dep.Add(time.Duration(12+rng.IntN(60)) * 5 * time.Minute), Status: statuses[rng.IntN(len(statuses))]}
		if f.Status == FlightDelayed {
			ed, ea := dep.Add(time.Duration(rng.IntN(36))*5*time.Minute), f.ScheduledArrival.Add(time.Duration(rng.IntN(36))*5*time.Minute)
			f.EstimatedDeparture, f.EstimatedArrival = &ed, &ea
		}
		seats[f.Flight+"/Y"] = rng.IntN(5)
		seats[f.Flight+"/J"] = rng.IntN(3)
		out = append(out, f)
	}
	return out, seats
}

// bruteForce enumerates every path of one or two flights from n.Origin
// and keeps the valid ones, checking each rule on its own, without the
// generator's indexing. A path either ends at the final destination and
// replaces every flight of n.Replace, or ends where a booked flight of
// n.Replace leaves (not where the passengers are, nor the destination),
// at least the minimum connection time before it, and keeps it and the
// booked flights after it, which must all still operate. Keys are
// "flights|kept flights|cabin".
func bruteForce(n Need, flights []*Flight, seats SeatsLeft, r RebookRules, now time.Time) map[string]bool {
	ok := func(f *Flight) bool {
		if f.Status == FlightCancelled || f.Status == FlightDiverted || f.Status == FlightDeparted || f.Status == FlightArrived || f.Status == FlightBoarding {
			return false
		}
		if f.Departure().Before(n.Earliest) || f.Departure().After(n.Earliest.Add(r.Window)) || f.Departure().Before(now.Add(r.BoardingMargin)) {
			return false
		}
		for _, x := range n.Replace {
			if x == f.Flight {
				return false
			}
		}
		return true
	}
	cabinFor := func(path []*Flight) string {
		try := []string{n.Cabin}
		if r.CabinSubstitution {
			var other []string
			for c := range path[0].Capacity {
				if c != n.Cabin {
					other = append(other, c)
				}
			}
			sort.Strings(other)
			try = append(try, other...)
		}
		for _, c := range try {
			all := true
			for _, f := range path {
				all = all && seats(f.Flight, c) >= n.Pax
			}
			if all {
				return c
			}
		}
		return ""
	}
	find := func(key string) *Flight {
		for _, f := range flights {
			if f.Flight == key {
				return f
			}
		}
		return nil
	}
	// The minimum connection, worked out here rather than by r.MCT.
	mct := func(airport string) time.Duration {
		if d, ok := r.MinConnectionWCHR[airport]; ok && n.WCHR {
			return d
		}
		d := r.DefaultMCT
		if a, ok := r.MinConnection[airport]; ok {
			d = a
		}
		if n.WCHR {
			d += r.WCHRExtra
		}
		return d
	}
	out := map[string]bool{}
	consider := func(path []*Flight) {
		c := cabinFor(path)
		if c == "" {
			return
		}
		var keys []string
		for _, f := range path {
			keys = append(keys, f.Flight)
		}
		end := path[len(path)-1]
		if end.Destination == n.Destination {
			out[strings.Join(keys, ",")+"||"+c] = true
		}
		for k := range n.Replace {
			first := find(n.Replace[k])
			if first == nil || first.Origin != end.Destination || first.Origin == n.Origin || first.Origin == n.Destination {
				continue
			}
			flies := true
			for _, key := range n.Replace[k:] {
				f := find(key)
				flies = flies && f != nil && f.Status != FlightCancelled && f.Status != FlightDiverted
			}
			if flies && !end.Arrival().Add(mct(first.Origin)).After(first.Departure()) {
				out[strings.Join(keys, ",")+"|"+strings.Join(n.Replace[k:], ",")+"|"+c] = true
			}
		}
	}
	for _, a := range flights {
		if a.Origin != n.Origin || !ok(a) {
			continue
		}
		consider([]*Flight{a})
		for _, b := range flights {
			if a == b || a.Destination != b.Origin || a.Destination == n.Destination || a.Destination == n.Origin || b.Destination == n.Origin || !ok(b) {
				continue
			}
			gap := b.Departure().Sub(a.Arrival())
			if gap >= mct(a.Destination) && gap <= r.MaxConnection {
				consider([]*Flight{a, b})
			}
		}
	}
	return out
}

// randomRules varies every rule the generator applies.
func randomRules(rng *rand.Rand, airports []string) RebookRules {
	r := DefaultRebookRules()
	r.DefaultMCT = time.Duration(45+15*rng.IntN(3)) * time.Minute
	r.MinConnection, r.MinConnectionWCHR = map[string]time.Duration{}, map[string]time.Duration{}
	for _, a := range airports {
		if rng.IntN(3) == 0 {
			r.MinConnection[a] = time.Duration(30+5*rng.IntN(12)) * time.Minute
		}
		if rng.IntN(2) == 0 {
			r.MinConnectionWCHR[a] = time.Duration(40+5*rng.IntN(12)) * time.Minute
		}
	}
	r.Window = []time.Duration{6 * time.Hour, 12 * time.Hour, 24 * time.Hour}[rng.IntN(3)]
	r.BoardingMargin = time.Duration(5*rng.IntN(19)) * time.Minute
	r.CabinSubstitution = rng.IntN(3) == 0
	return r
}

// randomBooking chains up to three connecting flights of the schedule
// into one booking.
func randomBooking(rng *rand.Rand, loc string, flights []*Flight) (*Booking, bool) {
	f := flights[rng.IntN(len(flights))]
	b := &Booking{Locator: loc, Status: BookingActive, Segments: []Segment{{Flight: f.Flight, Cabin: []string{"Y", "J"}[rng.IntN(2)]}}}
	for range 1 + rng.IntN(2) {
		var next []*Flight
		for _, g := range flights {
			gap := g.ScheduledDeparture.Sub(f.ScheduledArrival)
			if g.Origin == f.Destination && gap >= 30*time.Minute && gap <= 8*time.Hour {
				next = append(next, g)
			}
		}
		if len(next) == 0 {
			break
		}
		f = next[rng.IntN(len(next))]
		b.Segments = append(b.Segments, Segment{Flight: f.Flight, Cabin: b.Segments[0].Cabin})
	}
	for i := range 1 + rng.IntN(2) {
		p := BookingPassenger{ID: fmt.Sprintf("%s-%d", loc, i), Tier: []string{"", "silver", "gold"}[rng.IntN(3)]}
		if rng.IntN(3) == 0 {
			p.SSR = []string{"WCHR"}
		}
		b.Passengers = append(b.Passengers, p)
	}
	return b, len(b.Segments) > 1
}

// TestOptionsMatchBruteForce compares the generator with bruteForce on
// random schedules, random rules and random multi-leg bookings disrupted
// by the schedule's own cancellations, diversions and delays: every
// option valid, none missed, in the order of preference; and PlanAll
// never promises the same last seat twice.
func TestOptionsMatchBruteForce(t *testing.T) {
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	airports := []string{"AAA", "BBB", "CCC", "DDD", "EEE"}
	var total, kept, needs, multi, wchrAt int
	for seed := uint64(0); seed < 500; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		flights, seatMap := randomSchedule(rng, 150, base)
		seats := func(f, c string) int { return seatMap[f+"/"+c] }
		for _, f := range flights {
			f.Capacity = map[string]int{"Y": 5, "J": 3}
		}
		rules := randomRules(rng, airports)
		now := base.Add(time.Duration(rng.IntN(12*12)) * 5 * time.Minute)
		byKey := map[string]*Flight{}
		for _, f := range flights {
			byKey[f.Flight] = f
		}
		var ns []Need
		for i := range 12 {
			b, isMulti := randomBooking(rng, fmt.Sprintf("L%04d%d", seed, i), flights)
			n, ok := NeedFor(b, byKey, rules, now)
			if !ok {
				continue
			}
			needs++
			if isMulti {
				multi++
			}
			ns = append(ns, n)
			got := Options(n, flights, seats, rules)
			want := bruteForce(n, flights, seats, rules, now)
			gotSet := map[string]bool{}
			for i, opt := range got {
				k := strings.Join(opt.Flights, ",") + "|" + strings.Join(opt.Keeps, ",") + "|" + opt.Cabin
				if !want[k] {
					t.Fatalf("seed %d: invalid option %s for %+v", seed, k, n)
				}
				if gotSet[k] {
					t.Fatalf("seed %d: option %s twice", seed, k)
				}
				gotSet[k] = true
				if i > 0 {
					prev := got[i-1]
					if len(opt.Keeps) > len(prev.Keeps) || len(opt.Keeps) == len(prev.Keeps) && (opt.Arrive.Before(prev.Arrive) ||
						opt.Arrive.Equal(prev.Arrive) && opt.Changes < prev.Changes) {
						t.Fatalf("seed %d: %s before %s breaks the order of preference", seed, strings.Join(prev.Flights, ","), k)
					}
				}
				if opt.Changes != len(opt.Flights)+len(opt.Keeps)-1 {
					t.Fatalf("seed %d: option %s counts %d changes", seed, k, opt.Changes)
				}
				if len(opt.Keeps) > 0 {
					kept++
				}
				for _, c := range opt.Connections {
					if _, ok := rules.MinConnectionWCHR[c.Airport]; ok && n.WCHR {
						wchrAt++
					}
				}
			}
			for k := range want {
				if !gotSet[k] {
					t.Fatalf("seed %d: missed valid option %s for %+v", seed, k, n)
				}
			}
			total += len(got)
		}
		// Several passengers, the same last seats: the top options of all
		// plans together never take more seats than there are.
		used := map[string]int{}
		for i, p := range PlanAll(ns, flights, seats, rules) {
			if i > 0 && len(p.Options) > 0 && len(ns) > 1 {
				_ = i
			}
			if len(p.Options) > 0 {
				for _, f := range p.Options[0].Flights {
					used[f+"/"+p.Options[0].Cabin] += p.Need.Pax
				}
			}
		}
		for k, u := range used {
			if u > seatMap[k] {
				t.Fatalf("seed %d: %d seats promised on %s which has %d", seed, u, k, seatMap[k])
			}
		}
	}
	t.Logf("%d disrupted bookings (%d multi-leg), %d options, %d keeping booked onward flights, %d connections at an airport's own wheelchair minimum", needs, multi, total, kept, wchrAt)
	if total < 300 || kept < 30 || multi < 200 {
		t.Fatalf("only %d options (%d keeping onward flights) over %d multi-leg needs: the test exercises too little", total, kept, multi)
	}
}

func TestPlanAllNeverOffersTheSameLastSeatTwice(t *testing.T) {
	rules := DefaultRebookRules()
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	for seed := uint64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		flights, seatMap := randomSchedule(rng, 30, base)
		seats := func(f, c string) int { return seatMap[f+"/"+c] }
		var needs []Need
		for i := 0; i < 12; i++ {
			n := Need{Locator: fmt.Sprintf("L%05d", i), Origin: "AAA", Destination: "BBB", Pax: 1 + rng.IntN(2), Cabin: "Y", Earliest: base,
				Priority: Priority{SSR: rng.IntN(3), Tier: rng.IntN(4)}}
			n.Latest = n.Earliest.Add(48 * time.Hour)
			needs = append(needs, n)
		}
		plans := PlanAll(needs, flights, seats, rules)
		used := map[string]int{}
		for i, p := range plans {
			if i > 0 && p.Need.Priority.Before(plans[i-1].Need.Priority) {
				t.Fatalf("seed %d: plans not in priority order", seed)
			}
			if len(p.Options) > 0 {
				for _, f := range p.Options[0].Flights {
					used[f+"/Y"] += p.Need.Pax
				}
			}
		}
		for k, n := range used {
			if n > seatMap[k] {
				t.Fatalf("seed %d: %d seats promised on %s which has %d", seed, n, k, seatMap[k])
			}
		}
	}
}

func TestNeedFor(t *testing.T) {
	rules := DefaultRebookRules()
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	now := t0.Add(-2 * time.Hour)
	in := &Flight{Flight: "LH1-2026-11-25", Origin: "JFK", Destination: "FRA", ScheduledDeparture: t0, ScheduledArrival: t0.Add(8 * time.Hour), Status: FlightScheduled}
	out := &Flight{Flight: "LH2-2026-11-25", Origin: "FRA", Destination: "MUC", ScheduledDeparture: t0.Add(9*time.Hour + 30*time.Minute), ScheduledArrival: t0.Add(11 * time.Hour), Status: FlightScheduled}
	b := &Booking{Locator: "ABC123", Status: BookingActive, Passengers: []BookingPassenger{{ID: "P1", Tier: "gold", SSR: []string{"WCHR"}}},
		Segments: []Segment{{Flight: in.Flight, Cabin: "Y"}, {Flight: out.Flight, Cabin: "Y"}}}
	fl := func() map[string]*Flight { return map[string]*Flight{in.Flight: in, out.Flight: out} }

	if _, ok := NeedFor(b, fl(), rules, now); ok {
		t.Fatal("an undisturbed booking needs nothing (90 min >= 60+30 min for WCHR)")
	}
	// A 30-minute delay leaves 60 minutes: below the wheelchair MCT of 90.
	ea := in.ScheduledArrival.Add(30 * time.Minute)
	in.EstimatedArrival, in.Status = &ea, FlightDelayed
	n, ok := NeedFor(b, fl(), rules, now)
	if !ok || n.Reason != ReasonMisconnect || n.Origin != "FRA" || n.Destination != "MUC" || !n.Earliest.Equal(ea.Add(90*time.Minute)) || !slices.Equal(n.Replace, []string{out.Flight}) {
		t.Fatalf("misconnect: %+v %v", n, ok)
	}
	if n.Priority.SSR != 2 || n.Priority.Tier != 2 || n.Priority.Onward != 0 {
		t.Fatalf("priority %+v", n.Priority)
	}
	// The inbound cancelled: the whole journey is replaced from JFK.
	in.Status, in.EstimatedArrival = FlightCancelled, nil
	n, ok = NeedFor(b, fl(), rules, now)
	if !ok || n.Reason != ReasonCancelled || n.Origin != "JFK" || len(n.Replace) != 2 || n.Priority.Onward != 1 {
		t.Fatalf("cancellation: %+v", n)
	}
	// A cancelled booking needs nothing.
	b.Status = BookingCancelled
	if _, ok := NeedFor(b, fl(), rules, now); ok {
		t.Fatal("cancelled booking")
	}
	// Priority: a minor before a platinum before the rest.
	ps := []Priority{{Tier: 3}, {SSR: 3}, {}, {Tier: 3, Onward: 1}}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Before(ps[j]) })
	if ps[0].SSR != 3 || ps[1].Onward != 1 || ps[3] != (Priority{}) {
		t.Fatalf("priority order %+v", ps)
	}
}

func TestConnectionLimitsAreExact(t *testing.T) {
	rules := DefaultRebookRules()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	leg := func(key, o, d string, dep time.Time) *Flight {
		return &Flight{Flight: key, Origin: o, Destination: d, ScheduledDeparture: dep, ScheduledArrival: dep.Add(time.Hour), Status: FlightScheduled}
	}
	all := func(string, string) int { return 9 }
	for _, tt := range []struct {
		gap  time.Duration
		wchr bool
		ok   bool
	}{
		{60 * time.Minute, false, true}, {59 * time.Minute, false, false},
		{90 * time.Minute, true, true}, {89 * time.Minute, true, false},
		{6 * time.Hour, false, true}, {6*time.Hour + time.Minute, false, false},
	} {
		a := leg("XX1-2026-11-25", "AAA", "BBB", t0)
		b := leg("XX2-2026-11-25", "BBB", "CCC", t0.Add(time.Hour+tt.gap))
		n := Need{Origin: "AAA", Destination: "CCC", Pax: 1, Cabin: "Y", Earliest: t0, Latest: t0.Add(24 * time.Hour), WCHR: tt.wchr}
		got := len(Options(n, []*Flight{a, b}, all, rules)) == 1
		if got != tt.ok {
			t.Errorf("gap %s wchr %v: option %v, want %v", tt.gap, tt.wchr, got, tt.ok)
		}
	}
}

// generatedDay is a hub-and-spoke day: flights between two hubs and their
// spokes every hour, bookings of one to three legs through the hubs, and
// cancellations and delays spread over the day.
func generatedDay(seed uint64) ([]*Flight, []*Booking, func(f, c string) int) {
	rng := rand.New(rand.NewPCG(seed, 2026))
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	hubs := []string{"FRA", "CPH"}
	spokes := []string{"CDG", "LHR", "MAD", "FCO", "HEL", "OSL", "ARN", "VIE", "WAW", "LIS", "DUB", "ATH"}
	var flights []*Flight
	add := func(o, d string, dep time.Time) {
		f := &Flight{Flight: fmt.Sprintf("XY%d-2026-11-25", 100+len(flights)), Origin: o, Destination: d, ScheduledDeparture: dep,
			ScheduledArrival: dep.Add(time.Duration(60+5*rng.IntN(24)) * time.Minute), Status: FlightScheduled, Capacity: map[string]int{"Y": 150, "J": 20}}
		flights = append(flights, f)
	}
	for h := 6; h < 22; h++ {
		for _, hub := range hubs {
			for _, sp := range spokes {
				if rng.IntN(2) == 0 {
					add(sp, hub, base.Add(time.Duration(h)*time.Hour+time.Duration(5*rng.IntN(12))*time.Minute))
				}
				if rng.IntN(2) == 0 {
					add(hub, sp, base.Add(time.Duration(h)*time.Hour+time.Duration(5*rng.IntN(12))*time.Minute))
				}
			}
			if rng.IntN(2) == 0 {
				add(hub, hubs[1-slices.Index(hubs, hub)], base.Add(time.Duration(h)*time.Hour+time.Duration(5*rng.IntN(12))*time.Minute))
			}
		}
	}
	left := map[string]int{}
	for _, f := range flights {
		left[f.Flight+"/Y"], left[f.Flight+"/J"] = rng.IntN(6), rng.IntN(3)
	}
	var bookings []*Booking
	for i := 0; len(bookings) < 2000 && i < 20000; i++ {
		b, multi := randomBooking(rng, fmt.Sprintf("D%05d", i), flights)
		if multi {
			bookings = append(bookings, b)
		}
	}
	for _, f := range flights {
		switch r := rng.IntN(100); {
		case r < 6:
			f.Status = FlightCancelled
		case r < 25:
			ed, ea := f.ScheduledDeparture.Add(time.Duration(5*(1+rng.IntN(30)))*time.Minute), f.ScheduledArrival
			ea = ea.Add(ed.Sub(f.ScheduledDeparture))
			f.EstimatedDeparture, f.EstimatedArrival, f.Status = &ed, &ea, FlightDelayed
		}
	}
	return flights, bookings, func(f, c string) int { return left[f+"/"+c] }
}

// TestCoverageOnAGeneratedDay prints the share of disrupted multi-leg
// bookings that get at least one option, beside the brute-force search
// with the same rules in the same run (the README quotes it), and the
// share the rules would reach without keeping booked onward flights.
func TestCoverageOnAGeneratedDay(t *testing.T) {
	rules := DefaultRebookRules()
	flights, bookings, seats := generatedDay(12)
	now := time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)
	byKey := map[string]*Flight{}
	for _, f := range flights {
		byKey[f.Flight] = f
	}
	var disrupted, got, brute, withoutKeeping int
	for _, b := range bookings {
		n, ok := NeedFor(b, byKey, rules, now)
		if !ok {
			continue
		}
		disrupted++
		opts := Options(n, flights, seats, rules)
		if len(opts) > 0 {
			got++
		}
		if len(bruteForce(n, flights, seats, rules, now)) > 0 {
			brute++
		}
		for _, o := range opts {
			if len(o.Keeps) == 0 {
				withoutKeeping++
				break
			}
		}
	}
	t.Logf("generated day: %d flights, %d multi-leg bookings, %d disrupted; with an option: %d (%.1f%%), brute force %d (%.1f%%); without keeping onward flights %d (%.1f%%)",
		len(flights), len(bookings), disrupted, got, 100*float64(got)/float64(disrupted), brute, 100*float64(brute)/float64(disrupted),
		withoutKeeping, 100*float64(withoutKeeping)/float64(disrupted))
	if got != brute || disrupted < 100 {
		t.Fatalf("%d of %d disrupted bookings have an option, the brute force finds %d", got, disrupted, brute)
	}
}

// TestNoOptionCauseSaysTheActualCause: the window is blamed only when a
// flight exists after it.
func TestNoOptionCauseSaysTheActualCause(t *testing.T) {
	rules := DefaultRebookRules()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	leg := func(key, o, d string, dep time.Time) *Flight {
		return &Flight{Flight: key, Origin: o, Destination: d, ScheduledDeparture: dep, ScheduledArrival: dep.Add(time.Hour), Status: FlightScheduled}
	}
	n := Need{Origin: "AAA", Destination: "CCC", Pax: 2, Cabin: "Y", Earliest: t0, Latest: t0.Add(rules.Window)}
	for _, tc := range []struct {
		name    string
		flights []*Flight
		seats   int
		want    string
	}{
		{"full", []*Flight{leg("XX1-2026-11-25", "AAA", "CCC", t0.Add(time.Hour))}, 1, "seat(s) left in cabin Y"},
		{"after the window", []*Flight{leg("XX1-2026-11-26", "AAA", "CCC", t0.Add(30*time.Hour))}, 9, "within the rebooking window (24h0m0s): the first one leaves Thu 26 Nov 14:00"},
		{"tight connection", []*Flight{leg("XX1-2026-11-25", "AAA", "BBB", t0), leg("XX2-2026-11-25", "BBB", "CCC", t0.Add(70*time.Minute))}, 9, "shorter than the minimum connection time"},
		{"no route", []*Flight{leg("XX1-2026-11-25", "AAA", "DDD", t0)}, 9, "No flight or one-stop connection from AAA to CCC"},
	} {
		got := NoOptionCause(n, tc.flights, func(string, string) int { return tc.seats }, rules)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
