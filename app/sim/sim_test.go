package sim_test

import (
	"bytes"
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
