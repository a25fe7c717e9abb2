package ui

import (
	"context"
	"net/http"

	"github.com/apron-edge/apron/app"
)

// StateChecker compares the node's state store with a rebuild from the log.
type StateChecker interface {
	Check(ctx context.Context) (app.CheckReport, error)
}

// handleCheck runs a check of the node's state against a rebuild from its
// log (admin) and answers the report: 200 with the differing tables
// (none: equal) and the positions compared. A second check while one
// runs gets 409. `apron check` beside a running node asks this.
func (s *Server) handleCheck(w http.ResponseWriter, r *http.Request) {
	if s.Check == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "this node has no state check configured"))
		return
	}
	rep, err := s.Check.Check(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("state checked against a rebuild from the log", "equal", rep.Equal(), "differs", rep.Tables(), "took_ms", rep.TookMS, "by", principalOf(r).Name)
	writeJSON(w, http.StatusOK, struct {
		Equal bool `json:"equal"`
		app.CheckReport
	}{rep.Equal(), rep})
}
