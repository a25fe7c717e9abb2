package sim_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
)

func TestDayIsValidRealisticAndReproducible(t *testing.T) {
	cfg := sim.Config{Seed: 42, Date: "2026-11-25"}
	day := sim.Generate(cfg)
	v := app.DefaultValidator()
	counts := map[string]int{}
	statuses := map[string]int{}
	ids := map[string]bool{}
	for i, te := range day.Events {
		e, err := v.Parse(te.Event.Raw, te.Event.Topic())
		if err != nil {
			t.Fatalf("event %d (%s) invalid: %v", i, te.Event.Type, err)
		}
		if ids[e.ID] {
			t.Fatalf("duplicate id %s", e.ID)
		}
		ids[e.ID] = true
		if i > 0 && te.At.Before(day.Events[i-1].At) {
			t.Fatal("events out of time order")
		}
		counts[e.Type]++
		if e.Type == app.TypeFlightStatus {
			var f app.Flight
			_ = app.DecodeData(e, &f)
			statuses[f.Status]++
		}
	}
	if counts[app.TypeFlightScheduled] != 600 || counts[app.TypeBookingCreated] < 3000 || counts[app.TypePassengerUpserted] < 3000 || counts[app.TypeDocumentUpserted] != len(sim.Policies) {
		t.Fatalf("counts %v", counts)
	}
	if statuses[app.FlightCancelled] == 0 || statuses[app.FlightDelayed] == 0 || statuses[app.FlightDiverted] != 1 {
		t.Fatalf("disruptions %v", statuses)
	}
	// Connections at the hub respect a minimum connection time.
	connections := 0
	for _, te := range day.Events {
		if te.Event.Type != app.TypeBookingCreated {
			continue
		}
		var b app.Booking
		_ = app.DecodeData(te.Event, &b)
		if len(b.Segments) == 2 {
			connections++
			in, out := day.Flights[b.Segments[0].Flight], day.Flights[b.Segments[1].Flight]
			if in.Destination != "FRA" || out.Origin != "FRA" || out.ScheduledDeparture.Sub(in.ScheduledArrival) < 45*time.Minute {
				t.Fatalf("bad connection %s: %s -> %s", b.Locator, in.Flight, out.Flight)
			}
		}
	}
	if connections < 500 {
		t.Fatalf("only %d connecting bookings", connections)
	}
	again := sim.Generate(cfg)
	if len(again.Events) != len(day.Events) || !bytes.Equal(again.Events[len(day.Events)/2].Event.Raw, day.Events[len(day.Events)/2].Event.Raw) {
		t.Fatal("the same seed gave a different day")
	}
	if other := sim.Generate(sim.Config{Seed: 43, Date: "2026-11-25"}); bytes.Equal(other.Events[700].Event.Raw, day.Events[700].Event.Raw) {
		t.Fatal("a different seed gave the same day")
	}
}

// The day after, in a run of days, is another valid day that shares no
// flight, booking, passenger or event id with the day before, while the
// first day stays what it was without one.
func TestNextDayTakesNoneOfTheDayBefore(t *testing.T) {
	first := sim.Generate(sim.Config{Seed: 7, Date: "2026-11-25", Departures: 60})
	again := sim.Generate(sim.Config{Seed: 7, Date: "2026-11-25", Departures: 60})
	if len(first.Events) != len(again.Events) || !bytes.Equal(first.Events[len(first.Events)-1].Event.Raw, again.Events[len(again.Events)-1].Event.Raw) {
		t.Fatal("the first day is not reproducible")
	}
	v := app.DefaultValidator()
	ids := func(d *sim.Day) map[string]string {
		out := map[string]string{}
		for _, te := range d.Events {
			e, err := v.Parse(te.Event.Raw, te.Event.Topic())
			if err != nil {
				t.Fatalf("%s: %v", te.Event.ID, err)
			}
			out["event "+e.ID] = e.Type
			if e.Type != app.TypeDocumentUpserted && e.Type != app.TypeFlightStatus {
				out[e.Type+" "+e.Subject] = e.ID // a flight, booking or person made
			}
		}
		return out
	}
	prev := ids(first)
	day := first
	for n := 1; n <= 3; n++ {
		next := day.Next()
		if want := time.Date(2026, 11, 25+n, 0, 0, 0, 0, time.UTC).Format(time.DateOnly); next.Config.Date != want {
			t.Fatalf("day %d is %s, want %s", n, next.Config.Date, want)
		}
		if !next.Start.After(day.Start) || len(next.Events) < len(first.Events)/2 {
			t.Fatalf("day %d starts %s (the day before %s), %d events", n, next.Start, day.Start, len(next.Events))
		}
		got := ids(next)
		for k := range got {
			if _, ok := prev[k]; ok {
				t.Fatalf("day %d repeats %s of an earlier day", n, k)
			}
		}
		for k, v := range got {
			prev[k] = v
		}
		day = next
	}
}

// Every event of a run of days is in exactly one window, in time order.
func TestWindowsHoldEveryEventOnce(t *testing.T) {
	days := []*sim.Day{sim.Generate(sim.Config{Seed: 3, Date: "2026-11-25", Departures: 40})}
	for range 4 {
		days = append(days, days[len(days)-1].Next())
	}
	seen := map[string]int{}
	for k := 0; k+1 < len(days); k++ {
		var prev *sim.Day
		if k > 0 {
			prev = days[k-1]
		}
		w := sim.Window(prev, days[k], days[k+1])
		for i, te := range w.Events {
			if i > 0 && te.At.Before(w.Events[i-1].At) {
				t.Fatalf("window %d out of time order at %d", k, i)
			}
			seen[te.Event.ID]++
		}
		if w.Config.Date != days[k].Config.Date || w.Start.Before(days[k].Start) {
			t.Fatalf("window %d: date %s, starts %s before its day %s", k, w.Config.Date, w.Start, days[k].Start)
		}
	}
	// The first four days whole, and of the fifth what came before the
	// fourth's last event.
	for k, d := range days {
		for _, te := range d.Events {
			n := seen[te.Event.ID]
			if k < 4 && n != 1 || k == 4 && n != 0 && te.At.After(days[3].End) || n > 1 {
				t.Fatalf("event %s of day %d in %d windows", te.Event.ID, k, n)
			}
		}
	}
}

// At any hub, every flight is one of the hub's, to or from another
// airport, and its block time and aircraft follow its distance: a hub in
// the list of airports served does not fly to itself, and from New York
// Boston is short haul and Frankfurt long.
func TestEveryHubFliesItsOwnRoutes(t *testing.T) {
	hours := func(f *app.Flight) float64 { return f.ScheduledArrival.Sub(f.ScheduledDeparture).Hours() }
	for _, hub := range []string{"FRA", "MAD", "JFK", "SIN", "VIE"} {
		day := sim.Generate(sim.Config{Seed: 3, Hub: hub, Date: "2026-11-25", Departures: 120})
		byOther := map[string][]*app.Flight{}
		for _, f := range day.Flights {
			if f.Origin == f.Destination || f.Origin != hub && f.Destination != hub {
				t.Fatalf("%s: flight %s %s→%s", hub, f.Flight, f.Origin, f.Destination)
			}
			other := f.Destination
			if other == hub {
				other = f.Origin
			}
			byOther[other] = append(byOther[other], f)
			if wide := f.Capacity["J"] >= 30; wide != strings.HasPrefix(f.Gate, "Z") || wide && hours(f) < 5 || !wide && hours(f) > 6 {
				t.Errorf("%s: %s %s→%s: J %d, gate %s, %.1f h: wide-body, long-haul gate and block time disagree", hub, f.Flight, f.Origin, f.Destination, f.Capacity["J"], f.Gate, hours(f))
			}
			if h := hours(f); h < 0.6 || h > 21 {
				t.Errorf("%s: %s %s→%s takes %.1f h", hub, f.Flight, f.Origin, f.Destination, h)
			}
		}
		if len(byOther) < 20 {
			t.Errorf("%s: %d airports served", hub, len(byOther))
		}
	}
	jfk := sim.Generate(sim.Config{Seed: 3, Hub: "JFK", Date: "2026-11-25", Departures: 300})
	for _, f := range jfk.Flights {
		other := f.Destination
		if other == "JFK" {
			other = f.Origin
		}
		if h := hours(f); other == "BOS" && h > 2 || other == "FRA" && h < 6 || other == "EWR" {
			t.Errorf("JFK: %s %s→%s takes %.1f h", f.Flight, f.Origin, f.Destination, h)
		}
	}
}
