package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/apron-edge/apron/app"
)

// Proposals is what the HTTP layer needs for rebooking proposals.
type Proposals interface {
	Proposals(ctx context.Context, f app.ProposalFilter) ([]*app.Proposal, error)
	Proposal(ctx context.Context, id string) (*app.Proposal, error)
	Approve(ctx context.Context, id, key, actor, expected string) (*app.Execution, error)
	Reject(ctx context.Context, id, actor, reason string) error
	// RankSoon asks for the model's ranking of a proposal ahead of the
	// others: a person has opened it.
	RankSoon(ctx context.Context, id string)
}

func actorOf(r *http.Request) string {
	p := principalOf(r)
	if p.TokenID != 0 {
		return "token:" + p.Name
	}
	return p.Name
}

func (s *Server) handleProposalsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := app.ProposalFilter{Flight: q.Get("flight"), Status: q.Get("status"), Limit: 1000}
	switch f.Status {
	case "", app.ProposalPending, app.ProposalExecuted, app.ProposalRejected, app.ProposalFailed, app.ProposalSuperseded:
	default:
		s.writeError(w, r, app.Errorf(app.EINVALID, "status: must be pending, executed, rejected, failed or superseded; got %q", f.Status))
		return
	}
	ps, err := s.Proposals.Proposals(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ps == nil {
		ps = []*app.Proposal{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposals": ps})
}

func (s *Server) handleProposalAPI(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proposals.Proposal(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"proposal": p})
}

// idempotencyKey is the client's Idempotency-Key, or one per proposal, so
// that approving the same proposal twice executes it once.
func idempotencyKey(r *http.Request, id string) string {
	if k := strings.TrimSpace(r.Header.Get("Idempotency-Key")); k != "" && len(k) <= 200 {
		return "client:" + k
	}
	return "approve:" + id
}

func (s *Server) handleApproveAPI(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// Optional body {"option": "opt-1"}: the option the caller reviewed.
	var body struct {
		Option string `json:"option"`
	}
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil && err != io.EOF {
			s.writeError(w, r, app.Errorf(app.EINVALID, "body: want JSON {\"option\": \"opt-1\"} or nothing: %v", err))
			return
		}
	}
	ex, err := s.Proposals.Approve(r.Context(), id, idempotencyKey(r, id), actorOf(r), body.Option)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if ex.Outcome == app.ProposalFailed {
		status = http.StatusConflict
	}
	writeJSON(w, status, map[string]any{"execution": ex})
}

func (s *Server) handleRejectAPI(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body); err != nil {
		s.writeError(w, r, app.Errorf(app.EINVALID, "body: want JSON {\"reason\": \"...\"}: %v", err))
		return
	}
	if err := s.Proposals.Reject(r.Context(), r.PathValue("id"), actorOf(r), strings.TrimSpace(body.Reason)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": app.ProposalRejected})
}

func (s *Server) optionRows(p *app.Proposal) []OptionRow {
	var out []OptionRow
	for _, o := range p.Options {
		var names []string
		for _, f := range o.Flights {
			names = append(names, strings.SplitN(f, "-", 2)[0])
		}
		row := OptionRow{ID: o.ID, Flights: strings.Join(names, " + "), Depart: s.local(o.Depart), Arrive: s.local(o.Arrive), Chosen: o.ID == p.Chosen}
		if o.Stops > 0 {
			row.Via = "via " + o.Via
		}
		out = append(out, row)
		if len(out) == 12 {
			break
		}
	}
	return out
}

func (s *Server) proposalRow(p *app.Proposal) ProposalRow {
	row := ProposalRow{ID: p.ID, Locator: p.Locator, Flight: strings.SplitN(p.Flight, "-", 2)[0], Reason: p.Reason, Rank: p.Rank, Status: p.Status,
		Pax: p.Need.Pax, Route: p.Need.Origin + " → " + p.Need.Destination}
	if o := p.ChosenOption(); o != nil {
		row.Choice = s.optionRows(&app.Proposal{Options: []app.Option{*o}, Chosen: o.ID})[0].Flights
	} else {
		row.Choice = "none valid"
	}
	switch {
	case p.Need.Priority.SSR == 3:
		row.Priority = "UMNR"
	case p.Need.Priority.SSR == 2:
		row.Priority = "WCHR"
	case p.Need.Priority.SSR == 1:
		row.Priority = "assist"
	case p.Need.Priority.Tier > 0:
		row.Priority = []string{"", "silver", "gold", "platinum"}[p.Need.Priority.Tier]
	}
	return row
}

func (s *Server) handleProposalsPage(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = app.ProposalPending
	}
	ps, err := s.Proposals.Proposals(r.Context(), app.ProposalFilter{Flight: r.URL.Query().Get("flight"), Status: status, Limit: 2000})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := ProposalsView{Chrome: s.chrome(r.Context(), principalOf(r)), Status: status}
	for _, p := range ps {
		v.Rows = append(v.Rows, s.proposalRow(p))
	}
	s.render(w, r, http.StatusOK, ProposalsPage(v))
}

func (s *Server) handleProposalPage(w http.ResponseWriter, r *http.Request) {
	p, err := s.Proposals.Proposal(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := ProposalView{Chrome: s.chrome(r.Context(), principalOf(r)), Row: s.proposalRow(p), Options: s.optionRows(p),
		Rationale: p.Rationale, ModelRationale: p.ModelRationale, Citations: p.Citations, Message: r.URL.Query().Get("msg"),
		AsOf:      fmt.Sprintf("based on flights log offset %d, planned %s", p.LogOffset, s.local(p.CreatedAt)),
		DecidedBy: p.DecidedBy, Decision: p.DecisionReason, ReplacedBy: p.ReplacedBy, CanDecide: p.Status == app.ProposalPending, Chosen: p.Chosen}
	s.Proposals.RankSoon(r.Context(), p.ID)
	s.render(w, r, http.StatusOK, ProposalPage(v))
}

func (s *Server) handleApprovePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ex, err := s.Proposals.Approve(r.Context(), id, idempotencyKey(r, id), actorOf(r), r.PostFormValue("option"))
	if app.ErrorCode(err) == app.ECONFLICT {
		http.Redirect(w, r, "/proposals/"+url.PathEscape(id)+"?msg="+url.QueryEscape(app.ErrorMessage(err)), http.StatusSeeOther)
		return
	} else if err != nil {
		s.pageError(w, r, err)
		return
	}
	msg := "Executed: " + ex.Detail
	if ex.Repeated {
		msg = "Already decided: " + ex.Detail + " (nothing changed)"
	}
	target := "/proposals/" + url.PathEscape(id)
	if ex.Outcome == app.ProposalFailed {
		msg = "Could not execute: " + ex.Detail + "."
		if ex.NewID != "" {
			msg += " A fresh proposal was made from the current seats."
			target = "/proposals/" + url.PathEscape(ex.NewID)
		}
	}
	http.Redirect(w, r, target+"?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (s *Server) handleRejectPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.Proposals.Reject(r.Context(), id, actorOf(r), strings.TrimSpace(r.PostFormValue("reason"))); err != nil {
		if app.ErrorCode(err) == app.EINVALID {
			http.Redirect(w, r, "/proposals/"+url.PathEscape(id)+"?msg="+url.QueryEscape(app.ErrorMessage(err)), http.StatusSeeOther)
			return
		}
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/proposals/"+url.PathEscape(id)+"?msg="+url.QueryEscape("Rejected."), http.StatusSeeOther)
}
