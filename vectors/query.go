package vectors

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

func scanVersion(id, et string, off uint64) app.Version {
	t, _ := time.Parse(tsLayout, et)
	return app.Version{EventID: id, EventTime: t, Offset: off}
}

// Flight returns the flight with key. Returns ENOTFOUND.
func (s *Store) Flight(ctx context.Context, key string) (*app.FlightRecord, error) {
	var data, id, et string
	var off uint64
	err := s.rdb.QueryRowContext(ctx, `SELECT data, event_id, event_time, log_offset FROM flights WHERE key = ?`, key).Scan(&data, &id, &et, &off)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "flight %q not found", key)
	} else if err != nil {
		return nil, fmt.Errorf("query flight: %w", err)
	}
	r := &app.FlightRecord{Version: scanVersion(id, et, off)}
	if err := json.Unmarshal([]byte(data), &r.Flight); err != nil {
		return nil, fmt.Errorf("load flight %s: %w", key, err)
	}
	return r, nil
}

// Flights returns flights matching f, ordered by departure.
func (s *Store) Flights(ctx context.Context, f app.FlightFilter) ([]*app.FlightRecord, error) {
	var where []string
	var args []any
	if f.Designator != "" {
		// Keys are designator + "-" + date: a range of the primary key.
		where = append(where, `key > ? AND key < ?`)
		args = append(args, f.Designator+"-", f.Designator+".")
	}
	if f.Airport != "" {
		where = append(where, `(origin = ? OR destination = ?)`)
		args = append(args, f.Airport, f.Airport)
	}
	if f.Date != "" {
		where = append(where, `date = ?`)
		args = append(args, f.Date)
	}
	if f.Status != "" {
		where = append(where, `status = ?`)
		args = append(args, f.Status)
	}
	if f.After != nil {
		where = append(where, `(departure, key) > (?, ?)`)
		args = append(args, f.After.Departure, f.After.Key)
	}
	q := `SELECT data, event_id, event_time, log_offset FROM flights`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY departure, key`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query flights: %w", err)
	}
	defer rows.Close()
	var out []*app.FlightRecord
	for rows.Next() {
		var data, id, et string
		var off uint64
		if err := rows.Scan(&data, &id, &et, &off); err != nil {
			return nil, fmt.Errorf("list flights: %w", err)
		}
		r := &app.FlightRecord{Version: scanVersion(id, et, off)}
		if err := json.Unmarshal([]byte(data), &r.Flight); err != nil {
			return nil, fmt.Errorf("list flights: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Booking returns the booking with locator. Returns ENOTFOUND.
func (s *Store) Booking(ctx context.Context, locator string) (*app.BookingRecord, error) {
	var data, id, et string
	var off uint64
	err := s.rdb.QueryRowContext(ctx, `SELECT data, event_id, event_time, log_offset FROM bookings WHERE locator = ?`, locator).Scan(&data, &id, &et, &off)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "booking %q not found", locator)
	} else if err != nil {
		return nil, fmt.Errorf("query booking: %w", err)
	}
	r := &app.BookingRecord{Version: scanVersion(id, et, off)}
	if err := json.Unmarshal([]byte(data), &r.Booking); err != nil {
		return nil, fmt.Errorf("load booking %s: %w", locator, err)
	}
	return r, nil
}

// BookingsOnFlight returns the active bookings with a segment on flight.
func (s *Store) BookingsOnFlight(ctx context.Context, flightKey string) ([]*app.BookingRecord, error) {
	return s.bookings(ctx, `SELECT b.data, b.event_id, b.event_time, b.log_offset FROM bookings b
		WHERE b.locator IN (SELECT locator FROM booking_segments WHERE flight_key = ?) ORDER BY b.locator`, flightKey)
}

// BookingsOfPassenger returns the active bookings that list passenger id.
func (s *Store) BookingsOfPassenger(ctx context.Context, id string) ([]*app.BookingRecord, error) {
	return s.bookings(ctx, `SELECT b.data, b.event_id, b.event_time, b.log_offset FROM bookings b
		WHERE b.locator IN (SELECT locator FROM booking_passengers WHERE passenger_id = ?) ORDER BY b.locator`, id)
}

func (s *Store) bookings(ctx context.Context, q string, args ...any) ([]*app.BookingRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query bookings: %w", err)
	}
	defer rows.Close()
	var out []*app.BookingRecord
	for rows.Next() {
		var data, id, et string
		var off uint64
		if err := rows.Scan(&data, &id, &et, &off); err != nil {
			return nil, fmt.Errorf("list bookings: %w", err)
		}
		r := &app.BookingRecord{Version: scanVersion(id, et, off)}
		if err := json.Unmarshal([]byte(data), &r.Booking); err != nil {
			return nil, fmt.Errorf("list bookings: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Passenger returns the passenger with id. Returns ENOTFOUND, also for an
// erased person.
func (s *Store) Passenger(ctx context.Context, id string) (*app.PassengerRecord, error) {
	var data, eid, et string
	var off uint64
	err := s.rdb.QueryRowContext(ctx, `SELECT data, event_id, event_time, log_offset FROM passengers WHERE id = ?`, id).Scan(&data, &eid, &et, &off)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "passenger %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("query passenger: %w", err)
	}
	r := &app.PassengerRecord{Version: scanVersion(eid, et, off)}
	if err := json.Unmarshal([]byte(data), &r.Passenger); err != nil {
		return nil, fmt.Errorf("load passenger %s: %w", id, err)
	}
	return r, nil
}

// FindPassengers looks people up by name prefix (case-insensitive) or id.
func (s *Store) FindPassengers(ctx context.Context, q string, limit int) ([]*app.PassengerRecord, error) {
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT data, event_id, event_time, log_offset FROM passengers
		WHERE id = ? OR name LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\' ORDER BY name LIMIT ?`,
		q, likeEscape(q)+"%", "% "+likeEscape(q)+"%", limit)
	if err != nil {
		return nil, fmt.Errorf("find passengers: %w", err)
	}
	defer rows.Close()
	var out []*app.PassengerRecord
	for rows.Next() {
		var data, eid, et string
		var off uint64
		if err := rows.Scan(&data, &eid, &et, &off); err != nil {
			return nil, fmt.Errorf("find passengers: %w", err)
		}
		r := &app.PassengerRecord{Version: scanVersion(eid, et, off)}
		if err := json.Unmarshal([]byte(data), &r.Passenger); err != nil {
			return nil, fmt.Errorf("find passengers: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// FindPassengersPage returns limit people from offset among those
// FindPassengers matches, in the same order, and how many match in all.
func (s *Store) FindPassengersPage(ctx context.Context, q string, offset, limit int) ([]*app.PassengerRecord, int, error) {
	where := `WHERE id = ? OR name LIKE ? ESCAPE '\' OR name LIKE ? ESCAPE '\'`
	args := []any{q, likeEscape(q) + "%", "% " + likeEscape(q) + "%"}
	var total int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM passengers `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count passengers: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT data, event_id, event_time, log_offset FROM passengers `+where+` ORDER BY name, id LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("find passengers: %w", err)
	}
	defer rows.Close()
	var out []*app.PassengerRecord
	for rows.Next() {
		var data, eid, et string
		var off uint64
		if err := rows.Scan(&data, &eid, &et, &off); err != nil {
			return nil, 0, fmt.Errorf("find passengers: %w", err)
		}
		r := &app.PassengerRecord{Version: scanVersion(eid, et, off)}
		if err := json.Unmarshal([]byte(data), &r.Passenger); err != nil {
			return nil, 0, fmt.Errorf("find passengers: %w", err)
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// FlightLoad counts the active passengers booked on each flight with a key
// in keys, so a board of many flights costs one query.
func (s *Store) FlightLoad(ctx context.Context, keys []string) (map[string]int, error) {
	out := make(map[string]int, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	for start := 0; start < len(keys); start += 500 {
		chunk := keys[start:min(start+500, len(keys))]
		args := make([]any, len(chunk))
		for i, k := range chunk {
			args[i] = k
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT s.flight_key, COUNT(*) FROM booking_segments s JOIN booking_passengers p ON p.locator = s.locator
			WHERE s.flight_key IN (`+placeholders(len(chunk))+`) GROUP BY s.flight_key`, args...)
		if err != nil {
			return nil, fmt.Errorf("flight load: %w", err)
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("flight load: %w", err)
			}
			out[k] = n
		}
		rows.Close()
	}
	return out, nil
}

// Document returns the document with id (ENOTFOUND if absent or deleted).
func (s *Store) Document(ctx context.Context, id string) (*app.DocumentRecord, error) {
	var data, eid, et string
	var off uint64
	err := s.rdb.QueryRowContext(ctx, `SELECT data, event_id, event_time, log_offset FROM documents WHERE id = ? AND deleted = 0`, id).Scan(&data, &eid, &et, &off)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, app.Errorf(app.ENOTFOUND, "document %q not found", id)
	} else if err != nil {
		return nil, fmt.Errorf("query document: %w", err)
	}
	r := &app.DocumentRecord{Version: scanVersion(eid, et, off)}
	if err := json.Unmarshal([]byte(data), &r.Document); err != nil {
		return nil, fmt.Errorf("load document %s: %w", id, err)
	}
	return r, nil
}

// Counts returns the number of rows per state table.
func (s *Store) Counts(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, t := range []string{"flights", "bookings", "passengers", "documents"} {
		var n int
		if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count state: %w", err)
		}
		out[t] = n
	}
	return out, nil
}

// Documents returns every current (not deleted) document.
func (s *Store) Documents(ctx context.Context) ([]*app.DocumentRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT data, event_id, event_time, log_offset FROM documents WHERE deleted = 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	defer rows.Close()
	var out []*app.DocumentRecord
	for rows.Next() {
		var data, eid, et string
		var off uint64
		if err := rows.Scan(&data, &eid, &et, &off); err != nil {
			return nil, fmt.Errorf("list documents: %w", err)
		}
		r := &app.DocumentRecord{Version: scanVersion(eid, et, off)}
		if err := json.Unmarshal([]byte(data), &r.Document); err != nil {
			return nil, fmt.Errorf("list documents: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
