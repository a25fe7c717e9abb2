package vectors_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

// MustOpenStore opens a state store on a real SQLite file in a temp dir.
func MustOpenStore(tb testing.TB) *vectors.Store {
	tb.Helper()
	s := vectors.NewStore(filepath.Join(tb.TempDir(), "state.db"))
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func flightChange(off uint64, at time.Time, status, gate string) app.StateChange {
	f := &app.Flight{Flight: "LH400-2026-11-25", Carrier: "LH", Number: "400", Date: "2026-11-25", Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: t0.Add(2 * time.Hour), ScheduledArrival: t0.Add(10 * time.Hour), Status: status, Gate: gate}
	return app.StateChange{Type: app.TypeFlightStatus, Key: f.Flight, Version: app.Version{EventID: "f", EventTime: at, Offset: off}, LogTime: at, Flight: f}
}

func TestLateEventsDoNotOverwriteNewerState(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	// Offset 1 at 08:10 says delayed; offset 2 arrives later in the log but
	// was issued at 08:05 (late): the state keeps "delayed".
	if err := s.ApplyState(ctx, "state", "flights", []app.StateChange{flightChange(1, t0.Add(10*time.Minute), "delayed", "A1")}, 1, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyState(ctx, "state", "flights", []app.StateChange{flightChange(2, t0.Add(5*time.Minute), "scheduled", "B2")}, 2, t0); err != nil {
		t.Fatal(err)
	}
	f, err := s.Flight(ctx, "LH400-2026-11-25")
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != "delayed" || f.Gate != "A1" || f.Version.Offset != 1 {
		t.Fatalf("late event overwrote state: %+v", f)
	}
	if pos, _ := s.Position(ctx, "state", "flights"); pos != 2 {
		t.Fatalf("position %d, want 2 (the late event was consumed)", pos)
	}
	// Same event time, later offset: the later one wins.
	if err := s.ApplyState(ctx, "state", "flights", []app.StateChange{flightChange(3, t0.Add(10*time.Minute), "cancelled", "A1")}, 3, t0); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Flight(ctx, "LH400-2026-11-25"); f.Status != "cancelled" {
		t.Fatalf("tie not broken by offset: %+v", f)
	}
	// A redelivered batch (offset not beyond the position) changes nothing.
	if err := s.ApplyState(ctx, "state", "flights", []app.StateChange{flightChange(2, t0.Add(time.Hour), "arrived", "Z9")}, 2, t0); err != nil {
		t.Fatal(err)
	}
	if f, _ := s.Flight(ctx, "LH400-2026-11-25"); f.Status != "cancelled" {
		t.Fatalf("redelivery applied twice: %+v", f)
	}
	if _, err := s.Flight(ctx, "XX1-2026-11-25"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("missing flight: %v", err)
	}
}

func TestErasureRemovesPersonAndScrubsBookings(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	p := &app.Passenger{ID: "P1", Name: "Ada Lovelace", Tier: "gold", SSR: []string{"WCHR"}}
	b := &app.Booking{Locator: "ABC123", Status: "active", Passengers: []app.BookingPassenger{{ID: "P1", Name: "Ada Lovelace", Tier: "gold"}, {ID: "P2", Name: "Alan Turing"}},
		Segments: []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "J", Seat: "2A"}}}
	v := func(off uint64, at time.Time) app.Version {
		return app.Version{EventID: "x", EventTime: at, Offset: off}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.ApplyState(ctx, "state", "passengers", []app.StateChange{{Type: app.TypePassengerUpserted, Key: "P1", Version: v(1, t0), Passenger: p}}, 1, t0))
	must(s.ApplyState(ctx, "state", "bookings", []app.StateChange{{Type: app.TypeBookingCreated, Key: "ABC123", Version: v(1, t0), Booking: b}}, 1, t0))
	if got, _ := s.FindPassengers(ctx, "ada", 10); len(got) != 1 {
		t.Fatalf("lookup by name: %+v", got)
	}
	must(s.ApplyState(ctx, "state", "passengers", []app.StateChange{{Type: app.TypePassengerErased, Key: "P1", Version: v(2, t0.Add(time.Minute)), Passenger: &app.Passenger{ID: "P1"}}}, 2, t0))
	if _, err := s.Passenger(ctx, "P1"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("erased passenger still there: %v", err)
	}
	bk, err := s.Booking(ctx, "ABC123")
	must(err)
	if bk.Passengers[0].Name != vectors.ErasedName || bk.Passengers[1].Name != "Alan Turing" {
		t.Fatalf("booking not scrubbed: %+v", bk.Passengers)
	}
	// A late, older upsert does not bring the person back.
	must(s.ApplyState(ctx, "state", "passengers", []app.StateChange{{Type: app.TypePassengerUpserted, Key: "P1", Version: v(3, t0.Add(-time.Minute)), Passenger: p}}, 3, t0))
	if _, err := s.Passenger(ctx, "P1"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatal("late upsert resurrected an erased passenger")
	}
	// A booking change after the erasure stays scrubbed.
	must(s.ApplyState(ctx, "state", "bookings", []app.StateChange{{Type: app.TypeBookingChanged, Key: "ABC123", Version: v(2, t0.Add(2*time.Minute)), Booking: b}}, 2, t0))
	bk, _ = s.Booking(ctx, "ABC123")
	if bk.Passengers[0].Name != vectors.ErasedName {
		t.Fatalf("erased name came back with a booking change: %+v", bk.Passengers)
	}
	var n int
	must(s.DB().QueryRow(`SELECT COUNT(*) FROM bookings WHERE data LIKE '%Lovelace%'`).Scan(&n))
	if n != 0 {
		t.Fatal("erased name still stored")
	}
}

func TestCancelledBookingFreesSeats(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	b := &app.Booking{Locator: "XYZ789", Status: "active", Passengers: []app.BookingPassenger{{ID: "P1", Name: "A B"}}, Segments: []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "Y"}}}
	if err := s.ApplyState(ctx, "state", "bookings", []app.StateChange{{Type: app.TypeBookingCreated, Key: b.Locator, Version: app.Version{EventTime: t0, Offset: 1}, Booking: b}}, 1, t0); err != nil {
		t.Fatal(err)
	}
	load, _ := s.FlightLoad(ctx, []string{"LH400-2026-11-25"})
	if load["LH400-2026-11-25"] != 1 {
		t.Fatalf("load %v", load)
	}
	c := *b
	c.Status = app.BookingCancelled
	if err := s.ApplyState(ctx, "state", "bookings", []app.StateChange{{Type: app.TypeBookingCancelled, Key: b.Locator, Version: app.Version{EventTime: t0.Add(time.Minute), Offset: 2}, Booking: &c}}, 2, t0); err != nil {
		t.Fatal(err)
	}
	load, _ = s.FlightLoad(ctx, []string{"LH400-2026-11-25"})
	if load["LH400-2026-11-25"] != 0 {
		t.Fatalf("cancelled booking still holds seats: %v", load)
	}
	got, _ := s.Booking(ctx, "XYZ789")
	if got.Status != "cancelled" {
		t.Fatalf("status %q", got.Status)
	}
}

func TestMigrationsAreRecordedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	for i := 0; i < 2; i++ {
		s := vectors.NewStore(path)
		if err := s.Open(); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n < 1 {
			t.Fatalf("migrations: %d %v", n, err)
		}
		var mode string
		_ = s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		if !strings.EqualFold(mode, "wal") {
			t.Fatalf("journal mode %q", mode)
		}
		var vecVersion string
		if err := s.DB().QueryRow(`SELECT vec_version()`).Scan(&vecVersion); err != nil {
			t.Fatalf("sqlite-vec not registered: %v", err)
		}
		_ = s.Close(context.Background())
	}
}

// TestErasureWinsOverAFutureDatedProfile: a profile dated far ahead must
// not make the person unerasable; after the erasure, upserts dated before
// it are ignored and a later one applies.
func TestErasureWinsOverAFutureDatedProfile(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	p := &app.Passenger{ID: "P1", Name: "Ada Lovelace"}
	apply := func(off uint64, typ string, at time.Time, p *app.Passenger) {
		t.Helper()
		ch := app.StateChange{Type: typ, Key: "P1", Version: app.Version{EventID: "x", EventTime: at, Offset: off}, Passenger: p}
		if err := s.ApplyState(ctx, "state", "passengers", []app.StateChange{ch}, off, t0); err != nil {
			t.Fatal(err)
		}
	}
	apply(1, app.TypePassengerUpserted, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), p)
	apply(2, app.TypePassengerErased, t0, &app.Passenger{ID: "P1"})
	if _, err := s.Passenger(ctx, "P1"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("erasure did not apply over a future-dated profile: %v", err)
	}
	apply(3, app.TypePassengerUpserted, t0.Add(-time.Hour), p)
	if _, err := s.Passenger(ctx, "P1"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatal("an upsert from before the erasure brought the person back")
	}
	apply(4, app.TypePassengerUpserted, t0.Add(time.Hour), &app.Passenger{ID: "P1", Name: "Ada King"})
	if got, err := s.Passenger(ctx, "P1"); err != nil || got.Name != "Ada King" {
		t.Fatalf("an upsert after the erasure: %+v %v", got, err)
	}
}
