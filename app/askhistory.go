package app

import (
	"context"
	"errors"
	"time"
)

// Where a question came from.
const (
	AskedInConsole = "console"
	AskedByAPI     = "api"
)

// AskRecord is a question asked of the node and what it answered: who
// asked, the answer, its sources and its freshness stamp. Questions are
// part of the site's audit trail.
type AskRecord struct {
	ID        int64       `json:"id"`
	AskedAt   time.Time   `json:"asked_at"` // the node's clock
	AskedBy   string      `json:"asked_by"` // a user's name, or "token:" + a token's name
	UserID    int64       `json:"-"`
	TokenID   int64       `json:"-"`
	Via       string      `json:"via"` // console or api
	Question  string      `json:"question"`
	Flight    string      `json:"flight,omitempty"`
	Booking   string      `json:"booking,omitempty"`
	Airport   string      `json:"airport,omitempty"`
	Kind      string      `json:"kind"`
	Answer    string      `json:"answer"`
	Summary   string      `json:"summary,omitempty"`
	Sources   []AskSource `json:"sources"`
	Freshness string      `json:"freshness"`
	Lagging   bool        `json:"lagging"`
	Error     string      `json:"error,omitempty"` // why no whole answer was given
	ElapsedMS int64       `json:"elapsed_ms"`
}

// Actor names the principal in records: the user's name, or "token:" and
// the token's name for a machine client.
func (p *Principal) Actor() string {
	if p == nil {
		return ""
	}
	if p.TokenID != 0 {
		return "token:" + p.Name
	}
	return p.Name
}

// NewAskRecord is what the node keeps of req asked by p at the time at:
// the answer as it stood when Ask returned, and the error that ended it,
// if any (a question the person stopped says so).
func NewAskRecord(p *Principal, via string, at time.Time, req AskRequest, ans AskAnswer, err error) AskRecord {
	r := AskRecord{
		AskedAt: at.UTC(), AskedBy: p.Actor(), Via: via,
		Question: req.Question, Flight: req.Flight, Booking: req.Booking, Airport: req.Airport,
		Kind: ans.Kind, Answer: ans.Answer, Sources: ans.Sources, Freshness: ans.Freshness, Lagging: ans.Lagging, ElapsedMS: ans.ElapsedMS,
	}
	if p != nil {
		r.UserID, r.TokenID = p.UserID, p.TokenID
	}
	if r.Sources == nil {
		r.Sources = []AskSource{}
	}
	if ans.Summary != nil {
		r.Summary = ans.Summary.Text
	}
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		r.Error = "stopped by the person asking before the answer was complete"
	default:
		r.Error = ErrorMessage(err)
	}
	return r
}

// AskHistoryFilter selects recorded questions, newest first.
type AskHistoryFilter struct {
	AskedBy string // "" for everyone's
	Before  int64  // only records older than this id (the cursor); 0 for the newest
	Limit   int
}

// AskHistoryCursor is the position in the history: the id of the last
// record of a page.
type AskHistoryCursor struct {
	ID int64 `json:"id"`
}

// AskHistory keeps the questions asked of the node.
type AskHistory interface {
	RecordAsk(ctx context.Context, r *AskRecord) error
	AskHistory(ctx context.Context, f AskHistoryFilter) ([]AskRecord, error)
}

// AskHistoryScope says whose questions p may read when asking for those
// of user ("" for the default): anyone's for an admin (everyone's by
// default), only their own for anyone else. Returns EFORBIDDEN for
// another person's questions.
func AskHistoryScope(p *Principal, user string) (string, error) {
	if p.Can(RoleAdmin) {
		return user, nil
	}
	if user != "" && user != p.Actor() {
		return "", Errorf(EFORBIDDEN, "user: only an admin may read the questions of another user (%q)", user)
	}
	return p.Actor(), nil
}
