package app

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeriveDocs is long because it is one table of scenarios, a few
// lines each, over shared fixtures.
func TestDeriveDocs(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	cet := time.FixedZone("UTC+1", 3600)
	est := time.FixedZone("UTC-5", -5*3600)
	ed := t0.Add(45 * time.Minute).In(cet)
	flight := &Flight{Flight: "LH400-2026-11-25", Carrier: "LH", Number: "400", Date: "2026-11-25", Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: t0.In(cet), ScheduledArrival: t0.Add(9 * time.Hour).In(est), EstimatedDeparture: &ed,
		Status: FlightDelayed, Gate: "Z55", Aircraft: "A350-900", Capacity: map[string]int{"Y": 250, "J": 30}}
	booking := &Booking{Locator: "ABC234", Status: BookingActive,
		Passengers: []BookingPassenger{{ID: "P1", Name: "Ada Lovelace", Tier: "gold", SSR: []string{"WCHR"}}, {ID: "P2", Name: "Alan Turing", Tier: "none"}},
		Segments:   []Segment{{Flight: "UA900-2026-11-25", Cabin: "Y", Seat: "21C"}, {Flight: "LH400-2026-11-25", Cabin: "J"}}}
	v := Version{EventID: "e1", EventTime: t0, Offset: 7}

	tests := []struct {
		name       string
		ch         StateChange
		erased     map[string]bool
		kind       string
		docIDs     []string
		contains   []string
		excludes   []string
		people     []string
		erasure    bool
		date       string
		airports   []string
		withSource bool
	}{
		{
			name: "flight", ch: StateChange{Type: TypeFlightStatus, Key: flight.Flight, Flight: flight},
			kind: KindFlight, docIDs: []string{"flight:LH400-2026-11-25"},
			contains: []string{"LH400", "Frankfurt (FRA)", "New York JFK (JFK)", "delayed", "45 minutes", "Gate Z55", "A350-900", "business class (J) 30", "economy (Y) 250", "2026-11-25 10:00 (UTC+01:00)", "2026-11-25 10:45"},
			date:     "2026-11-25", airports: []string{"FRA", "JFK"},
		},
		{
			name: "diverted flight names the diversion airport", ch: StateChange{Type: TypeFlightStatus, Key: "LH401-2026-11-25",
				Flight: &Flight{Carrier: "LH", Number: "401", Date: "2026-11-25", Origin: "JFK", Destination: "FRA", Status: FlightDiverted, DivertedTo: "NUE"}},
			kind: KindFlight, docIDs: []string{"flight:LH401-2026-11-25"}, contains: []string{"diverted to Nuremberg (NUE)"},
			date: "2026-11-25", airports: []string{"JFK", "FRA", "NUE"},
		},
		{
			name: "booking", ch: StateChange{Type: TypeBookingCreated, Key: "ABC234", Booking: booking},
			kind: KindBooking, docIDs: []string{"booking:ABC234"},
			contains: []string{"ABC234", "status active", "Ada Lovelace (gold frequent flyer, wheelchair assistance WCHR)", "Alan Turing", "flight UA900 on 2026-11-25, economy (Y), seat 21C", "flight LH400", "connecting itinerary of 2 flights"},
			excludes: []string{"none"}, people: []string{"P1", "P2"}, date: "2026-11-25", withSource: true,
		},
		{
			name: "booking of an erased passenger leaves the person out", ch: StateChange{Type: TypeBookingChanged, Key: "ABC234", Booking: booking},
			erased: map[string]bool{"P1": true}, kind: KindBooking, docIDs: []string{"booking:ABC234"},
			contains: []string{ErasedName, "Alan Turing"}, excludes: []string{"Lovelace", "WCHR", "gold"}, people: []string{"P2"}, date: "2026-11-25", withSource: true,
		},
		{
			name: "cancelled booking yields no documents", ch: StateChange{Type: TypeBookingCancelled, Key: "ABC234", Booking: booking},
			kind: KindBooking,
		},
		{
			name: "passenger: tier and needs only, no name",
			ch:   StateChange{Type: TypePassengerUpserted, Key: "P1", Passenger: &Passenger{ID: "P1", Name: "Ada Lovelace", Tier: "platinum", SSR: []string{"UMNR"}, Language: "fr"}},
			kind: KindPassenger, docIDs: []string{"passenger:P1"}, contains: []string{"P1", "platinum", "unaccompanied minor UMNR"},
			excludes: []string{"Ada", "Lovelace", "fr"}, people: []string{"P1"},
		},
		{
			name: "passenger erased", ch: StateChange{Type: TypePassengerErased, Key: "P1", Passenger: &Passenger{ID: "P1"}},
			kind: KindPassenger, erasure: true,
		},
		{
			name: "late upsert of an erased passenger builds no text", ch: StateChange{Type: TypePassengerUpserted, Key: "P1", Passenger: &Passenger{ID: "P1", Name: "Ada Lovelace"}},
			erased: map[string]bool{"P1": true}, kind: KindPassenger,
		},
		{
			name: "policy chunked by headings",
			ch: StateChange{Type: TypeDocumentUpserted, Key: "policy-care", Document: &Document{ID: "policy-care", Title: "Care", Airport: "FRA",
				Body: "# Care\n\n## Meals\nVouchers after two hours.\n\n## Hotel\nA room for an overnight stay."}},
			kind: KindPolicy, docIDs: []string{"policy-care#0", "policy-care#1"}, contains: []string{"Care - Meals\nVouchers after two hours."},
			airports: []string{"FRA"},
		},
		{
			name: "document deleted", ch: StateChange{Type: TypeDocumentDeleted, Key: "policy-care", Document: &Document{ID: "policy-care"}},
			kind: KindPolicy,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ch.Version, tt.ch.LogTime = v, t0
			got, err := DeriveDocs(tt.ch, tt.erased)
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.kind || got.Key != tt.ch.Key || got.Version != v || got.Erasure != tt.erasure {
				t.Fatalf("entity = %+v", got)
			}
			if len(got.Docs) != len(tt.docIDs) {
				t.Fatalf("%d docs, want %v: %+v", len(got.Docs), tt.docIDs, got.Docs)
			}
			if strings.Join(got.People, ",") != strings.Join(tt.people, ",") {
				t.Errorf("people = %v, want %v", got.People, tt.people)
			}
			if (len(got.Source) > 0) != tt.withSource {
				t.Errorf("source = %s", got.Source)
			}
			if tt.withSource && strings.Contains(string(got.Source), "Lovelace") && tt.erased["P1"] {
				t.Errorf("source keeps an erased name: %s", got.Source)
			}
			all := ""
			for i, d := range got.Docs {
				if d.DocID != tt.docIDs[i] || d.EntityKey != tt.ch.Key || d.Kind != tt.kind || d.Version != v || !d.LogTime.Equal(t0) {
					t.Errorf("doc %d = %+v", i, d)
				}
				if d.TextHash != TextHash(d.Text) || len(d.TextHash) != 64 {
					t.Errorf("doc %d hash %q", i, d.TextHash)
				}
				if d.Date != tt.date || strings.Join(d.Airports, ",") != strings.Join(tt.airports, ",") {
					t.Errorf("doc %d date %q airports %v", i, d.Date, d.Airports)
				}
				all += d.Title + "\n" + d.Text + "\n"
			}
			for _, s := range tt.contains {
				if !strings.Contains(all, s) {
					t.Errorf("text lacks %q:\n%s", s, all)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(all, s) {
					t.Errorf("text has %q:\n%s", s, all)
				}
			}
		})
	}
}

func TestDeriveDocsIsDeterministic(t *testing.T) {
	f := &Flight{Carrier: "LH", Number: "400", Date: "2026-11-25", Origin: "FRA", Destination: "JFK", Status: "scheduled",
		Capacity: map[string]int{"Y": 250, "J": 30, "F": 8, "W": 20}}
	first, _ := DeriveDocs(StateChange{Type: TypeFlightScheduled, Key: "LH400-2026-11-25", Flight: f}, nil)
	for range 20 {
		again, _ := DeriveDocs(StateChange{Type: TypeFlightScheduled, Key: "LH400-2026-11-25", Flight: f}, nil)
		if again.Docs[0].TextHash != first.Docs[0].TextHash {
			t.Fatalf("text changes between runs:\n%s\n%s", first.Docs[0].Text, again.Docs[0].Text)
		}
	}
}

func TestPolicyChunksOverlapAndStayUnderTheLimit(t *testing.T) {
	var sentences []string
	for i := range 40 {
		sentences = append(sentences, "Sentence number "+strings.Repeat("x", i%7)+" tells the agent what to do next.")
	}
	body := "# Long policy\n\n## Procedure\n" + strings.Join(sentences, " ") + "\n\n## Short\nOne line."
	docs := PolicyDocs("policy-long", &Document{Title: "Long policy", Body: body}, 300, 60)
	if len(docs) < 5 {
		t.Fatalf("%d chunks, want the long section split", len(docs))
	}
	prefix := "Long policy - Procedure\n"
	for i, d := range docs {
		if d.DocID != "policy-long#"+strconv.Itoa(i) {
			t.Errorf("doc id %q at %d", d.DocID, i)
		}
		body := strings.TrimPrefix(d.Text, d.Title+"\n")
		if len(body) > 300 {
			t.Errorf("chunk %d has %d characters", i, len(body))
		}
	}
	last := docs[len(docs)-1]
	if last.Text != "Long policy - Short\nOne line." {
		t.Errorf("last chunk = %q", last.Text)
	}
	// Consecutive windows of the long section share text.
	for i := 1; i < len(docs)-1; i++ {
		prev := strings.TrimPrefix(docs[i-1].Text, prefix)
		cur := strings.TrimPrefix(docs[i].Text, prefix)
		head := cur[:min(20, len(cur))]
		if !strings.Contains(prev, head) {
			t.Errorf("chunk %d does not overlap the one before:\nprev %q\ncur  %q", i, prev, cur)
		}
	}
	// Everything of the body is in some chunk.
	joined := ""
	for _, d := range docs {
		joined += d.Text
	}
	for _, s := range sentences {
		if !strings.Contains(joined, s) {
			t.Errorf("lost %q", s)
		}
	}
}

func TestCollapseChangesKeepsNewestPerEntityAndEveryErasure(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	fl := func(off uint64, at time.Time, status string) StateChange {
		return StateChange{Type: TypeFlightStatus, Key: "LH400-2026-11-25", Version: Version{EventTime: at, Offset: off}, Flight: &Flight{Status: status}}
	}
	pax := func(off uint64, typ string) StateChange {
		return StateChange{Type: typ, Key: "P1", Version: Version{EventTime: t0, Offset: off}, Passenger: &Passenger{ID: "P1"}}
	}
	in := []StateChange{
		fl(1, t0, "scheduled"),
		pax(2, TypePassengerUpserted),
		fl(3, t0.Add(time.Hour), "boarding"),
		pax(4, TypePassengerErased),
		fl(5, t0.Add(30*time.Minute), "delayed"), // late: older than boarding
	}
	out := CollapseChanges(in)
	var got []string
	for _, ch := range out {
		got = append(got, ch.Type+"@"+string(rune('0'+ch.Version.Offset)))
	}
	want := []string{TypePassengerUpserted + "@2", TypePassengerErased + "@4", TypeFlightStatus + "@3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("got %v, want %v", got, want)
	}
}
