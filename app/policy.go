package app

import (
	"context"
	"strings"
)

// PolicySource retrieves the policy text that applies to a proposal, for
// the model that ranks it. Nothing found is an empty answer.
type PolicySource interface {
	Policies(ctx context.Context, p *Proposal, ssr []string) []PolicyExcerpt
}

// DocumentLister lists the stored documents.
type DocumentLister interface {
	Documents(ctx context.Context) ([]*DocumentRecord, error)
}

// PolicyRetriever is the PolicySource of the node: the hybrid search over
// the policy documents when there is one, and when it is absent, fails or
// finds nothing, the documents picked by their tags (PoliciesFor).
type PolicyRetriever struct {
	Search    Retrieval      // nil: no embedding model
	Documents DocumentLister // the stored documents, for the fallback
	// MaxChars cuts each excerpt, default 800.
	MaxChars int
}

// Policies returns up to three excerpts of the policies for p.
func (r *PolicyRetriever) Policies(ctx context.Context, p *Proposal, ssr []string) []PolicyExcerpt {
	maxChars := r.MaxChars
	if maxChars <= 0 {
		maxChars = 800
	}
	if r.Search != nil {
		if got := r.search(ctx, p, ssr, maxChars); len(got) > 0 {
			return got
		}
	}
	if r.Documents == nil {
		return nil
	}
	docs, err := r.Documents.Documents(ctx)
	if err != nil {
		return nil
	}
	return PoliciesFor(p, docs, ssr, maxChars)
}

// search asks the hybrid search for the policy text of p's disruption
// and its passengers' service requests.
func (r *PolicyRetriever) search(ctx context.Context, p *Proposal, ssr []string, maxChars int) []PolicyExcerpt {
	q := "rebooking after " + p.Reason
	if p.Reason == ReasonMisconnect {
		q = "missed connection misconnect rebooking"
	}
	if len(ssr) > 0 {
		q += " special assistance " + strings.Join(ssr, " ")
	}
	hits, _, err := r.Search.Search(ctx, SearchQuery{Text: q, K: 3, Kinds: []string{KindPolicy}})
	if err != nil {
		return nil
	}
	var out []PolicyExcerpt
	for _, h := range hits {
		text := h.Text
		if len(text) > maxChars {
			text = text[:maxChars]
		}
		out = append(out, PolicyExcerpt{DocID: h.EntityKey, Title: h.Title, Text: text})
	}
	return out
}

// PoliciesFor picks the policy documents that apply to a proposal by their
// tags and titles: rebooking rules always, misconnect handling for broken
// connections, care for long waits, special assistance for passengers with
// service requests. Each excerpt is cut to maxChars.
func PoliciesFor(p *Proposal, docs []*DocumentRecord, ssr []string, maxChars int) []PolicyExcerpt {
	want := []string{"rebooking"}
	switch p.Reason {
	case ReasonMisconnect:
		want = append(want, "misconnect")
	case ReasonCancelled, ReasonDiverted:
		want = append(want, "care")
	}
	if len(ssr) > 0 {
		want = append(want, "assistance", "wchr")
	}
	var out []PolicyExcerpt
	for _, d := range docs {
		text := strings.ToLower(d.Title + " " + strings.Join(d.Tags, " "))
		for _, w := range want {
			if strings.Contains(text, w) {
				body := d.Body
				if len(body) > maxChars {
					body = body[:maxChars]
				}
				out = append(out, PolicyExcerpt{DocID: d.ID, Title: d.Title, Text: body})
				break
			}
		}
		if len(out) == 3 {
			break
		}
	}
	return out
}
