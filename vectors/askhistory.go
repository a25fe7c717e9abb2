package vectors

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/apron-edge/apron/app"
)

// RecordAsk keeps a question and its answer; it sets r.ID.
func (s *Store) RecordAsk(ctx context.Context, r *app.AskRecord) error {
	if r.Via != app.AskedInConsole && r.Via != app.AskedByAPI {
		return app.Errorf(app.EINVALID, "via: must be %q or %q, got %q", app.AskedInConsole, app.AskedByAPI, r.Via)
	}
	if r.AskedBy == "" {
		return app.Errorf(app.EINVALID, "asked_by: who asked is required")
	}
	sources := r.Sources
	if sources == nil {
		sources = []app.AskSource{}
	}
	src, err := json.Marshal(sources)
	if err != nil {
		return fmt.Errorf("record question: %w", err)
	}
	scope, _ := json.Marshal(map[string]string{"flight": r.Flight, "booking": r.Booking, "airport": r.Airport})
	res, err := s.db.ExecContext(ctx, `INSERT INTO ask_history (asked_at, asked_by, user_id, token_id, via, question, scope, kind, answer, summary, sources, freshness, lagging, error, elapsed_ms)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		ts(r.AskedAt), r.AskedBy, r.UserID, r.TokenID, r.Via, r.Question, string(scope), r.Kind, r.Answer, r.Summary, string(src), r.Freshness, boolInt(r.Lagging), r.Error, r.ElapsedMS)
	if err != nil {
		return fmt.Errorf("record question: %w", err)
	}
	r.ID, _ = res.LastInsertId()
	return nil
}

// AskHistory returns recorded questions, newest first.
func (s *Store) AskHistory(ctx context.Context, f app.AskHistoryFilter) ([]app.AskRecord, error) {
	var where []string
	var args []any
	if f.AskedBy != "" {
		where = append(where, `asked_by = ?`)
		args = append(args, f.AskedBy)
	}
	if f.Before > 0 {
		where = append(where, `id < ?`)
		args = append(args, f.Before)
	}
	q := `SELECT id, asked_at, asked_by, user_id, token_id, via, question, scope, kind, answer, summary, sources, freshness, lagging, error, elapsed_ms FROM ask_history`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read question history: %w", err)
	}
	defer rows.Close()
	out := []app.AskRecord{}
	for rows.Next() {
		var r app.AskRecord
		var at, scope, src string
		var lagging int
		if err := rows.Scan(&r.ID, &at, &r.AskedBy, &r.UserID, &r.TokenID, &r.Via, &r.Question, &scope, &r.Kind, &r.Answer, &r.Summary, &src, &r.Freshness, &lagging, &r.Error, &r.ElapsedMS); err != nil {
			return nil, fmt.Errorf("read question history: %w", err)
		}
		var sc map[string]string
		if err := json.Unmarshal([]byte(scope), &sc); err != nil {
			return nil, fmt.Errorf("read question %d: scope: %w", r.ID, err)
		}
		if err := json.Unmarshal([]byte(src), &r.Sources); err != nil {
			return nil, fmt.Errorf("read question %d: sources: %w", r.ID, err)
		}
		r.AskedAt, r.Lagging = parseTS(at), lagging == 1
		r.Flight, r.Booking, r.Airport = sc["flight"], sc["booking"], sc["airport"]
		out = append(out, r)
	}
	return out, rows.Err()
}

// eraseFromAskHistory blanks the recorded questions that cite the person
// or name them, so an erasure leaves no trace of them in the audit trail
// of questions; who asked and when stay.
func eraseFromAskHistory(ctx context.Context, tx *txc, passengerID, name string) error {
	cond := `sources LIKE ? ESCAPE '\'`
	args := []any{"%" + likeEscape(`"`+passengerID+`"`) + "%"}
	if strings.TrimSpace(name) != "" {
		n := "%" + likeEscape(name) + "%"
		cond += ` OR question LIKE ? ESCAPE '\' OR answer LIKE ? ESCAPE '\' OR summary LIKE ? ESCAPE '\'`
		args = append(args, n, n, n)
	}
	_, err := tx.ExecContext(ctx, `UPDATE ask_history SET question = '(erased)', scope = '{}', answer = '(erased)', summary = '', sources = '[]' WHERE `+cond, args...)
	if err != nil {
		return fmt.Errorf("erase %s from question history: %w", passengerID, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
