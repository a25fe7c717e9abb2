package vectors_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

// pages follows a list's cursor from its start and returns the ids in
// the order the pages gave them.
func pages[T any](t *testing.T, size int, read func(limit int) ([]T, error), id func(T) string, advance func(T)) []string {
	t.Helper()
	var out []string
	for range 100 {
		items, err := read(size)
		must(t, err)
		for _, it := range items {
			out = append(out, id(it))
		}
		if len(items) < size {
			return out
		}
		advance(items[len(items)-1])
	}
	t.Fatal("the cursor does not reach the end")
	return nil
}

func TestFlightCursorWalksEveryFlightOnce(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	var changes []app.StateChange
	for i := range 11 {
		// Three flights share each departure minute: the key breaks ties.
		dep := t0.Add(time.Duration(i/3) * time.Hour)
		f := &app.Flight{Flight: fmt.Sprintf("LH%d-2026-11-25", 100+i), Carrier: "LH", Number: fmt.Sprint(100 + i), Date: "2026-11-25", Origin: "FRA", Destination: "JFK",
			ScheduledDeparture: dep, ScheduledArrival: dep.Add(8 * time.Hour), Status: app.FlightScheduled}
		if i == 4 {
			e := dep.Add(90 * time.Second)
			f.EstimatedDeparture = &e
		}
		changes = append(changes, app.StateChange{Type: app.TypeFlightScheduled, Key: f.Flight, Version: app.Version{EventID: f.Flight, EventTime: t0, Offset: uint64(i + 1)}, LogTime: t0, Flight: f})
	}
	must(t, s.ApplyState(ctx, "state", "flights", changes, 11, t0))
	all, err := s.Flights(ctx, app.FlightFilter{Airport: "FRA"})
	must(t, err)
	var want []string
	for _, r := range all {
		want = append(want, r.Flight.Flight)
	}
	f := app.FlightFilter{Airport: "FRA"}
	got := pages(t, 4, func(limit int) ([]*app.FlightRecord, error) { f.Limit = limit; return s.Flights(ctx, f) },
		func(r *app.FlightRecord) string { return r.Flight.Flight },
		func(r *app.FlightRecord) { c := app.FlightCursorAfter(&r.Flight); f.After = &c })
	if len(want) != 11 || !slices.Equal(got, want) {
		t.Fatalf("pages of 4 gave\n %v\nthe whole list is\n %v", got, want)
	}
}

func TestProposalCursorWalksEveryProposalOnce(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	var ps []*app.Proposal
	for i := range 7 {
		ps = append(ps, &app.Proposal{ID: fmt.Sprintf("p-%02d", i), Locator: fmt.Sprintf("LOC%03d", i), Flight: []string{"LH400-2026-11-25", "LH402-2026-11-25"}[i%2],
			Reason: "cancelled", Rank: i / 3, CreatedAt: t0})
	}
	var changes []app.ControlChange
	for i, p := range ps {
		changes = append(changes, app.ControlChange{Type: app.TypeProposalChanged, Offset: uint64(i + 1),
			Proposal: &app.ProposalChange{Op: app.OpPlanned, ProposalID: p.ID, Locator: p.Locator, Flight: p.Flight, Proposal: p}})
	}
	if err := s.ApplyControl(ctx, changes, uint64(len(ps)), t0); err != nil {
		t.Fatal(err)
	}
	all, err := s.Proposals(ctx, app.ProposalFilter{Status: app.ProposalPending})
	must(t, err)
	var want []string
	for _, p := range all {
		want = append(want, p.ID)
	}
	f := app.ProposalFilter{Status: app.ProposalPending}
	got := pages(t, 3, func(limit int) ([]*app.Proposal, error) { f.Limit = limit; return s.Proposals(ctx, f) },
		func(p *app.Proposal) string { return p.ID },
		func(p *app.Proposal) { c := app.ProposalCursorAfter(p); f.After = &c })
	if len(want) != 7 || !slices.Equal(got, want) {
		t.Fatalf("pages of 3 gave\n %v\nthe whole list is\n %v", got, want)
	}
}
