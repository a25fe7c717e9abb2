package vectors

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

// applyProposalChange applies one proposal.changed entry of the control
// topic at offset (decision 0028). Each op does what the planner's or the
// engine's own transaction did before the proposals were on the log, and
// only where it still can (a ranking or an expiry of a proposal that is
// no longer pending changes nothing), so every node that applies the
// same entries in log order holds the same proposals.
func applyProposalChange(ctx context.Context, tx *sql.Tx, ch *app.ProposalChange, offset uint64) error {
	switch ch.Op {
	case app.OpPlanned:
		if ch.Proposal == nil {
			return fmt.Errorf("planned without a proposal")
		}
		_, err := saveProposal(ctx, tx, ch.Proposal, offset)
		return err
	case app.OpRanked:
		return applyRanking(ctx, tx, ch)
	case app.OpExpired:
		_, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'expired', decided_by = 'apron/proposer', decided_at = ?, decision_reason = ? WHERE id = ? AND status = 'pending'`,
			ts(ch.At), ch.Reason, ch.ProposalID)
		return err
	case app.OpDecided:
		if ch.Outcome == nil {
			return fmt.Errorf("decided without an outcome")
		}
		return applyOutcome(ctx, tx, ch, offset)
	case app.OpReplanned:
		_, err := tx.ExecContext(ctx, `UPDATE commands SET replanned = 1, new_id = ? WHERE command_offset = ?`, ch.NewID, ch.Command)
		return err
	case app.OpRestored:
		return applyRestored(ctx, tx, ch.Records)
	case app.OpAdopted:
		// The rows a store made before the proposals went onto the log:
		// a replay inserts them as they were; the store they came from
		// has them already. Either way they are from the log now.
		if err := applyRestored(ctx, tx, ch.Records); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE proposals SET control_offset = ? WHERE locator = ? AND control_offset = 0`, offset, ch.Locator)
		return err
	}
	return nil
}

func applyRanking(ctx context.Context, tx *sql.Tx, ch *app.ProposalChange) error {
	r := ch.Ranking
	if r == nil {
		return fmt.Errorf("ranked without a ranking")
	}
	var err error
	if r.ModelRationale {
		cites, _ := json.Marshal(nonNilStrings(r.Citations))
		_, err = tx.ExecContext(ctx, `UPDATE proposals SET chosen = ?, rationale = ?, citations = ?, model_rationale = 1, model = ?, model_digest = ?, prompt_hash = ? WHERE id = ? AND status = 'pending'`,
			r.Choice, r.Rationale, string(cites), r.Model, r.Digest, r.PromptHash, ch.ProposalID)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE proposals SET model = ?, model_digest = ?, prompt_hash = ? WHERE id = ? AND status = 'pending'`, r.Model, r.Digest, r.PromptHash, ch.ProposalID)
	}
	return err
}

// applyCommand records a person's approval or rejection, undecided.
func applyCommand(ctx context.Context, tx *sql.Tx, c *app.ProposalCommand, offset uint64) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO commands (command_offset, kind, proposal_id, data) VALUES (?,?,?,?)`, offset, c.Kind, c.ProposalID, string(data))
	return err
}

// applyOutcome believes an engine's outcome, or ignores it, and records
// which. It is ignored when its command is unknown or already decided
// (an outcome appended twice, or by two engines), when its epoch is lower
// than that of an outcome already believed (an engine that lost its lease
// and did not stop in time), when another outcome was believed after the
// state the engine decided on (its Basis), or when it changes a proposal
// that is no longer pending. The engine decides an ignored command again.
func applyOutcome(ctx context.Context, tx *sql.Tx, ch *app.ProposalChange, offset uint64) error {
	out := ch.Outcome
	var decided int
	err := tx.QueryRowContext(ctx, `SELECT outcome IS NOT NULL FROM commands WHERE command_offset = ?`, out.Command).Scan(&decided)
	if errors.Is(err, sql.ErrNoRows) || decided == 1 {
		return nil
	} else if err != nil {
		return err
	}
	var epoch, lastOutcome uint64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(epoch), 0), COALESCE(MAX(outcome_offset), 0) FROM commands WHERE outcome IS NOT NULL`).Scan(&epoch, &lastOutcome); err != nil {
		return err
	}
	if out.Epoch < epoch || lastOutcome > out.Basis {
		return nil
	}
	changes := out.Result != app.OutcomeRefused && !out.Repeated
	if changes {
		p, err := txProposal(ctx, tx, ch.ProposalID)
		if app.ErrorCode(err) == app.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if p.Status != app.ProposalPending {
			return nil
		}
		switch out.Result {
		case app.ProposalExecuted, app.ProposalFailed:
			err = applyExecution(ctx, tx, p, out)
		case app.ProposalRejected:
			_, err = tx.ExecContext(ctx, `UPDATE proposals SET status = 'rejected', decided_by = ?, decided_at = ?, decision_reason = ? WHERE id = ?`,
				out.Actor, ts(out.At), out.Reason, p.ID)
		}
		if err != nil {
			return err
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE commands SET outcome = ?, outcome_offset = ?, epoch = ? WHERE command_offset = ?`, string(data), offset, out.Epoch, out.Command)
	return err
}

const commandCols = `command_offset, data, outcome, outcome_offset, replanned, new_id`

func scanCommand(r rowScanner) (*app.CommandState, error) {
	var c app.CommandState
	var data string
	var outcome sql.NullString
	var replanned int
	if err := r.Scan(&c.Offset, &data, &outcome, &c.OutcomeOff, &replanned, &c.NewID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), &c.Command); err != nil {
		return nil, fmt.Errorf("decode command %d: %w", c.Offset, err)
	}
	if outcome.Valid {
		c.Outcome = new(app.Outcome)
		if err := json.Unmarshal([]byte(outcome.String), c.Outcome); err != nil {
			return nil, fmt.Errorf("decode outcome of command %d: %w", c.Offset, err)
		}
	}
	c.Replanned = replanned == 1
	return &c, nil
}

// Command returns what the store knows of the command at a control
// offset. Returns ENOTFOUND while the store has not applied it.
func (s *Store) Command(ctx context.Context, offset uint64) (*app.CommandState, error) {
	c, err := scanCommand(s.rdb.QueryRowContext(ctx, `SELECT `+commandCols+` FROM commands WHERE command_offset = ?`, offset))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "command control@%d not applied", offset)
	} else if err != nil {
		return nil, fmt.Errorf("load command %d: %w", offset, err)
	}
	return c, nil
}

// UndecidedCommands returns up to limit commands without a believed
// outcome, in log order.
func (s *Store) UndecidedCommands(ctx context.Context, limit int) ([]*app.CommandState, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+commandCols+` FROM commands WHERE outcome IS NULL ORDER BY command_offset LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("undecided commands: %w", err)
	}
	defer rows.Close()
	var out []*app.CommandState
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("undecided commands: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// proposalTables are the tables of a booking's proposals as an erasure
// restores them, with the query of a booking's rows and their key.
var proposalTables = []struct{ name, where, key string }{
	{"proposals", `locator = ?`, "id"},
	{"commands", `proposal_id IN (SELECT id FROM proposals WHERE locator = ?)`, "command_offset"},
	{"executions", `proposal_id IN (SELECT id FROM proposals WHERE locator = ?)`, "idempotency_key"},
	{"seat_holds", `locator = ?`, ""},
}

// unloggedTables are the rows of a booking's proposals that were made
// before the proposals went onto the log (control_offset 0), with their
// commands, executions and seat holds.
var unloggedTables = []struct{ name, where, key string }{
	{"proposals", `locator = ? AND control_offset = 0`, "id"},
	{"commands", `proposal_id IN (SELECT id FROM proposals WHERE locator = ? AND control_offset = 0)`, "command_offset"},
	{"executions", `proposal_id IN (SELECT id FROM proposals WHERE locator = ? AND control_offset = 0)`, "idempotency_key"},
	{"seat_holds", `proposal_id IN (SELECT id FROM proposals WHERE locator = ? AND control_offset = 0)`, ""},
}

// UnloggedProposals returns the locators of the bookings whose proposals
// this store made before they went onto the log, in order.
func (s *Store) UnloggedProposals(ctx context.Context) ([]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT locator FROM proposals WHERE control_offset = 0 ORDER BY locator`)
	if err != nil {
		return nil, fmt.Errorf("proposals not on the log: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var loc string
		if err := rows.Scan(&loc); err != nil {
			return nil, fmt.Errorf("proposals not on the log: %w", err)
		}
		out = append(out, loc)
	}
	return out, rows.Err()
}

// UnloggedProposalRecords returns the rows of booking locator's proposals
// that are not from the log, with their commands, executions and seat
// holds, column by column.
func (s *Store) UnloggedProposalRecords(ctx context.Context, locator string) (app.TableRows, error) {
	return s.tableRows(ctx, unloggedTables, locator)
}

// ProposalRecords returns the rows of booking locator's proposals, their
// commands, executions and seat holds, column by column.
func (s *Store) ProposalRecords(ctx context.Context, locator string) (app.TableRows, error) {
	return s.tableRows(ctx, proposalTables, locator)
}

func (s *Store) tableRows(ctx context.Context, tables []struct{ name, where, key string }, locator string) (app.TableRows, error) {
	out := app.TableRows{}
	for _, t := range tables {
		rows, err := s.rdb.QueryContext(ctx, `SELECT * FROM `+t.name+` WHERE `+t.where, locator)
		if err != nil {
			return nil, fmt.Errorf("%s of %s: %w", t.name, locator, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("%s of %s: %w", t.name, locator, err)
			}
			row := map[string]any{}
			for i, c := range cols {
				if b, ok := vals[i].([]byte); ok {
					vals[i] = string(b)
				}
				row[c] = vals[i]
			}
			out[t.name] = append(out[t.name], row)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// applyRestored applies an erasure's restore of a booking's proposals:
// rows the store lacks (a replay, where the history they came from is
// erased) are inserted as they were; rows it has keep their state and
// take the redacted text, where they are still in the state the restore
// was read in.
func applyRestored(ctx context.Context, tx *sql.Tx, recs app.TableRows) error {
	for _, t := range proposalTables {
		for _, row := range recs[t.name] {
			cols := make([]string, 0, len(row))
			for c := range row {
				if !validColumn(c) {
					return fmt.Errorf("restore %s: column %q", t.name, c)
				}
				cols = append(cols, c)
			}
			sort.Strings(cols)
			args := make([]any, len(cols))
			for i, c := range cols {
				args[i] = sqlValue(row[c])
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO `+t.name+` (`+strings.Join(cols, ", ")+`) VALUES (`+placeholders(len(cols))+`)`, args...); err != nil {
				return fmt.Errorf("restore %s: %w", t.name, err)
			}
		}
	}
	for _, row := range recs["proposals"] {
		if _, err := tx.ExecContext(ctx, `UPDATE proposals SET rationale = ?, decision_reason = ?, need = ?, citations = ? WHERE id = ? AND status = ?`,
			sqlValue(row["rationale"]), sqlValue(row["decision_reason"]), sqlValue(row["need"]), sqlValue(row["citations"]), sqlValue(row["id"]), sqlValue(row["status"])); err != nil {
			return fmt.Errorf("restore proposal text: %w", err)
		}
	}
	for _, row := range recs["commands"] {
		if _, err := tx.ExecContext(ctx, `UPDATE commands SET data = ?, outcome = ? WHERE command_offset = ? AND (outcome IS NULL) = (? IS NULL)`,
			sqlValue(row["data"]), sqlValue(row["outcome"]), sqlValue(row["command_offset"]), sqlValue(row["outcome"])); err != nil {
			return fmt.Errorf("restore command text: %w", err)
		}
	}
	return nil
}

func validColumn(c string) bool {
	for _, r := range c {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return c != ""
}

// sqlValue turns a JSON-decoded value back into one SQLite takes: whole
// numbers as integers.
func sqlValue(v any) any {
	if f, ok := v.(float64); ok && f == float64(int64(f)) {
		return int64(f)
	}
	return v
}

// FailedAndRejected returns the commands whose believed outcome failed an
// approval or rejected a proposal, not repeats, decided at or after since
// (the command's time), in log order.
func (s *Store) FailedAndRejected(ctx context.Context, since time.Time) ([]*app.CommandState, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT c.command_offset, c.data, c.outcome, c.outcome_offset, c.replanned, c.new_id FROM commands c
		WHERE c.outcome IS NOT NULL AND json_extract(c.outcome, '$.result') IN ('failed', 'rejected')
		AND COALESCE(json_extract(c.outcome, '$.repeated'), 0) = 0 ORDER BY c.command_offset`)
	if err != nil {
		return nil, fmt.Errorf("failed and rejected outcomes: %w", err)
	}
	defer rows.Close()
	var out []*app.CommandState
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("failed and rejected outcomes: %w", err)
		}
		if c.Outcome != nil && !c.Outcome.At.Before(since) {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// UnshownExecutions returns the commands whose believed outcome executed
// a rebooking whose seat hold is still active: the booking's state is
// older than the rebooking.
func (s *Store) UnshownExecutions(ctx context.Context) ([]*app.CommandState, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT DISTINCT c.command_offset, c.data, c.outcome, c.outcome_offset, c.replanned, c.new_id FROM commands c
		JOIN seat_holds h ON h.proposal_id = c.proposal_id LEFT JOIN bookings b ON b.locator = h.locator
		WHERE c.outcome IS NOT NULL AND json_extract(c.outcome, '$.result') = 'executed' AND COALESCE(json_extract(c.outcome, '$.repeated'), 0) = 0
		AND (b.locator IS NULL OR b.event_time < h.event_time) ORDER BY c.command_offset`)
	if err != nil {
		return nil, fmt.Errorf("unshown executions: %w", err)
	}
	defer rows.Close()
	var out []*app.CommandState
	for rows.Next() {
		c, err := scanCommand(rows)
		if err != nil {
			return nil, fmt.Errorf("unshown executions: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
