package ui

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/apron-edge/apron/app"
)

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (s *Server) adminView(r *http.Request) (AdminView, error) {
	ctx := r.Context()
	v := AdminView{Chrome: s.chrome(ctx, principalOf(r))}
	lags, err := s.topicsAndLags(ctx)
	if err != nil {
		return v, err
	}
	for _, t := range lags.Topics {
		v.Topics = append(v.Topics, TopicRow{Name: t.Name, First: t.FirstOffset, Last: t.LastOffset, Messages: t.Messages, Bytes: humanBytes(t.Bytes)})
	}
	for _, c := range lags.Consumers {
		v.Consumers = append(v.Consumers, ConsumerRow{Consumer: c.Consumer, Topic: c.Topic, Offset: c.Offset, Behind: c.Behind, Seconds: freshnessText(c)})
	}
	if s.Sched != nil {
		v.Queues = s.Sched.Stats()
	}
	v.Link, _ = s.link(ctx, true)
	v.Cluster = s.cluster(ctx)
	if s.Models != nil {
		v.Models = s.Models(ctx)
	}
	if s.Erasures != nil {
		es, err := s.Erasures.Erasures(ctx)
		if err != nil {
			return v, err
		}
		for _, e := range es {
			v.Erasures = append(v.Erasures, s.erasureRow(e))
		}
	}
	users, err := s.Auth.Users(ctx)
	if err != nil {
		return v, err
	}
	for _, u := range users {
		v.Users = append(v.Users, UserRow{ID: u.ID, Name: u.Name, Role: u.Role, Disabled: u.Disabled})
	}
	tokens, err := s.Auth.Tokens(ctx)
	if err != nil {
		return v, err
	}
	for _, t := range tokens {
		row := TokenRow{ID: t.ID, Name: t.Name, Role: t.Role, Created: s.local(t.CreatedAt), LastUsed: s.local(t.LastUsed), Revoked: !t.RevokedAt.IsZero()}
		if row.LastUsed == "" {
			row.LastUsed = "never"
		}
		v.Tokens = append(v.Tokens, row)
	}
	return v, nil
}

// ErasureLister reports the passenger erasures in progress and completed.
type ErasureLister interface {
	Erasures(ctx context.Context) ([]app.ErasureStatus, error)
}

func (s *Server) erasureRow(e app.ErasureStatus) ErasureRow {
	row := ErasureRow{Ref: e.Erasure, State: e.State, RequestedBy: e.RequestedBy, RequestedAt: s.local(e.RequestedAt)}
	if r := e.Report; r != nil {
		row.CompletedAt = s.local(r.CompletedAt)
		row.Removed = fmt.Sprintf("%d bookings redacted, %d rebooking events redacted, %d answers and %d dead letters erased, %d proposals redacted; %d log entries erased in %d ms",
			r.BookingsRedacted, r.RebookingsRedacted, r.AnswersErased, r.DeadLettersErased, r.ProposalsRedacted, r.LogEntriesErased, r.DurationMS)
	} else {
		row.Removed = "running since " + s.local(e.StartedAt)
	}
	return row
}

// handleErasures lists the erasures as JSON, for `apron erase` to wait
// for its own.
func (s *Server) handleErasures(w http.ResponseWriter, r *http.Request) {
	if s.Erasures == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "erasures: the node runs no eraser"))
		return
	}
	es, err := s.Erasures.Erasures(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if es == nil {
		es = []app.ErasureStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"erasures": es})
}

func (s *Server) showAdmin(w http.ResponseWriter, r *http.Request, status int, edit func(*AdminView)) {
	v, err := s.adminView(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	for _, l := range s.Rebooking.Lines() {
		v.Rules = append(v.Rules, RuleRow{Field: l.Field, Value: l.Value})
	}
	if edit != nil {
		edit(&v)
	}
	s.render(w, r, status, AdminPage(v))
}

func (s *Server) handleAdmin(w http.ResponseWriter, r *http.Request) {
	s.showAdmin(w, r, http.StatusOK, nil)
}

func (s *Server) handleAddUser(w http.ResponseWriter, r *http.Request) {
	name, role, password := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("role"), r.PostFormValue("password")
	fail := func(err error) {
		s.showAdmin(w, r, errorStatus(app.ErrorCode(err)), func(v *AdminView) { v.Error = app.ErrorMessage(err) })
	}
	if err := app.ValidateUser(name, role, password); err != nil {
		fail(err)
		return
	}
	hash, err := app.HashPassword(password)
	if err != nil {
		fail(err)
		return
	}
	if _, err := s.Auth.CreateUser(r.Context(), name, role, hash); err != nil {
		fail(err)
		return
	}
	s.Logger.Info("user added", "name", name, "role", role, "by", principalOf(r).Name)
	s.showAdmin(w, r, http.StatusOK, func(v *AdminView) { v.Message = "Added " + name + " as " + role + "." })
}

func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	role := r.PostFormValue("role")
	if err != nil || !app.ValidRole(role) {
		s.showAdmin(w, r, http.StatusBadRequest, func(v *AdminView) { v.Error = "role: must be one of viewer, agent, supervisor, admin" })
		return
	}
	disabled := r.PostFormValue("disabled") == "1"
	if p := principalOf(r); p.UserID == id && (disabled || role != app.RoleAdmin) {
		s.showAdmin(w, r, http.StatusConflict, func(v *AdminView) { v.Error = "You cannot remove your own admin role or disable yourself." })
		return
	}
	if err := s.Auth.SetUserRole(r.Context(), id, role, disabled); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.Logger.Info("user changed", "id", id, "role", role, "disabled", disabled, "by", principalOf(r).Name)
	s.showAdmin(w, r, http.StatusOK, func(v *AdminView) { v.Message = "Saved." })
}

func (s *Server) handleAddToken(w http.ResponseWriter, r *http.Request) {
	name, role := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("role")
	if name == "" || len(name) > 64 || !app.ValidRole(role) {
		s.showAdmin(w, r, http.StatusBadRequest, func(v *AdminView) {
			v.Error = "name: 1 to 64 characters; role: one of viewer, agent, supervisor, admin"
		})
		return
	}
	secret := app.NewSecret("apron_")
	if _, err := s.Auth.CreateToken(r.Context(), name, role, app.HashSecret(secret), s.Now()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.Logger.Info("token created", "name", name, "role", role, "by", principalOf(r).Name)
	s.showAdmin(w, r, http.StatusOK, func(v *AdminView) { v.NewToken = secret })
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		s.pageError(w, r, app.Errorf(app.EINVALID, "id: not a number"))
		return
	}
	if err := s.Auth.RevokeToken(r.Context(), id, s.Now()); err != nil {
		s.pageError(w, r, err)
		return
	}
	s.Logger.Info("token revoked", "id", id, "by", principalOf(r).Name)
	s.showAdmin(w, r, http.StatusOK, func(v *AdminView) { v.Message = "Token revoked." })
}

func freshnessText(f app.Freshness) string {
	if !f.Known {
		return "unknown"
	}
	return fmt.Sprintf("%.1f", f.AgeSeconds)
}
