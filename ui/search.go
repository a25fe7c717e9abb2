package ui

import (
	"context"
	"net/http"
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

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	if s.Search == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "search needs an embedding model: set ollama.url and ollama.embed_model"))
		return
	}
	qv := r.URL.Query()
	q := app.SearchQuery{Text: strings.TrimSpace(qv.Get("q")), K: 10, Airport: qv.Get("airport"), From: qv.Get("from"), To: qv.Get("to")}
	if q.Text == "" || len(q.Text) > 500 {
		s.writeError(w, r, app.Errorf(app.EINVALID, "q: 1 to 500 characters"))
		return
	}
	if k := qv.Get("k"); k != "" {
		n, err := strconv.Atoi(k)
		if err != nil || n < 1 || n > 100 {
			s.writeError(w, r, app.Errorf(app.EINVALID, "k: a number from 1 to 100, got %q", k))
			return
		}
		q.K = n
	}
	if t := qv.Get("type"); t != "" {
		for _, kind := range strings.Split(t, ",") {
			switch kind {
			case app.KindFlight, app.KindBooking, app.KindPassenger, app.KindPolicy:
				q.Kinds = append(q.Kinds, kind)
			default:
				s.writeError(w, r, app.Errorf(app.EINVALID, "type: flight, booking, passenger or policy, got %q", kind))
				return
			}
		}
	}
	if q.Airport != "" && !reIATA.MatchString(q.Airport) {
		s.writeError(w, r, app.Errorf(app.EINVALID, "airport: must be a three-letter IATA code, got %q", q.Airport))
		return
	}
	for name, d := range map[string]string{"from": q.From, "to": q.To} {
		if d != "" {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				s.writeError(w, r, app.Errorf(app.EINVALID, "%s: must be YYYY-MM-DD, got %q", name, d))
				return
			}
		}
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
