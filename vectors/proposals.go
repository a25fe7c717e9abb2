package vectors

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/apron-edge/apron/app"
)

// fingerprint identifies what a proposal offers, so that an unchanged
// disruption does not produce the same proposal again.
func fingerprint(p *app.Proposal) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%s|%v|", p.Locator, p.Need.Origin, p.Need.Destination, p.Need.Cabin, p.Need.Replace)
	for _, o := range p.Options {
		fmt.Fprintf(h, "%v%v;", o.Flights, o.Keeps)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// saveProposal stores a new pending proposal, offered by the control
// entry at offset: a proposal identical to a pending one of the same
// booking is skipped; a different one supersedes it. It reports whether
// the proposal was stored.
func saveProposal(ctx context.Context, tx *sql.Tx, p *app.Proposal, offset uint64) (bool, error) {
	fp := fingerprint(p)
	var n int
	// The same id is the same disruption planned again with the same
	// options (ids hold no planning time): a person's decision on it
	// stands; one the planner superseded or expired is offered again.
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM proposals WHERE (id = ? AND status NOT IN ('superseded', 'expired')) OR (locator = ? AND status = 'pending' AND fingerprint = ?)`, p.ID, p.Locator, fp).Scan(&n); err != nil {
		return false, fmt.Errorf("save proposal %s: %w", p.ID, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM proposals WHERE id = ?`, p.ID); err != nil {
		return false, fmt.Errorf("save proposal %s: %w", p.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'superseded', replaced_by = ? WHERE locator = ? AND status = 'pending'`, p.ID, p.Locator); err != nil {
		return false, fmt.Errorf("save proposal %s: %w", p.ID, err)
	}
	need, _ := json.Marshal(p.Need)
	opts, _ := json.Marshal(p.Options)
	cites, _ := json.Marshal(nonNilStrings(p.Citations))
	mr := 0
	if p.ModelRationale {
		mr = 1
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO proposals (id, locator, flight, reason, rank, status, need, options, chosen, rationale, model_rationale, citations, model, model_digest, prompt_hash, log_offset, created_at, fingerprint, rules_version, control_offset)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		p.ID, p.Locator, p.Flight, p.Reason, p.Rank, app.ProposalPending, string(need), string(opts), p.Chosen, p.Rationale, mr, string(cites),
		p.Model, p.ModelDigest, p.PromptHash, p.LogOffset, ts(p.CreatedAt), fp, p.RulesVersion, offset); err != nil {
		return false, fmt.Errorf("insert proposal: %w", err)
	}
	return true, nil
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func addOutbox(ctx context.Context, tx *sql.Tx, evs []*app.Event) error {
	for _, e := range evs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (topic, event) VALUES (?, ?)`, e.Topic(), string(e.Raw)); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

const proposalCols = `id, locator, flight, reason, rank, status, need, options, chosen, rationale, model_rationale, citations, model, model_digest, prompt_hash, log_offset, created_at, decided_by, decided_at, decision_reason, replaced_by, rules_version, approved_option, approved_proposed, control_offset`

type rowScanner interface{ Scan(...any) error }

func scanProposal(r rowScanner) (*app.Proposal, error) {
	var p app.Proposal
	var need, opts, cites, created, decided string
	var mr, proposed int
	if err := r.Scan(&p.ID, &p.Locator, &p.Flight, &p.Reason, &p.Rank, &p.Status, &need, &opts, &p.Chosen, &p.Rationale, &mr, &cites,
		&p.Model, &p.ModelDigest, &p.PromptHash, &p.LogOffset, &created, &p.DecidedBy, &decided, &p.DecisionReason, &p.ReplacedBy,
		&p.RulesVersion, &p.ApprovedOption, &proposed, &p.ControlOffset); err != nil {
		return nil, err
	}
	p.ModelRationale, p.Proposed = mr == 1, proposed == 1
	p.CreatedAt, p.DecidedAt = parseTS(created), parseTS(decided)
	_ = json.Unmarshal([]byte(need), &p.Need)
	_ = json.Unmarshal([]byte(opts), &p.Options)
	_ = json.Unmarshal([]byte(cites), &p.Citations)
	return &p, nil
}

// Proposal returns one proposal. Returns ENOTFOUND.
func (s *Store) Proposal(ctx context.Context, id string) (*app.Proposal, error) {
	p, err := scanProposal(s.rdb.QueryRowContext(ctx, `SELECT `+proposalCols+` FROM proposals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "proposal %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("load proposal %s: %w", id, err)
	}
	return p, nil
}

// Proposals lists proposals by flight and rank.
func (s *Store) Proposals(ctx context.Context, f app.ProposalFilter) ([]*app.Proposal, error) {
	var where []string
	var args []any
	if f.Flight != "" {
		where = append(where, `flight = ?`)
		args = append(args, f.Flight)
	}
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.After != nil {
		where = append(where, `(flight, rank, id) > (?, ?, ?)`)
		args = append(args, f.After.Flight, f.After.Rank, f.After.ID)
	}
	q := `SELECT ` + proposalCols + ` FROM proposals`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY flight, rank, id`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	defer rows.Close()
	var out []*app.Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, fmt.Errorf("list proposals: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PendingCounts returns the number of pending proposals per flight.
func (s *Store) PendingCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT flight, COUNT(*) FROM proposals WHERE status = 'pending' GROUP BY flight`)
	if err != nil {
		return nil, fmt.Errorf("count pending proposals: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("count pending proposals: %w", err)
		}
		out[k] = n
	}
	return out, rows.Err()
}

// seatsLeft computes free seats per "flight/cabin" key: capacity, minus
// passengers booked in the state, minus holds of executed rebookings the
// state does not show yet.
func seatsLeft(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, flight, cabin string) (int, error) {
	var data string
	if err := q.QueryRowContext(ctx, `SELECT data FROM flights WHERE key = ?`, flight).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
		return 0, err
	}
	var f app.Flight
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return 0, fmt.Errorf("seats left on %s %s: %w", flight, cabin, err)
	}
	var booked, held int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM booking_segments s JOIN booking_passengers p ON p.locator = s.locator WHERE s.flight_key = ? AND s.cabin = ?`, flight, cabin).Scan(&booked); err != nil {
		return 0, fmt.Errorf("seats left on %s %s: %w", flight, cabin, err)
	}
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(h.seats), 0) FROM seat_holds h LEFT JOIN bookings b ON b.locator = h.locator
		WHERE h.flight_key = ? AND h.cabin = ? AND (b.locator IS NULL OR b.event_time < h.event_time)`, flight, cabin).Scan(&held); err != nil {
		return 0, fmt.Errorf("seats left on %s %s: %w", flight, cabin, err)
	}
	return f.Capacity[cabin] - booked - held, nil
}

// SeatsLeft returns free seats of a flight's cabin.
func (s *Store) SeatsLeft(ctx context.Context, flight, cabin string) (int, error) {
	return seatsLeft(ctx, s.rdb, flight, cabin)
}

// DecideExecution reads, in one read transaction, the proposal of req,
// its booking, seats and flights, and returns what decide makes of them;
// it changes nothing (the booking engine appends the outcome, and the
// control materialiser applies it). Returns ENOTFOUND for an unknown
// proposal and decide's error unchanged.
func (s *Store) DecideExecution(ctx context.Context, req app.ExecutionRequest, decide app.ExecutionDecider) (*app.ExecutionChange, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	in, err := executionInput(ctx, tx, req)
	if err != nil {
		return nil, err
	}
	return decide(ctx, in)
}

// ExecutionByKey returns the execution recorded for an idempotency key.
// Returns ENOTFOUND.
func (s *Store) ExecutionByKey(ctx context.Context, key string) (*app.Execution, error) {
	var ex app.Execution
	var proposed int
	err := s.rdb.QueryRowContext(ctx, `SELECT proposal_id, outcome, detail, option_id, proposed FROM executions WHERE idempotency_key = ?`, key).
		Scan(&ex.ProposalID, &ex.Outcome, &ex.Detail, &ex.Option, &proposed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "no execution with key %q", key)
	} else if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	ex.Proposed = proposed == 1
	return &ex, nil
}

// executionInput reads what the booking engine's decision needs.
func executionInput(ctx context.Context, tx *sql.Tx, req app.ExecutionRequest) (app.ExecutionInput, error) {
	p, err := txProposal(ctx, tx, req.ProposalID)
	if err != nil {
		return app.ExecutionInput{}, err
	}
	var bdata, bet string
	if err := tx.QueryRowContext(ctx, `SELECT data, event_time FROM bookings WHERE locator = ?`, p.Locator).Scan(&bdata, &bet); err != nil {
		return app.ExecutionInput{}, fmt.Errorf("booking %s: %w", p.Locator, err)
	}
	var b app.Booking
	if err := json.Unmarshal([]byte(bdata), &b); err != nil {
		return app.ExecutionInput{}, fmt.Errorf("decode booking %s: %w", p.Locator, err)
	}
	return app.ExecutionInput{Request: req, Proposal: p, Booking: &b, BookingTime: parseTS(bet), Seats: txSeats{tx}, Flights: txFlights{tx}}, nil
}

// txFlights reads flights inside the booking engine's transaction.
type txFlights struct{ tx *sql.Tx }

func (t txFlights) FlightNow(ctx context.Context, key string) (*app.Flight, error) {
	var data string
	if err := t.tx.QueryRowContext(ctx, `SELECT data FROM flights WHERE key = ?`, key).Scan(&data); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, fmt.Errorf("read flight %s: %w", key, err)
	}
	var f app.Flight
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return nil, fmt.Errorf("decode flight %s: %w", key, err)
	}
	return &f, nil
}

// txSeats counts seats inside the booking engine's transaction.
type txSeats struct{ tx *sql.Tx }

func (t txSeats) SeatsLeft(ctx context.Context, flight, cabin string) (int, error) {
	return seatsLeft(ctx, t.tx, flight, cabin)
}

// applyExecution stores a believed execution outcome: the seat holds,
// the proposal's outcome and the record of its idempotency key.
func applyExecution(ctx context.Context, tx *sql.Tx, p *app.Proposal, out *app.Outcome) error {
	for _, h := range out.Holds {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO seat_holds (proposal_id, locator, flight_key, cabin, seats, event_time) VALUES (?,?,?,?,?,?)`,
			p.ID, p.Locator, h.Flight, h.Cabin, h.Seats, ts(h.EventTime)); err != nil {
			return fmt.Errorf("hold seats on %s: %w", h.Flight, err)
		}
	}
	proposed := 0
	if out.Proposed {
		proposed = 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?, approved_option = ?, approved_proposed = ? WHERE id = ?`,
		out.Result, out.Actor, ts(out.At), out.Detail, out.Option, proposed, p.ID); err != nil {
		return fmt.Errorf("mark proposal %s %s: %w", p.ID, out.Result, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO executions (idempotency_key, proposal_id, outcome, detail, created_at, option_id, proposed) VALUES (?,?,?,?,?,?,?)`,
		out.Key, p.ID, out.Result, out.Detail, ts(out.At), out.Option, proposed); err != nil {
		return fmt.Errorf("record execution of %s: %w", p.ID, err)
	}
	return nil
}

// txProposal reads a proposal inside a transaction. Returns ENOTFOUND.
func txProposal(ctx context.Context, tx *sql.Tx, id string) (*app.Proposal, error) {
	p, err := scanProposal(tx.QueryRowContext(ctx, `SELECT `+proposalCols+` FROM proposals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "proposal %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("load proposal %s: %w", id, err)
	}
	return p, nil
}

// Outbox returns up to limit queued events in order.
func (s *Store) Outbox(ctx context.Context, limit int) ([]app.OutboxItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, topic, event FROM outbox ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []app.OutboxItem
	for rows.Next() {
		var it app.OutboxItem
		var ev string
		if err := rows.Scan(&it.Seq, &it.Topic, &ev); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		it.Event = []byte(ev)
		out = append(out, it)
	}
	return out, rows.Err()
}

// DeleteOutbox removes published events up to and including seq.
func (s *Store) DeleteOutbox(ctx context.Context, upto int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM outbox WHERE seq <= ?`, upto); err != nil {
		return fmt.Errorf("delete outbox up to %d: %w", upto, err)
	}
	return nil
}

// RedactProposals has redact rewrite each proposal of the bookings
// locators and stores, in one transaction, the rationale, decision reason
// and need of those it changed. It returns how many changed.
func (s *Store) RedactProposals(ctx context.Context, locators []string, redact func(*app.Proposal) bool) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	args := make([]any, len(locators))
	for i, l := range locators {
		args[i] = l
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+proposalCols+` FROM proposals WHERE locator IN (`+placeholders(len(locators))+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("proposals to redact: %w", err)
	}
	var changed []*app.Proposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("proposals to redact: %w", err)
		}
		if redact(p) {
			changed = append(changed, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("proposals to redact: %w", err)
	}
	for _, p := range changed {
		need, err := json.Marshal(p.Need)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE proposals SET rationale = ?, decision_reason = ?, need = ? WHERE id = ?`,
			p.Rationale, p.DecisionReason, string(need), p.ID); err != nil {
			return 0, fmt.Errorf("redact proposal %s: %w", p.ID, err)
		}
	}
	return len(changed), tx.Commit()
}
