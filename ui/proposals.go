package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

// Proposals is what the HTTP layer needs for rebooking proposals.
type Proposals interface {
	Proposals(ctx context.Context, f app.ProposalFilter) ([]*app.Proposal, error)
	Proposal(ctx context.Context, id string) (*app.Proposal, error)
	// Approve executes option (empty: the chosen one) of a proposal.
	Approve(ctx context.Context, id, key, actor, option string) (*app.Execution, error)
	// ApproveFlight approves the chosen option of every pending proposal
	// of a flight, each at most once.
	ApproveFlight(ctx context.Context, key, actor string) ([]app.FlightApproval, error)
	// Review reads a proposal with its passengers, journey and options as
	// they stand now.
	Review(ctx context.Context, id string) (*app.ProposalReview, error)
	Reject(ctx context.Context, id, actor, reason string) error
	// RankSoon asks for the model's ranking of a proposal ahead of the
	// others: a person has opened it.
	RankSoon(ctx context.Context, id string)
}

func actorOf(r *http.Request) string {
	return principalOf(r).Actor()
}

func (s *Server) handleProposalsAPI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := app.ProposalFilter{Flight: q.Get("flight"), Status: q.Get("status")}
	if f.Status != "" && !slices.Contains(app.ProposalStatuses, f.Status) {
		s.writeError(w, r, app.Errorf(app.EINVALID, "status: must be one of %s; got %q", strings.Join(app.ProposalStatuses, ", "), f.Status))
		return
	}
	var err error
	if f.Limit, err = pageLimit(q, 1000, 5000); err != nil {
		s.writeError(w, r, err)
		return
	}
	if c := q.Get("cursor"); c != "" {
		f.After = &app.ProposalCursor{}
		if err := app.DecodeCursor(c, f.After); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	limit := f.Limit
	f.Limit++
	ps, err := s.Proposals.Proposals(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ps, next := pageOf(r, ps, limit, func(p *app.Proposal) any { return app.ProposalCursorAfter(p) })
	body := map[string]any{"proposals": ps}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, http.StatusOK, body)
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
	return app.ProposalKey(id)
}

func (s *Server) handleApproveAPI(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// Optional body {"option": "opt-2"}: the option to approve; without
	// it, the proposal's chosen option.
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

// handleApproveFlightAPI is a supervisor's bulk approval of the chosen
// option of every pending proposal of one flight.
func (s *Server) handleApproveFlightAPI(w http.ResponseWriter, r *http.Request) {
	res, err := s.Proposals.ApproveFlight(r.Context(), r.PathValue("key"), actorOf(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	executed := 0
	for _, a := range res {
		if a.Execution != nil && a.Execution.Outcome == app.ProposalExecuted && !a.Execution.Repeated {
			executed++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"flight": r.PathValue("key"), "executed": executed, "results": res})
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

func flightNames(keys []string) string {
	var names []string
	for _, f := range keys {
		names = append(names, strings.SplitN(f, "-", 2)[0])
	}
	return strings.Join(names, " + ")
}

func (s *Server) optionRows(rv *app.ProposalReview) []OptionRow {
	p := rv.Proposal
	var out []OptionRow
	for _, o := range rv.Options {
		row := OptionRow{ID: o.ID, Flights: flightNames(o.Flights), Depart: s.localAt(o.Depart), Arrive: s.localAt(o.Arrive), Chosen: o.ID == p.Chosen,
			Cabin: o.Cabin, Seats: strconv.Itoa(o.SeatsLeft), Obstacle: o.Obstacle, Approvable: o.Obstacle == "" && p.Status == app.ProposalPending,
			Approved: o.ID == p.ApprovedOption}
		if o.Stops > 0 {
			row.Via = "via " + o.Via
		}
		if len(o.Keeps) > 0 {
			row.Keeps = "then the booked " + flightNames(o.Keeps) + " from " + o.Rejoin
		}
		for _, c := range o.Connections {
			kind := ""
			if c.Kept {
				kind = ", into the booked flight"
			}
			row.Connections = append(row.Connections, fmt.Sprintf("%s %dh%02d (min %dh%02d%s)", c.Airport, c.Minutes/60, c.Minutes%60, c.MinMinutes/60, c.MinMinutes%60, kind))
		}
		out = append(out, row)
		if len(out) == 12 {
			break
		}
	}
	return out
}

// countdown says how long until t, from now: "in 1h05", or "passed".
func countdown(now, t time.Time) string {
	d := t.Sub(now).Round(time.Minute)
	if d <= 0 {
		return "passed"
	}
	return fmt.Sprintf("in %dh%02d", int(d.Hours()), int(d.Minutes())%60)
}

func (s *Server) proposalRow(p *app.Proposal) ProposalRow {
	row := ProposalRow{ID: p.ID, Locator: p.Locator, Flight: strings.SplitN(p.Flight, "-", 2)[0], Reason: p.Reason, Rank: p.Rank, Status: p.Status,
		Pax: p.Need.Pax, Route: p.Need.Origin + " → " + p.Need.Destination}
	if o := p.ChosenOption(); o != nil {
		row.Choice = flightNames(o.Flights)
	} else {
		row.Choice = "none valid"
	}
	row.Due, row.Countdown = s.local(p.Due()), countdown(s.Now(), p.Due())
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
	app.SortByUrgency(ps)
	v := ProposalsView{Chrome: s.chrome(r.Context(), principalOf(r)), Status: status, Flight: r.URL.Query().Get("flight"), Statuses: app.ProposalStatuses}
	for _, p := range ps {
		v.Rows = append(v.Rows, s.proposalRow(p))
	}
	s.render(w, r, http.StatusOK, ProposalsPage(v))
}

func (s *Server) handleProposalPage(w http.ResponseWriter, r *http.Request) {
	rv, err := s.Proposals.Review(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	p := rv.Proposal
	v := ProposalView{Chrome: s.chrome(r.Context(), principalOf(r)), Row: s.proposalRow(p), Options: s.optionRows(rv),
		Rationale: p.Rationale, ModelRationale: p.ModelRationale, Citations: p.Citations, Message: r.URL.Query().Get("msg"),
		AsOf:      fmt.Sprintf("based on flights log offset %d, planned %s under rules %s", p.LogOffset, s.local(p.CreatedAt), p.RulesVersion),
		DecidedBy: p.DecidedBy, Decision: p.DecisionReason, ReplacedBy: p.ReplacedBy, CanDecide: p.Status == app.ProposalPending,
		CanApprove: rv.CanApprove, Chosen: p.Chosen, Expired: p.Status == app.ProposalExpired}
	for _, o := range v.Options {
		v.ChosenOK = v.ChosenOK || (o.Chosen && o.Approvable)
	}
	if len(p.Options) == 0 {
		v.NoOption = strings.TrimSuffix(p.Rationale, ".")
	}
	for _, bp := range rv.Passengers {
		v.Passengers = append(v.Passengers, PassengerLine{Name: bp.Name, ID: bp.ID, Tier: bp.Tier, SSR: strings.Join(bp.SSR, ", ")})
	}
	for _, j := range rv.Journey {
		leg := JourneyRow{Flight: strings.SplitN(j.Flight, "-", 2)[0], Route: j.Origin + " → " + j.Destination, Depart: s.localAt(j.Depart), Arrive: s.localAt(j.Arrive), Status: j.Status}
		switch {
		case j.Kept:
			leg.Role = "onward: kept by an option"
		case j.Replaced:
			leg.Role = "replaced"
		}
		v.Journey = append(v.Journey, leg)
	}
	s.Proposals.RankSoon(r.Context(), p.ID)
	s.render(w, r, http.StatusOK, ProposalPage(v))
}

func (s *Server) handleApprovePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ex, err := s.Proposals.Approve(r.Context(), id, idempotencyKey(r, id), actorOf(r), r.PostFormValue("option"))
	if app.ErrorCode(err) == app.ECONFLICT {
		target := id
		if p, perr := s.Proposals.Proposal(r.Context(), id); perr == nil && p.ReplacedBy != "" {
			target = p.ReplacedBy // planned again: show the fresh proposal with the reason
		}
		http.Redirect(w, r, "/proposals/"+url.PathEscape(target)+"?msg="+url.QueryEscape("Not executed: "+app.ErrorMessage(err)), http.StatusSeeOther)
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
