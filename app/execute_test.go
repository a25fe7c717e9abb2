package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type seatMap map[string]int

func (m seatMap) SeatsLeft(_ context.Context, flight, cabin string) (int, error) {
	return m[flight+"/"+cabin], nil
}

func TestDecideExecution(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	proposal := func(status string) *Proposal {
		return &Proposal{ID: "p1", Locator: "ABC123", Flight: "LH400-2026-11-25", Status: status, Chosen: "opt-1",
			Need:    Need{Pax: 2, Replace: []string{"LH400-2026-11-25"}},
			Options: []Option{{ID: "opt-1", Cabin: "Y", Flights: []string{"LH402-2026-11-25", "UA10-2026-11-25"}}}}
	}
	booking := func(status string) *Booking {
		return &Booking{Locator: "ABC123", Status: status, Segments: []Segment{{Flight: "XX1-2026-11-24"}, {Flight: "LH400-2026-11-25"}}}
	}
	for _, tc := range []struct {
		name     string
		p        *Proposal
		b        *Booking
		seats    seatMap
		expected string
		code     string
		outcome  string
		events   []string
	}{
		{"executes with seats on every flight", proposal(ProposalPending), booking(BookingActive), seatMap{"LH402-2026-11-25/Y": 2, "UA10-2026-11-25/Y": 5}, "", "",
			ProposalExecuted, []string{TypeRebookingExecuted, TypeBookingChanged}},
		{"fails when one flight is short", proposal(ProposalPending), booking(BookingActive), seatMap{"LH402-2026-11-25/Y": 2, "UA10-2026-11-25/Y": 1}, "", "",
			ProposalFailed, []string{TypeRebookingFailed}},
		{"fails for a cancelled booking", proposal(ProposalPending), booking(BookingCancelled), seatMap{"LH402-2026-11-25/Y": 9, "UA10-2026-11-25/Y": 9}, "", "",
			ProposalFailed, []string{TypeRebookingFailed}},
		{"refuses a decided proposal", proposal(ProposalExecuted), booking(BookingActive), nil, "", ECONFLICT, "", nil},
		{"refuses an option the proposal does not have", proposal(ProposalPending), booking(BookingActive), nil, "opt-9", ECONFLICT, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ExecutionInput{Request: ExecutionRequest{ProposalID: "p1", Key: "k", Actor: "ana", Option: tc.expected, Now: now},
				Proposal: tc.p, Booking: tc.b, BookingTime: now.Add(time.Minute), Seats: tc.seats}
			ch, err := DecideExecution(context.Background(), in)
			if ErrorCode(err) != tc.code {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			if err != nil {
				return
			}
			if ch.Execution.Outcome != tc.outcome || len(ch.Events) != len(tc.events) {
				t.Fatalf("outcome %s with %d events: %+v", ch.Execution.Outcome, len(ch.Events), ch)
			}
			for i, e := range ch.Events {
				if e.Type != tc.events[i] {
					t.Errorf("event %d is %s, want %s", i, e.Type, tc.events[i])
				}
			}
			if tc.outcome != ProposalExecuted {
				if len(ch.Holds) != 0 {
					t.Errorf("a failed execution holds seats: %+v", ch.Holds)
				}
				return
			}
			if len(ch.Holds) != 2 || ch.Holds[0].Seats != 2 || !ch.Holds[0].EventTime.After(in.BookingTime) {
				t.Errorf("holds %+v: want 2 seats on each flight, after the booking's time", ch.Holds)
			}
		})
	}
}

type flightMap map[string]*Flight

func (m flightMap) FlightNow(_ context.Context, key string) (*Flight, error) { return m[key], nil }

// TestApprovalChecksTime: an option is executed only while every flight
// can still be boarded; any option of the proposal can be picked, and
// the record says whether it was the proposed one.
func TestApprovalChecksTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	leg := func(key string, dep time.Time, status string) *Flight {
		return &Flight{Flight: key, Origin: "FRA", Destination: "JFK", ScheduledDeparture: dep, ScheduledArrival: dep.Add(8 * time.Hour), Status: status}
	}
	p := &Proposal{ID: "p1", Locator: "ABC123", Flight: "LH400-2026-11-25", Status: ProposalPending, Chosen: "opt-1",
		Need:    Need{Pax: 1, Replace: []string{"LH400-2026-11-25"}},
		Options: []Option{{ID: "opt-1", Cabin: "Y", Flights: []string{"LH402-2026-11-25"}}, {ID: "opt-2", Cabin: "Y", Flights: []string{"LH404-2026-11-25"}}}}
	b := &Booking{Locator: "ABC123", Status: BookingActive, Segments: []Segment{{Flight: "LH400-2026-11-25", Cabin: "Y"}}}
	seats := seatMap{"LH402-2026-11-25/Y": 9, "LH404-2026-11-25/Y": 9}
	d := Decider{Rules: DefaultRebookRules(), Now: func() time.Time { return now }}
	for _, tc := range []struct {
		name   string
		option string
		f402   *Flight
		gone   string // in the refusal; "" executes
	}{
		{"executes while boarding is open", "", leg("LH402-2026-11-25", now.Add(21*time.Minute), FlightScheduled), ""},
		{"refuses once boarding closed", "", leg("LH402-2026-11-25", now.Add(19*time.Minute), FlightScheduled), "boarding of LH402 closed at 11:59"},
		{"refuses a departed flight", "", leg("LH402-2026-11-25", now.Add(2*time.Hour), FlightDeparted), "LH402 has departed"},
		{"refuses a flight cancelled since", "", leg("LH402-2026-11-25", now.Add(2*time.Hour), FlightCancelled), "LH402 has been cancelled"},
		{"executes another option", "opt-2", leg("LH402-2026-11-25", now.Add(-time.Hour), FlightDeparted), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := flightMap{"LH402-2026-11-25": tc.f402, "LH404-2026-11-25": leg("LH404-2026-11-25", now.Add(3*time.Hour), FlightScheduled)}
			in := ExecutionInput{Request: ExecutionRequest{ProposalID: "p1", Key: "k", Option: tc.option, Now: now.Add(-time.Hour)}, Proposal: p, Booking: b, Seats: seats, Flights: fl}
			ch, err := d.Execution(context.Background(), in)
			if tc.gone != "" {
				if !errors.Is(err, ErrOptionGone) || ErrorCode(err) != ECONFLICT || !strings.Contains(ErrorMessage(err), tc.gone) {
					t.Fatalf("got %v (%q), want ECONFLICT naming %q", err, ErrorMessage(err), tc.gone)
				}
				return
			}
			if err != nil || ch.Execution.Outcome != ProposalExecuted {
				t.Fatalf("execution: %+v %v", ch, err)
			}
			want := tc.option
			if want == "" {
				want = "opt-1"
			}
			if ch.Execution.Option != want || ch.Execution.Proposed != (want == "opt-1") {
				t.Fatalf("record: %+v", ch.Execution)
			}
		})
	}
}

// TestRebookedSegmentsKeepTheJourneyInOrder: new flights go where the
// replaced ones were, before the kept onward flights.
func TestRebookedSegmentsKeepTheJourneyInOrder(t *testing.T) {
	segs := []Segment{{Flight: "A"}, {Flight: "B"}, {Flight: "C"}}
	n := Need{Replace: []string{"A", "B", "C"}}
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{Option{Flights: []string{"X"}, Keeps: []string{"B", "C"}, Replaces: []string{"A"}}, "X,B,C"},
		{Option{Flights: []string{"X", "Y"}, Keeps: []string{"C"}, Replaces: []string{"A", "B"}}, "X,Y,C"},
		{Option{Flights: []string{"X"}, Keeps: []string{}, Replaces: []string{"A", "B", "C"}}, "X"},
		{Option{Flights: []string{"X"}}, "X"}, // stored before Replaces: the whole need
	} {
		var got []string
		for _, sg := range rebookedSegments(segs, &tc.opt, n) {
			got = append(got, sg.Flight)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%+v: %v, want %s", tc.opt, got, tc.want)
		}
	}
}
