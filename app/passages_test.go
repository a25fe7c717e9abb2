package app

import (
	"context"
	"slices"
	"testing"
	"time"
)

type memDocs []*DocumentRecord

func (m memDocs) Documents(context.Context) ([]*DocumentRecord, error) { return m, nil }

// A site's own procedures, written unlike the simulator's policies.
var lisbonDocs = memDocs{
	{Document: Document{ID: "proc-lis-hotel", Title: "Overnight disruption at LIS", Body: `# Overnight disruption at LIS
## Accommodation
When the last departure of the day is cancelled, issue a hotel voucher for the airport hotels listed at the transfer desk, with taxi vouchers both ways.
## Meals
Meal vouchers of 12 EUR are issued after three hours of waiting.`}, Version: Version{Offset: 7}},
	{Document: Document{ID: "proc-lis-prm", Title: "Assistance for reduced mobility", Body: `Passengers who requested a wheelchair (WCHR) are met at the aircraft door by the assistance contractor.
Allow 40 extra minutes at every transfer for them.`}, Version: Version{Offset: 8}},
	{Document: Document{ID: "proc-lis-pets", Title: "Animals in the cabin", Body: `# Animals
## Cabin
Small dogs and cats up to 8 kg in a bag may travel in the cabin.`}, Version: Version{Offset: 9}},
}

func TestPassagesQuoteTheSectionThatAnswers(t *testing.T) {
	p := &Passages{Docs: lisbonDocs}
	now := time.Now()
	cases := []struct {
		question, doc, heading string
	}{
		{"What does the policy say about hotel vouchers for overnight cancellations?", "proc-lis-hotel", "Accommodation"},
		{"do we give food vouchers when people wait long", "proc-lis-hotel", "Meals"},
		{"how much extra connection time for a WCHR passenger?", "proc-lis-prm", ""},
		{"can a dog travel in the cabin", "proc-lis-pets", "Cabin"},
		{"do we pay for taxis", "proc-lis-hotel", "Accommodation"},
		{"what do we do for disrupted passengers", "proc-lis-hotel", "Accommodation"},
		{"What is the weather in Paris tomorrow?", "", ""},
		{"wifi password for the lounge", "", ""},
	}
	for _, c := range cases {
		got, err := p.Find(context.Background(), c.question, 2, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		if c.doc == "" {
			if len(got) > 0 {
				t.Errorf("%q: answered from %s/%s, want nothing", c.question, got[0].DocID, got[0].Heading)
			}
			continue
		}
		if len(got) == 0 {
			t.Errorf("%q: no passage, want %s", c.question, c.doc)
			continue
		}
		if got[0].DocID != c.doc || got[0].Heading != c.heading || got[0].Offset == 0 {
			t.Errorf("%q: got %s/%q@%d, want %s/%q", c.question, got[0].DocID, got[0].Heading, got[0].Offset, c.doc, c.heading)
		}
	}
}

func TestPassagesFollowDocumentChanges(t *testing.T) {
	docs := memDocs{lisbonDocs[2]}
	p := &Passages{Docs: docs}
	if got, _ := p.Find(context.Background(), "hotel voucher", 1, nil, time.Now()); len(got) != 0 {
		t.Fatalf("found %v before the document exists", got)
	}
	p.Docs = append(docs, lisbonDocs[0])
	if got, _ := p.Find(context.Background(), "hotel voucher", 1, nil, time.Now()); len(got) != 1 || got[0].DocID != "proc-lis-hotel" {
		t.Fatalf("after the document arrived: %v", got)
	}
}

// "missed the connection" is the documents' misconnect, "looks after" is
// care, "handled" meets "handling", and the "non" of "non-Schengen" is no
// word of its own that no document has.
func TestPassagesFoldHowStaffSayIt(t *testing.T) {
	docs := memDocs{
		{Document: Document{ID: "proc-transfer", Title: "Transfers", Body: `# Transfers
## Priority
Passengers with onward connections and unaccompanied minors are rebooked first.
## Children
An unaccompanied minor who misconnects stays in the care of ground staff after landing until the new flight.
## Times
Allow 40 minutes for Schengen transfers and 70 minutes otherwise.
## Bags
Handling of bags: they follow the booking change.`}, Version: Version{Offset: 3}},
	}
	p := &Passages{Docs: docs}
	for question, heading := range map[string]string{
		"UMNR missed the connection, who looks after them":   "Children",
		"transfer time schengen to non-schengen":             "Times",
		"how are bags handled for a misconnecting passenger": "Bags",
		"can a minor fly alone after a missed connection":    "Children",
	} {
		got, err := p.Find(context.Background(), question, 1, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0].Heading != heading {
			t.Errorf("%q: %+v, want the section %q", question, got, heading)
		}
	}
	if got := terms("she missed her connecting flight, who looks after her"); !slices.Contains(got, "misconnect") || !slices.Contains(got, "care") || slices.Contains(got, "missed") {
		t.Errorf("terms = %v", got)
	}
}

// Procedures of another site, in other words: a passage that scores on
// a question's common word must not hide one further down that matches
// more of it, and the verb a question uses meets the noun a heading uses.
var osloDocs = memDocs{
	{Document: Document{ID: "osl-comp", Title: "Compensation", Body: `# Compensation
## Distance bands
Compensation is 250, 400 or 600 EUR by distance. Compensation is not owed for weather.
## Reductions
Compensation is halved when the new arrival is close to the booked one.`}, Version: Version{Offset: 4}},
	{Document: Document{ID: "osl-night", Title: "Overnight stays", Body: `# Overnight stays
## Getting to the hotel
Passengers stranded for the night get a room at a partner hotel near the terminal. The service desk books the room,
prints the voucher, hands out the hotel's address and phone number, and orders a taxi for each group of up to four.`}, Version: Version{Offset: 5}},
	{Document: Document{ID: "osl-seating", Title: "Seating changes", Body: `# Seating changes
## Cabin
A move to a higher cabin needs the duty manager; a lower cabin needs the passenger's consent.
## Approval
Any payment above 150 EUR needs the approval of the duty manager.`}, Version: Version{Offset: 6}},
	{Document: Document{ID: "osl-bags", Title: "Baggage", Body: `# Baggage
## Handling
Bags of rebooked passengers are retagged at the transfer belt.`}, Version: Version{Offset: 7}},
}

func TestPassagesAnswerWhatTheQuestionAsks(t *testing.T) {
	p := &Passages{Docs: osloDocs}
	for question, want := range map[string]string{
		"do we pay for taxis":                        "Getting to the hotel",
		"can we put someone in business class":       "Cabin",
		"who approves a payment over 150 euros":      "Approval",
		"how do we handle the bags of rebooked pax?": "Handling",
	} {
		got, err := p.Find(context.Background(), question, 1, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 || got[0].Heading != want {
			t.Errorf("%q: %+v, want the section %q", question, got, want)
		}
	}
	for _, same := range [][]string{{"handle", "handles", "handled", "handling"}, {"approve", "approves", "approved", "approval"}, {"arrive", "arrival", "arrived"},
		{"issue", "issued", "issues"}, {"propose", "proposed", "proposal"}} {
		for _, w := range same[1:] {
			if stem(w) != stem(same[0]) {
				t.Errorf("%q stems to %q, %q to %q", w, stem(w), same[0], stem(same[0]))
			}
		}
	}
	// Words that are not one must not meet, nor become a stop word.
	for _, pair := range [][2]string{{"several", "severe"}, {"plane", "plan"}, {"signal", "sign"}, {"portal", "port"}, {"original", "origin"},
		{"spare", "spar"}, {"grade", "grad"}, {"personal", "person"}, {"theme", "them"}} {
		if a, b := terms(pair[0]), terms(pair[1]); len(a) == 0 || slices.Equal(a, b) {
			t.Errorf("%q gives %v, %q %v", pair[0], a, pair[1], b)
		}
	}
	if got := terms("a refund within 7 business days"); slices.Contains(got, "cabin") {
		t.Errorf("business days are no cabin: %v", got)
	}
	if got := terms("can she fly business class"); !slices.Contains(got, "cabin") {
		t.Errorf("business class is a cabin: %v", got)
	}
}
