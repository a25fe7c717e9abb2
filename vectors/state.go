package vectors

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apron-edge/apron/app"
)

const tsLayout = time.RFC3339Nano

func ts(t time.Time) string { return t.UTC().Format(tsLayout) }

// ApplyState applies a batch of state changes and moves consumer's
// position on topic to upto, all in one transaction. A change only replaces
// state whose version is older (app.Version.Newer), so late events never
// overwrite newer state and a replay gives the same result.
func (s *Store) ApplyState(ctx context.Context, consumer, topic string, changes []app.StateChange, upto uint64, uptoTime time.Time) error {
	err := s.commitWithPosition(ctx, consumer, topic, upto, uptoTime, func(tx *txc, cur uint64) error {
		if err := tx.prefetchVersions(ctx, changes); err != nil {
			return err
		}
		for i := range changes {
			ch := &changes[i]
			if ch.Version.Offset <= cur {
				continue
			}
			if err := applyChange(ctx, tx, ch); err != nil {
				return fmt.Errorf("%s %s@%d: %w", ch.Type, ch.Key, ch.Version.Offset, err)
			}
		}
		return nil
	})
	if err == nil && hasErasure(changes) {
		s.checkpoint(ctx)
	}
	return err
}

func hasErasure(changes []app.StateChange) bool {
	for _, ch := range changes {
		if ch.Type == app.TypePassengerErased {
			return true
		}
	}
	return false
}

// BookingsNaming returns the locators of the bookings that list the
// passenger, cancelled ones included.
func (s *Store) BookingsNaming(ctx context.Context, passengerID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT locator FROM booking_passengers WHERE passenger_id = ?
		UNION SELECT locator FROM bookings WHERE status = 'cancelled' AND data LIKE ?`, passengerID, "%"+passengerID+"%")
	if err != nil {
		return nil, fmt.Errorf("bookings naming %s: %w", passengerID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var loc string
		if err := rows.Scan(&loc); err != nil {
			return nil, fmt.Errorf("bookings naming %s: %w", passengerID, err)
		}
		out = append(out, loc)
	}
	return out, rows.Err()
}

// ErasedPassengers returns those of ids whose erasure the state holds.
func (s *Store) ErasedPassengers(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM passenger_erasures WHERE id IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("erased passengers: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("erased passengers: %w", err)
			}
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("erased passengers: %w", err)
		}
	}
	return out, nil
}

// checkpoint moves the WAL into the database and truncates it, so that
// an erased person's rows do not linger in the WAL file; secure_delete
// has zeroed the pages they left. A reader holding a snapshot makes it
// partial; the next erasure or Close tries again.
func (s *Store) checkpoint(ctx context.Context) {
	var busy, logPages, done int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil {
		s.Logger.Warn("checkpoint after erasure", "err", err)
	} else if busy != 0 {
		s.Logger.Warn("checkpoint after erasure was partial", "wal_pages", logPages, "checkpointed", done)
	}
}

// Checkpoint is checkpoint for commands and tests.
func (s *Store) Checkpoint(ctx context.Context) { s.checkpoint(ctx) }

func currentVersion(ctx context.Context, tx *txc, q string, key string) (app.Version, bool, error) {
	var v app.Version
	var et string
	err := tx.QueryRowContext(ctx, q, key).Scan(&v.EventID, &et, &v.Offset)
	if errors.Is(err, sql.ErrNoRows) {
		return v, false, nil
	} else if err != nil {
		return v, false, fmt.Errorf("current version of %s: %w", key, err)
	}
	v.EventTime, err = time.Parse(tsLayout, et)
	return v, true, err
}

// applyChange stores one change unless the state holds a version as new
// (app.Version.Newer).
func applyChange(ctx context.Context, tx *txc, ch *app.StateChange) error {
	switch {
	case ch.Flight != nil:
		return applyFlight(ctx, tx, ch)
	case ch.Booking != nil:
		return applyBooking(ctx, tx, ch)
	case ch.Passenger != nil:
		return applyPassenger(ctx, tx, ch)
	case ch.Document != nil:
		return applyDocument(ctx, tx, ch)
	}
	return fmt.Errorf("change carries no entity")
}

func applyFlight(ctx context.Context, tx *txc, ch *app.StateChange) error {
	v := ch.Version
	cur, ok, err := tx.version(ctx, "flights", ch.Key)
	if err != nil || (ok && !v.Newer(cur)) {
		return err
	}
	f := ch.Flight
	data, _ := json.Marshal(f)
	_, err = tx.ExecContext(ctx, `INSERT INTO flights (key, carrier, number, date, origin, destination, scheduled_departure, departure, arrival, status, gate, data, event_id, event_time, log_offset, log_time)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (key) DO UPDATE SET carrier=excluded.carrier, number=excluded.number, date=excluded.date, origin=excluded.origin, destination=excluded.destination,
		scheduled_departure=excluded.scheduled_departure, departure=excluded.departure, arrival=excluded.arrival, status=excluded.status, gate=excluded.gate,
		data=excluded.data, event_id=excluded.event_id, event_time=excluded.event_time, log_offset=excluded.log_offset, log_time=excluded.log_time`,
		ch.Key, f.Carrier, f.Number, f.Date, f.Origin, f.Destination, ts(f.ScheduledDeparture), ts(f.Departure()), ts(f.Arrival()), f.Status, f.Gate,
		string(data), v.EventID, ts(v.EventTime), v.Offset, ts(ch.LogTime))
	if err != nil {
		return fmt.Errorf("upsert flight: %w", err)
	}
	tx.stored("flights", ch.Key, v)
	return nil
}

// applyBooking stores a booking with its segments and passengers; a
// cancelled one keeps neither.
func applyBooking(ctx context.Context, tx *txc, ch *app.StateChange) error {
	v := ch.Version
	cur, ok, err := tx.version(ctx, "bookings", ch.Key)
	if err != nil || (ok && !v.Newer(cur)) {
		return err
	}
	b := *ch.Booking
	if err := scrubErased(ctx, tx, &b); err != nil {
		return err
	}
	data, _ := json.Marshal(b)
	if _, err := tx.ExecContext(ctx, `INSERT INTO bookings (locator, status, data, event_id, event_time, log_offset, log_time) VALUES (?,?,?,?,?,?,?)
			ON CONFLICT (locator) DO UPDATE SET status=excluded.status, data=excluded.data, event_id=excluded.event_id, event_time=excluded.event_time, log_offset=excluded.log_offset, log_time=excluded.log_time`,
		ch.Key, b.Status, string(data), v.EventID, ts(v.EventTime), v.Offset, ts(ch.LogTime)); err != nil {
		return fmt.Errorf("upsert booking %s: %w", ch.Key, err)
	}
	tx.stored("bookings", ch.Key, v)
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_segments WHERE locator = ?`, ch.Key); err != nil {
		return fmt.Errorf("clear segments: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM booking_passengers WHERE locator = ?`, ch.Key); err != nil {
		return fmt.Errorf("clear passengers: %w", err)
	}
	if b.Status == app.BookingCancelled {
		// A cancelled booking holds no seats and links to nobody.
		return nil
	}
	for i, sg := range b.Segments {
		if _, err := tx.ExecContext(ctx, `INSERT INTO booking_segments (locator, idx, flight_key, cabin, seat) VALUES (?,?,?,?,?)`, ch.Key, i, sg.Flight, sg.Cabin, sg.Seat); err != nil {
			return fmt.Errorf("insert segment: %w", err)
		}
	}
	for _, p := range b.Passengers {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO booking_passengers (locator, passenger_id) VALUES (?,?)`, ch.Key, p.ID); err != nil {
			return fmt.Errorf("link passenger: %w", err)
		}
	}
	return nil

}

// applyPassenger stores a profile or an erasure. An erasure always
// applies, whatever the time of the profile it removes (a profile dated in
// the future must not make a person unerasable); a profile applies only if
// it is newer than both the stored profile and the latest erasure, so a
// late upsert from before the erasure never brings the person back. An
// erasure also blanks the person on their bookings.
func applyPassenger(ctx context.Context, tx *txc, ch *app.StateChange) error {
	v := ch.Version
	er, erased, err := tx.version(ctx, "passenger_erasures", ch.Key)
	if err != nil {
		return err
	}
	if ch.Type == app.TypePassengerErased {
		if erased && !v.Newer(er) {
			// Erase again, but remember the latest erasure.
			v = er
		}
		var name string
		if err := tx.QueryRowContext(ctx, `SELECT name FROM passengers WHERE id = ?`, ch.Key).Scan(&name); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("name of erased passenger %s: %w", ch.Key, err)
		}
		if err := eraseFromAskHistory(ctx, tx, ch.Key, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM passengers WHERE id = ?`, ch.Key); err != nil {
			return fmt.Errorf("delete passenger: %w", err)
		}
		tx.removed("passengers", ch.Key)
		if _, err := tx.ExecContext(ctx, `INSERT INTO passenger_erasures (id, event_id, event_time, log_offset) VALUES (?,?,?,?)
			ON CONFLICT (id) DO UPDATE SET event_id=excluded.event_id, event_time=excluded.event_time, log_offset=excluded.log_offset`,
			ch.Key, v.EventID, ts(v.EventTime), v.Offset); err != nil {
			return fmt.Errorf("record erasure of %s: %w", ch.Key, err)
		}
		tx.stored("passenger_erasures", ch.Key, v)
		return scrubBookingsOf(ctx, tx, ch.Key)
	}
	if erased && !v.Newer(er) {
		return nil
	}
	cur, ok, err := tx.version(ctx, "passengers", ch.Key)
	if err != nil || (ok && !v.Newer(cur)) {
		return err
	}
	p := ch.Passenger
	data, _ := json.Marshal(p)
	_, err = tx.ExecContext(ctx, `INSERT INTO passengers (id, name, tier, data, event_id, event_time, log_offset, log_time) VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET name=excluded.name, tier=excluded.tier, data=excluded.data, event_id=excluded.event_id, event_time=excluded.event_time, log_offset=excluded.log_offset, log_time=excluded.log_time`,
		ch.Key, p.Name, p.Tier, string(data), v.EventID, ts(v.EventTime), v.Offset, ts(ch.LogTime))
	if err != nil {
		return fmt.Errorf("upsert passenger: %w", err)
	}
	tx.stored("passengers", ch.Key, v)
	return nil
}

func applyDocument(ctx context.Context, tx *txc, ch *app.StateChange) error {
	v := ch.Version
	cur, ok, err := tx.version(ctx, "documents", ch.Key)
	if err != nil || (ok && !v.Newer(cur)) {
		return err
	}
	d := *ch.Document
	deleted := 0
	if ch.Type == app.TypeDocumentDeleted {
		// Keep only a tombstone so a late older upsert cannot revive it.
		d = app.Document{ID: d.ID}
		deleted = 1
	}
	data, _ := json.Marshal(d)
	_, err = tx.ExecContext(ctx, `INSERT INTO documents (id, title, airport, deleted, data, event_id, event_time, log_offset, log_time) VALUES (?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET title=excluded.title, airport=excluded.airport, deleted=excluded.deleted, data=excluded.data, event_id=excluded.event_id, event_time=excluded.event_time, log_offset=excluded.log_offset, log_time=excluded.log_time`,
		ch.Key, d.Title, d.Airport, deleted, string(data), v.EventID, ts(v.EventTime), v.Offset, ts(ch.LogTime))
	if err != nil {
		return fmt.Errorf("upsert document: %w", err)
	}
	tx.stored("documents", ch.Key, v)
	return nil
}

// ErasedName replaces the name of an erased person on bookings.
const ErasedName = "(erased)"

// scrubErased blanks the names of erased people on a booking about to be
// stored, whichever of the two topics was applied first.
func scrubErased(ctx context.Context, tx *txc, b *app.Booking) error {
	ps := make([]app.BookingPassenger, len(b.Passengers))
	copy(ps, b.Passengers)
	for i, p := range ps {
		_, erased, err := tx.version(ctx, "passenger_erasures", p.ID)
		if err != nil {
			return fmt.Errorf("scrub erased passengers of %s: %w", b.Locator, err)
		}
		if erased {
			ps[i] = app.BookingPassenger{ID: p.ID, Name: ErasedName}
		}
	}
	b.Passengers = ps
	return nil
}

func scrubBookingsOf(ctx context.Context, tx *txc, passengerID string) error {
	rows, err := tx.QueryContext(ctx, `SELECT locator, data FROM bookings WHERE locator IN (SELECT locator FROM booking_passengers WHERE passenger_id = ?)
		OR (status = 'cancelled' AND data LIKE ?)`, passengerID, "%"+passengerID+"%")
	if err != nil {
		return fmt.Errorf("scrub bookings of %s: %w", passengerID, err)
	}
	type upd struct{ loc, data string }
	var ups []upd
	for rows.Next() {
		var loc, data string
		if err := rows.Scan(&loc, &data); err != nil {
			rows.Close()
			return fmt.Errorf("scrub bookings of %s: %w", passengerID, err)
		}
		var b app.Booking
		if err := json.Unmarshal([]byte(data), &b); err != nil {
			rows.Close()
			return fmt.Errorf("scrub bookings of %s: %w", passengerID, err)
		}
		changed := false
		for i := range b.Passengers {
			if p := b.Passengers[i]; p.ID == passengerID && (p.Name != ErasedName || p.Tier != "" || len(p.SSR) > 0) {
				b.Passengers[i], changed = app.BookingPassenger{ID: p.ID, Name: ErasedName}, true
			}
		}
		if changed {
			nb, _ := json.Marshal(b)
			ups = append(ups, upd{loc, string(nb)})
		}
	}
	rows.Close()
	for _, u := range ups {
		if _, err := tx.ExecContext(ctx, `UPDATE bookings SET data = ? WHERE locator = ?`, u.data, u.loc); err != nil {
			return fmt.Errorf("scrub bookings of %s: %w", passengerID, err)
		}
	}
	return rows.Err()
}

func hashRows(ctx context.Context, db queryer, q string) (string, int, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return "", 0, fmt.Errorf("hash rows: %w", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	h := sha256.New()
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", 0, fmt.Errorf("hash rows: %w", err)
		}
		for _, v := range vals {
			fmt.Fprintf(h, "%v\x1f", v)
		}
		h.Write([]byte{'\x1e'})
		n++
	}
	return hex.EncodeToString(h.Sum(nil))[:16], n, rows.Err()
}

// txc prepares each statement once per transaction; a batch of hundreds of
// changes would otherwise compile the same SQL hundreds of times.
type txc struct {
	*sql.Tx
	stmts    map[string]*sql.Stmt
	versions map[string]map[string]app.Version // table -> key -> stored version, once prefetched
}

func newTxc(tx *sql.Tx) *txc { return &txc{Tx: tx, stmts: map[string]*sql.Stmt{}} }

func (t *txc) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.Tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.stmts[q] = st
	return st, nil
}

func (t *txc) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txc) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return t.Tx.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (t *txc) close() {
	for _, st := range t.stmts {
		_ = st.Close()
	}
}
