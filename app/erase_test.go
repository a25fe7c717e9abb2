package app

import (
	"context"
	"strings"
	"testing"
	"time"
)

var t0Erase = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func TestRedactedCopyLeavesThePersonOut(t *testing.T) {
	terms := &personTerms{id: "P1"}
	terms.learn(Booking{Locator: "ABC123", Passengers: []BookingPassenger{{ID: "P1", Name: "Ada Lovelace", SSR: []string{"WCHR"}}},
		Segments: []Segment{{Flight: "LH400-2026-11-25", Cabin: "Y", Seat: "12A"}}}, map[string]bool{"P1": true})
	tests := []struct {
		name, reason string
		redacted     bool
	}{
		{"full name and seat", "Ms Ada Lovelace in 12A takes the train", true},
		{"surname alone, other case", "LOVELACE asked for a refund", true},
		{"needs by code and words", "needs WCHR: wheelchair assistance", true},
		{"a word that only contains a part", "Adams and the 12AB form", false},
		{"nothing of the person", "the option left", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, _ := NewEvent("rebooking-rejected-x", "apron/booking-engine", TypeRebookingRejected, "ABC123", t0Erase,
				RebookingData{ProposalID: "x", Locator: "ABC123", FromFlight: "LH400-2026-11-25", Reason: tt.reason})
			c, err := redactedCopy(ev.Raw, terms.described())
			if err != nil {
				t.Fatal(err)
			}
			if (c != nil) != tt.redacted {
				t.Fatalf("copy %v, want redacted %v", c != nil, tt.redacted)
			}
			if c == nil {
				return
			}
			for _, n := range []string{"Ada", "Lovelace", "12A", "WCHR", "wheelchair"} {
				if strings.Contains(strings.ToLower(string(c.Raw)), strings.ToLower(n)) {
					t.Errorf("copy holds %q: %s", n, c.Raw)
				}
			}
			if c.ID != "redacted-rebooking-rejected-x" || !strings.Contains(string(c.Raw), `"redacts":"rebooking-rejected-x"`) || c.Subject != "ABC123" {
				t.Errorf("copy %s", c.Raw)
			}
		})
	}
}

func TestRedactProposalKeepsOtherTravellersPriorities(t *testing.T) {
	re := wordsRegexp([]string{"Ada Lovelace"})
	p := &Proposal{Rationale: "Ada Lovelace first", Need: Need{PassengerIDs: []string{"P1", "P2"}, WCHR: true, Priority: Priority{SSR: 1, Tier: 2}}}
	if !RedactProposal(p, re, map[string]bool{"P1": true}) || p.Rationale != ErasedName+" first" || !p.Need.WCHR || p.Need.Priority.Tier != 2 {
		t.Fatalf("with another traveller: %+v", p)
	}
	if !RedactProposal(p, re, map[string]bool{"P1": true, "P2": true}) || p.Need.WCHR || p.Need.Priority != (Priority{}) {
		t.Fatalf("all erased: %+v", p.Need)
	}
}

type fixedHits []SearchHit

func (f fixedHits) Search(context.Context, SearchQuery) ([]SearchHit, error) { return f, nil }

type namedPeople map[string]*PassengerRecord

func (n namedPeople) FindPassengers(_ context.Context, q string, _ int) ([]*PassengerRecord, error) {
	var out []*PassengerRecord
	for _, p := range n {
		if strings.HasPrefix(strings.ToLower(p.Name), strings.ToLower(q)) {
			out = append(out, p)
		}
	}
	return out, nil
}

// The index's passenger documents carry no name; a name query still
// finds the person, first, through the state, once.
func TestSearchFindsPeopleByNameInTheState(t *testing.T) {
	index := fixedHits{{DocID: "booking:ABC123", Kind: KindBooking, EntityKey: "ABC123"}, {DocID: "passenger:P1", Kind: KindPassenger, EntityKey: "P1"}}
	r := &Retriever{Index: index, People: namedPeople{"P1": {Passenger: Passenger{ID: "P1", Name: "Ada Lovelace", Tier: "gold"}}}}
	hits, _, err := r.Search(context.Background(), SearchQuery{Text: "ada love", K: 10})
	if err != nil || len(hits) != 2 || hits[0].DocID != "passenger:P1" || hits[0].Title != "Passenger Ada Lovelace" || !strings.Contains(hits[0].Text, "gold") || hits[1].DocID != "booking:ABC123" {
		t.Fatalf("hits %+v %v", hits, err)
	}
	if hits, _, _ := r.Search(context.Background(), SearchQuery{Text: "ada love", Kinds: []string{KindPolicy}}); len(hits) != 2 || hits[0].Kind != KindBooking {
		t.Fatalf("a policy search looked people up: %+v", hits)
	}
}
