package ui

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/apron-edge/apron/app"
)

const askHistoryPage = 20

// recordAsk keeps the question in the node's history, even when the
// person stopped it (the request's context is gone by then). A failure is
// logged: the answer has been given already.
func (s *Server) recordAsk(r *http.Request, req app.AskRequest, ans app.AskAnswer, err error) {
	if s.History == nil {
		return
	}
	p := principalOf(r)
	via := app.AskedByAPI
	if p != nil && p.Session != nil {
		via = app.AskedInConsole
	}
	rec := app.NewAskRecord(p, via, s.Now(), req, ans, err)
	if err := s.History.RecordAsk(context.WithoutCancel(r.Context()), &rec); err != nil {
		s.Logger.Error("record question", "asked_by", rec.AskedBy, "err", err)
	}
}

// askHistoryQuery reads ?user=, ?cursor= and ?limit= into a filter the
// principal may read.
func askHistoryQuery(r *http.Request, defLimit int) (app.AskHistoryFilter, error) {
	q := r.URL.Query()
	who, err := app.AskHistoryScope(principalOf(r), strings.TrimSpace(q.Get("user")))
	if err != nil {
		return app.AskHistoryFilter{}, err
	}
	f := app.AskHistoryFilter{AskedBy: who, Limit: defLimit}
	if c := q.Get("cursor"); c != "" {
		var cur app.AskHistoryCursor
		if err := app.DecodeCursor(c, &cur); err != nil {
			return f, err
		}
		f.Before = cur.ID
	}
	f.Limit, err = pageLimit(q, defLimit, 500)
	return f, err
}

// askHistoryPage reads one page and the link to the next ("" at the end).
func (s *Server) askHistoryPage(r *http.Request, f app.AskHistoryFilter) ([]app.AskRecord, string, error) {
	limit := f.Limit
	f.Limit++
	recs, err := s.History.AskHistory(r.Context(), f)
	if err != nil {
		return nil, "", err
	}
	recs, next := pageOf(r, recs, limit, func(rec app.AskRecord) any { return app.AskHistoryCursor{ID: rec.ID} })
	return recs, next, nil
}

// nextLink is the request's URL with cursor set, for a "next" link.
func nextLink(r *http.Request, cursor string) string {
	if cursor == "" {
		return ""
	}
	q := r.URL.Query()
	q.Set("cursor", cursor)
	return r.URL.Path + "?" + q.Encode()
}

// handleAskHistory lists the questions asked of the node, newest first:
// the caller's own, or, for an admin, everyone's (?user= picks one).
// A "next" link follows when there are more.
func (s *Server) handleAskHistory(w http.ResponseWriter, r *http.Request) {
	if s.History == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "this node keeps no question history"))
		return
	}
	f, err := askHistoryQuery(r, 50)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	recs, next, err := s.askHistoryPage(r, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body := map[string]any{"questions": recs}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// sourceLink is the console page of an answer's source.
func sourceLink(src app.AskSource) string {
	h := app.SearchHit{Kind: src.Kind, EntityKey: src.ID, DocID: src.ID}
	return hitLink(h)
}

// askHistoryView reads the page's history: the person's own questions,
// everyone's for an admin.
func (s *Server) askHistoryView(r *http.Request, v *AskView) error {
	if s.History == nil {
		return nil
	}
	f, err := askHistoryQuery(r, askHistoryPage)
	if err != nil {
		return err
	}
	recs, next, err := s.askHistoryPage(r, f)
	if err != nil {
		return err
	}
	v.HasHistory, v.AllUsers, v.User = true, f.AskedBy == "", f.AskedBy
	v.Older = next
	for _, rec := range recs {
		row := AskHistoryRow{ID: rec.ID, At: s.local(rec.AskedAt), By: rec.AskedBy, Via: rec.Via, Question: rec.Question, Answer: rec.Answer,
			Summary: rec.Summary, Freshness: rec.Freshness, Lagging: rec.Lagging, Error: rec.Error, Elapsed: strconv.FormatInt(rec.ElapsedMS, 10) + " ms"}
		for _, src := range rec.Sources {
			row.Sources = append(row.Sources, AskSourceRow{ID: src.ID, Kind: src.Kind, Link: sourceLink(src)})
		}
		v.History = append(v.History, row)
	}
	return nil
}
