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

// bruteForce enumerates every one- and two-flight path and keeps the valid
// ones, checking each rule on its own, without the generator's indexing.
func bruteForce(n Need, flights []*Flight, seats SeatsLeft, r RebookRules) map[string]bool {
	ok := func(f *Flight) bool {
		if f.Status == FlightCancelled || f.Status == FlightDiverted || f.Status == FlightDeparted || f.Status == FlightArrived || f.Status == FlightBoarding {
			return false
		}
		if f.Departure().Before(n.Earliest) || f.Departure().After(n.Latest) {
			return false
		}
		for _, x := range n.Replace {
			if x == f.Flight {
				return false
			}
		}
		return seats(f.Flight, n.Cabin) >= n.Pax
	}
	out := map[string]bool{}
	for _, a := range flights {
		if a.Origin == n.Origin && a.Destination == n.Destination && ok(a) {
			out[a.Flight] = true
		}
		for _, b := range flights {
			if a == b || a.Origin != n.Origin || b.Destination != n.Destination || a.Destination != b.Origin {
				continue
			}
			if a.Destination == n.Destination || a.Destination == n.Origin || !ok(a) || !ok(b) {
				continue
			}
			gap := b.Departure().Sub(a.Arrival())
			if gap >= r.MCT(a.Destination, n.WCHR) && gap <= r.MaxConnection {
				out[a.Flight+","+b.Flight] = true
			}
		}
	}
	return out
}

func TestOptionsMatchBruteForce(t *testing.T) {
	rules := DefaultRebookRules()
	base := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	airports := []string{"AAA", "BBB", "CCC", "DDD", "EEE"}
	total := 0
	for seed := uint64(0); seed < 500; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		flights, seatMap := randomSchedule(rng, 60, base)
		seats := func(f, c string) int { return seatMap[f+"/"+c] }
		o := airports[rng.IntN(len(airports))]
		d := airports[rng.IntN(len(airports))]
		if o == d {
			continue
		}
		n := Need{Origin: o, Destination: d, Pax: 1 + rng.IntN(2), Cabin: []string{"Y", "J"}[rng.IntN(2)], WCHR: rng.IntN(4) == 0,
			Earliest: base.Add(time.Duration(rng.IntN(24*60)) * time.Minute)}
		n.Latest = n.Earliest.Add(rules.Window)
		if len(flights) > 0 && rng.IntN(2) == 0 {
			n.Replace = []string{flights[rng.IntN(len(flights))].Flight}
		}
		got := Options(n, flights, seats, rules)
		want := bruteForce(n, flights, seats, rules)
		gotSet := map[string]bool{}
		for i, opt := range got {
			k := strings.Join(opt.Flights, ",")
			if !want[k] {
				t.Fatalf("seed %d: invalid option %s for %+v", seed, k, n)
			}
			if gotSet[k] {
				t.Fatalf("seed %d: option %s twice", seed, k)
			}
			gotSet[k] = true
			if i > 0 && opt.Arrive.Before(got[i-1].Arrive) {
				t.Fatalf("seed %d: options not ordered by arrival", seed)
			}
		}
		for k := range want {
			if !gotSet[k] {
				t.Fatalf("seed %d: missed valid option %s for %+v", seed, k, n)
			}
		}
		total += len(got)
	}
	if total < 200 {
		t.Fatalf("only %d options over all schedules: the test exercises too little", total)
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
