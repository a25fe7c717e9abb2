package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

// Searcher runs the hybrid retrieval.
type Searcher interface {
	Search(ctx context.Context, q app.SearchQuery) ([]app.SearchHit, bool, error)
}

type searchResponse struct {
	Query    string          `json:"query"`
	Hits     []app.SearchHit `json:"hits"`
	Degraded bool            `json:"degraded,omitempty"` // the vector part was left out (model unavailable)
	Index    []app.Freshness `json:"index"`              // per topic, the text's (index) and the vectors' (embed) position and lag
}

// parseSearchQuery reads the search filters shared by the API and the
// page; app.EINVALID names the bad one.
func parseSearchQuery(qv url.Values) (app.SearchQuery, error) {
	q := app.SearchQuery{Text: strings.TrimSpace(qv.Get("q")), K: 10, Airport: strings.ToUpper(qv.Get("airport")), From: qv.Get("from"), To: qv.Get("to")}
	if q.Text == "" || len(q.Text) > 500 {
		return q, app.Errorf(app.EINVALID, "q: 1 to 500 characters")
	}
	if k := qv.Get("k"); k != "" {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > 100 {
			return q, app.Errorf(app.EINVALID, "k: a number from 1 to 100, got %q", k)
		}
		q.K = n
	}
	for _, t := range qv["type"] {
		for _, kind := range strings.Split(t, ",") {
			switch kind {
			case "":
			case app.KindFlight, app.KindBooking, app.KindPassenger, app.KindPolicy:
				q.Kinds = append(q.Kinds, kind)
			default:
				return q, app.Errorf(app.EINVALID, "type: flight, booking, passenger or policy, got %q", kind)
			}
		}
	}
	if q.Airport != "" && !reIATA.MatchString(q.Airport) {
		return q, app.Errorf(app.EINVALID, "airport: must be a three-letter IATA code, got %q", q.Airport)
	}
	for name, d := range map[string]string{"from": q.From, "to": q.To} {
		if d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				return q, app.Errorf(app.EINVALID, "%s: must be YYYY-MM-DD, got %q", name, d)
			}
		}
	}
	return q, nil
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	if s.Search == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "search needs an embedding model: set ollama.url and ollama.embed_model"))
		return
	}
	q, err := parseSearchQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hits, degraded, err := s.Search.Search(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if hits == nil {
		hits = []app.SearchHit{}
	}
	resp := searchResponse{Query: q.Text, Hits: hits, Degraded: degraded, Index: []app.Freshness{}}
	if lags, err := s.topicsAndLags(r.Context()); err == nil {
		for _, l := range lags.Consumers {
			// The text and the vectors follow the log apart: the
			// answer says how far each is.
			if l.Consumer == app.IndexConsumer || l.Consumer == app.EmbedConsumer {
				resp.Index = append(resp.Index, l)
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// hitLink is the console page of a search hit's entity.
func hitLink(h app.SearchHit) string {
	switch h.Kind {
	case app.KindFlight:
		return "/flights/" + url.PathEscape(h.EntityKey)
	case app.KindBooking:
		return "/bookings/" + url.PathEscape(h.EntityKey)
	case app.KindPassenger:
		return "/passengers/" + url.PathEscape(h.EntityKey)
	case app.KindProposal:
		return "/proposals/" + url.PathEscape(h.EntityKey)
	case app.KindPolicy:
		// The chunk number is the section's anchor on the document page.
		id, chunk, _ := strings.Cut(h.DocID, "#")
		link := "/documents/" + url.PathEscape(id)
		if chunk != "" {
			link += "#s" + chunk
		}
		return link
	}
	return ""
}

func (s *Server) handleSearchPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	qv := r.URL.Query()
	v := SearchView{Chrome: s.chrome(ctx, principalOf(r)), Query: qv.Get("q"), Airport: qv.Get("airport"), From: qv.Get("from"), To: qv.Get("to"), Kinds: map[string]bool{}}
	for _, t := range qv["type"] {
		for _, k := range strings.Split(t, ",") {
			v.Kinds[k] = true
		}
	}
	if strings.TrimSpace(v.Query) == "" {
		v.Message = "Search flights, bookings, passengers and policies by words, names, flight numbers or record locators."
		s.render(w, r, http.StatusOK, SearchPage(v))
		return
	}
	q, err := parseSearchQuery(qv)
	if err != nil {
		v.Message = app.ErrorMessage(err)
		s.render(w, r, http.StatusBadRequest, SearchPage(v))
		return
	}
	if s.Search == nil {
		// Without the index's model, people are still found by name in
		// the state store; the page says what is missing.
		v.Searched = true
		if pf, ok := s.State.(PassengerFinder); ok && (len(q.Kinds) == 0 || v.Kinds[app.KindPassenger]) {
			ps, _, err := pf.FindPassengersPage(ctx, q.Text, 0, lookupPage)
			if err != nil {
				s.pageError(w, r, err)
				return
			}
			for _, p := range ps {
				v.Hits = append(v.Hits, SearchHitRow{Kind: app.KindPassenger, Key: p.ID, Title: p.Name, Text: strings.Join(p.SSR, " "), Link: "/passengers/" + url.PathEscape(p.ID)})
			}
		}
		v.Message = "Search over the index needs an embedding model (ollama.url, ollama.embed_model); shown: passengers by name."
		s.render(w, r, http.StatusOK, SearchPage(v))
		return
	}
	q.K = 50
	hits, degraded, err := s.Search.Search(ctx, q)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v.Searched, v.Degraded = true, degraded
	for _, h := range hits {
		text := h.Text
		if len(text) > 240 {
			text = text[:240] + "…"
		}
		v.Hits = append(v.Hits, SearchHitRow{Kind: h.Kind, Title: h.Title, Text: text, Link: hitLink(h), Key: h.EntityKey})
	}
	if len(v.Hits) == 0 {
		v.Message = "Nothing found for “" + q.Text + "”."
	}
	s.render(w, r, http.StatusOK, SearchPage(v))
}
