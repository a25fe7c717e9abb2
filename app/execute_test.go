package app

import (
	"context"
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
			ProposalExecuted, []string{TypeBookingChanged, TypeRebookingExecuted}},
		{"fails when one flight is short", proposal(ProposalPending), booking(BookingActive), seatMap{"LH402-2026-11-25/Y": 2, "UA10-2026-11-25/Y": 1}, "", "",
			ProposalFailed, []string{TypeRebookingFailed}},
		{"fails for a cancelled booking", proposal(ProposalPending), booking(BookingCancelled), seatMap{"LH402-2026-11-25/Y": 9, "UA10-2026-11-25/Y": 9}, "", "",
			ProposalFailed, []string{TypeRebookingFailed}},
		{"refuses a decided proposal", proposal(ProposalExecuted), booking(BookingActive), nil, "", ECONFLICT, "", nil},
		{"refuses a proposal changed since seen", proposal(ProposalPending), booking(BookingActive), nil, "opt-2", ECONFLICT, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := ExecutionInput{Request: ExecutionRequest{ProposalID: "p1", Key: "k", Actor: "ana", Expected: tc.expected, Now: now},
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
