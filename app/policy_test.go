package app

import (
	"context"
	"testing"
)

type documentList []*DocumentRecord

func (d documentList) Documents(context.Context) ([]*DocumentRecord, error) { return d, nil }

func TestPolicyRetrieverFallsBackToTags(t *testing.T) {
	docs := documentList{
		{Document: Document{ID: "policy-rebooking", Title: "Rebooking", Body: "Offer the earliest alternative."}},
		{Document: Document{ID: "policy-lounge", Title: "Lounges", Body: "Lounge access."}},
	}
	p := &Proposal{Reason: ReasonCancelled}
	for _, tc := range []struct {
		name   string
		search Retrieval
		want   string
	}{
		{"search finds the policy", fixedRetrieval{hits: []SearchHit{{EntityKey: "policy-care", Title: "Care", Text: "Hotel after 8 hours."}}}, "policy-care"},
		{"search finds nothing", fixedRetrieval{}, "policy-rebooking"},
		{"no search", nil, "policy-rebooking"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&PolicyRetriever{Search: tc.search, Documents: docs}).Policies(context.Background(), p, nil)
			if len(got) != 1 || got[0].DocID != tc.want {
				t.Fatalf("got %+v, want only %s", got, tc.want)
			}
		})
	}
}
