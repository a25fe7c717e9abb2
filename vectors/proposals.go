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
	"time"

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

// SaveProposals stores new pending proposals and queues their
// rebooking.proposed events in the outbox, in one transaction. A proposal
// identical to a pending one of the same booking is skipped; a different
// one supersedes it. It returns the proposals actually stored.
func (s *Store) SaveProposals(ctx context.Context, ps []*app.Proposal, events func(*app.Proposal) ([]*app.Event, error)) ([]*app.Proposal, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("save proposals: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var stored []*app.Proposal
	for _, p := range ps {
		fp := fingerprint(p)
		var n int
		// The same id is the same disruption planned again with the same
		// options (ids hold no planning time): a person's decision on it
		// stands; one the planner superseded or expired is offered again.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM proposals WHERE (id = ? AND status NOT IN ('superseded', 'expired')) OR (locator = ? AND status = 'pending' AND fingerprint = ?)`, p.ID, p.Locator, fp).Scan(&n); err != nil {
			return nil, fmt.Errorf("save proposals: %w", err)
		}
		if n > 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM proposals WHERE id = ?`, p.ID); err != nil {
			return nil, fmt.Errorf("save proposals: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'superseded', replaced_by = ? WHERE locator = ? AND status = 'pending'`, p.ID, p.Locator); err != nil {
			return nil, fmt.Errorf("save proposals: %w", err)
		}
		need, _ := json.Marshal(p.Need)
		opts, _ := json.Marshal(p.Options)
		cites, _ := json.Marshal(p.Citations)
		mr := 0
		if p.ModelRationale {
			mr = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO proposals (id, locator, flight, reason, rank, status, need, options, chosen, rationale, model_rationale, citations, model, model_digest, prompt_hash, log_offset, created_at, fingerprint, rules_version)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			p.ID, p.Locator, p.Flight, p.Reason, p.Rank, app.ProposalPending, string(need), string(opts), p.Chosen, p.Rationale, mr, string(cites),
			p.Model, p.ModelDigest, p.PromptHash, p.LogOffset, ts(p.CreatedAt), fp, p.RulesVersion); err != nil {
			return nil, fmt.Errorf("insert proposal: %w", err)
		}
		evs, err := events(p)
		if err != nil {
			return nil, fmt.Errorf("save proposals: %w", err)
		}
		if err := addOutbox(ctx, tx, evs); err != nil {
			return nil, fmt.Errorf("save proposals: %w", err)
		}
		stored = append(stored, p)
	}
	return stored, tx.Commit()
}

func addOutbox(ctx context.Context, tx *sql.Tx, evs []*app.Event) error {
	for _, e := range evs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (topic, event) VALUES (?, ?)`, e.Topic(), string(e.Raw)); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
	}
	return nil
}

const proposalCols = `id, locator, flight, reason, rank, status, need, options, chosen, rationale, model_rationale, citations, model, model_digest, prompt_hash, log_offset, created_at, decided_by, decided_at, decision_reason, replaced_by, rules_version, approved_option, approved_proposed`

type rowScanner interface{ Scan(...any) error }

func scanProposal(r rowScanner) (*app.Proposal, error) {
	var p app.Proposal
	var need, opts, cites, created, decided string
	var mr, proposed int
	if err := r.Scan(&p.ID, &p.Locator, &p.Flight, &p.Reason, &p.Rank, &p.Status, &need, &opts, &p.Chosen, &p.Rationale, &mr, &cites,
		&p.Model, &p.ModelDigest, &p.PromptHash, &p.LogOffset, &created, &p.DecidedBy, &decided, &p.DecisionReason, &p.ReplacedBy,
		&p.RulesVersion, &p.ApprovedOption, &proposed); err != nil {
		return nil, err
	}
	p.ModelRationale, p.Proposed = mr == 1, proposed == 1
	p.CreatedAt, p.DecidedAt = parseTS(created), parseTS(decided)
	_ = json.Unmarshal([]byte(need), &p.Need)
	_ = json.Unmarshal([]byte(opts), &p.Options)
	_ = json.Unmarshal([]byte(cites), &p.Citations)
	return &p, nil
}

// SaveRanking records the model's ranking of a pending proposal: with a
// valid model answer its choice, rationale and citations; in any case the
// model, digest and prompt hash that were tried. The event goes to the
// outbox only with a model rationale. ECONFLICT if no longer pending.
func (s *Store) SaveRanking(ctx context.Context, id string, r app.Ranking, event *app.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save ranking of %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	var res sql.Result
	if r.ModelRationale {
		cites, _ := json.Marshal(r.Citations)
		res, err = tx.ExecContext(ctx, `UPDATE proposals SET chosen = ?, rationale = ?, citations = ?, model_rationale = 1, model = ?, model_digest = ?, prompt_hash = ? WHERE id = ? AND status = 'pending'`,
			r.Choice, r.Rationale, string(cites), r.Model, r.Digest, r.PromptHash, id)
	} else {
		res, err = tx.ExecContext(ctx, `UPDATE proposals SET model = ?, model_digest = ?, prompt_hash = ? WHERE id = ? AND status = 'pending'`, r.Model, r.Digest, r.PromptHash, id)
	}
	if err != nil {
		return fmt.Errorf("save ranking of %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return app.Errorf(app.ECONFLICT, "proposal %s was decided before the model answered", id)
	}
	if r.ModelRationale && event != nil {
		if err := addOutbox(ctx, tx, []*app.Event{event}); err != nil {
			return fmt.Errorf("save ranking of %s: %w", id, err)
		}
	}
	return tx.Commit()
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

// Execute is the built-in booking engine (app.BookingEngine). In one write
// transaction it returns the recorded execution of a known idempotency
// key, or reads the proposal and its booking, lets decide decide with a
// seat count on the same transaction (so a seat is never sold twice), and
// applies the decided change: the proposal's outcome, the seat holds, the
// execution record and the outbox events. Returns ENOTFOUND for an
// unknown proposal and decide's error unchanged.
func (s *Store) Execute(ctx context.Context, req app.ExecutionRequest, decide app.ExecutionDecider) (*app.Execution, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var ex app.Execution
	var proposed int
	err = tx.QueryRowContext(ctx, `SELECT proposal_id, outcome, detail, option_id, proposed FROM executions WHERE idempotency_key = ?`, req.Key).
		Scan(&ex.ProposalID, &ex.Outcome, &ex.Detail, &ex.Option, &proposed)
	if err == nil {
		ex.Repeated, ex.Proposed = true, proposed == 1
		return &ex, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	in, err := executionInput(ctx, tx, req)
	if err != nil {
		return nil, err
	}
	ch, err := decide(ctx, in)
	if err != nil {
		return nil, err
	}
	if err := applyExecution(ctx, tx, in, ch); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit execution of %s: %w", req.ProposalID, err)
	}
	return &ch.Execution, nil
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

// applyExecution stores a decided execution.
func applyExecution(ctx context.Context, tx *sql.Tx, in app.ExecutionInput, ch *app.ExecutionChange) error {
	p, req, ex := in.Proposal, in.Request, ch.Execution
	for _, h := range ch.Holds {
		if _, err := tx.ExecContext(ctx, `INSERT INTO seat_holds (proposal_id, locator, flight_key, cabin, seats, event_time) VALUES (?,?,?,?,?,?)`,
			p.ID, p.Locator, h.Flight, h.Cabin, h.Seats, ts(h.EventTime)); err != nil {
			return fmt.Errorf("hold seats on %s: %w", h.Flight, err)
		}
	}
	proposed := 0
	if ex.Proposed {
		proposed = 1
	}
	if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = ?, decided_by = ?, decided_at = ?, decision_reason = ?, approved_option = ?, approved_proposed = ? WHERE id = ?`,
		ex.Outcome, req.Actor, ts(req.Now), ex.Detail, ex.Option, proposed, p.ID); err != nil {
		return fmt.Errorf("mark proposal %s %s: %w", p.ID, ex.Outcome, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO executions (idempotency_key, proposal_id, outcome, detail, created_at, option_id, proposed) VALUES (?,?,?,?,?,?,?)`,
		req.Key, p.ID, ex.Outcome, ex.Detail, ts(req.Now), ex.Option, proposed); err != nil {
		return fmt.Errorf("record execution of %s: %w", p.ID, err)
	}
	return addOutbox(ctx, tx, ch.Events)
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

// Reject is the built-in booking engine's rejection: in one transaction
// it reads the proposal, lets decide decide, records the person's
// rejection and queues decide's event. Returns ENOTFOUND for an unknown
// proposal and decide's error unchanged.
func (s *Store) Reject(ctx context.Context, req app.RejectionRequest, decide app.RejectionDecider) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	p, err := txProposal(ctx, tx, req.ProposalID)
	if err != nil {
		return err
	}
	e, err := decide(p, req)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'rejected', decided_by = ?, decided_at = ?, decision_reason = ? WHERE id = ?`,
		req.Actor, ts(req.Now), req.Reason, p.ID); err != nil {
		return fmt.Errorf("mark proposal %s rejected: %w", p.ID, err)
	}
	if err := addOutbox(ctx, tx, []*app.Event{e}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit rejection of %s: %w", p.ID, err)
	}
	return nil
}

// ExpireProposal marks a pending proposal expired with the reason, the
// time and the proposer as the decider, and queues its event, in one
// transaction. ECONFLICT if it is no longer pending.
func (s *Store) ExpireProposal(ctx context.Context, id, reason string, at time.Time, event *app.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("expire proposal %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback() }()
	res, err := tx.ExecContext(ctx, `UPDATE proposals SET status = 'expired', decided_by = 'apron/proposer', decided_at = ?, decision_reason = ? WHERE id = ? AND status = 'pending'`,
		ts(at), reason, id)
	if err != nil {
		return fmt.Errorf("expire proposal %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return app.Errorf(app.ECONFLICT, "proposal %s is no longer pending", id)
	}
	if event != nil {
		if err := addOutbox(ctx, tx, []*app.Event{event}); err != nil {
			return fmt.Errorf("expire proposal %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit expiry of %s: %w", id, err)
	}
	return nil
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
