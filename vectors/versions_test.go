package vectors_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

// randomChanges is a seeded mix of changes over a few keys of every kind:
// late events, repeated keys, erasures before and after the people's
// profiles and bookings, deleted documents.
func randomChanges(seed uint64, n int) map[string][]app.StateChange {
	r := rand.New(rand.NewPCG(seed, 1))
	out := map[string][]app.StateChange{}
	at := func() time.Time { return t0.Add(time.Duration(r.IntN(600)) * time.Second) }
	for off := uint64(1); off <= uint64(n); off++ {
		v := app.Version{EventID: fmt.Sprint("e", off), EventTime: at(), Offset: off}
		switch r.IntN(4) {
		case 0:
			ch := flightChange(off, v.EventTime, []string{"scheduled", "delayed", "cancelled"}[r.IntN(3)], fmt.Sprint("A", r.IntN(9)))
			ch.Key = fmt.Sprintf("LH%d-2026-11-25", 400+r.IntN(5))
			ch.Flight.Flight = ch.Key
			out["flights"] = append(out["flights"], ch)
		case 1:
			id := fmt.Sprint("P", r.IntN(6))
			if r.IntN(5) == 0 {
				out["passengers"] = append(out["passengers"], app.StateChange{Type: app.TypePassengerErased, Key: id, Version: v, Passenger: &app.Passenger{ID: id}})
			} else {
				out["passengers"] = append(out["passengers"], app.StateChange{Type: app.TypePassengerUpserted, Key: id, Version: v,
					Passenger: &app.Passenger{ID: id, Name: fmt.Sprint("Name ", id, " ", off), Tier: "gold"}})
			}
		case 2:
			loc := fmt.Sprint("BK", r.IntN(5))
			b := &app.Booking{Locator: loc, Status: "active", Segments: []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "Y", Seat: fmt.Sprint(r.IntN(30), "C")}},
				Passengers: []app.BookingPassenger{{ID: fmt.Sprint("P", r.IntN(6)), Name: fmt.Sprint("Pax ", off)}}}
			out["bookings"] = append(out["bookings"], app.StateChange{Type: app.TypeBookingChanged, Key: loc, Version: v, Booking: b})
		default:
			id := fmt.Sprint("doc-", r.IntN(4))
			typ := app.TypeDocumentUpserted
			if r.IntN(4) == 0 {
				typ = app.TypeDocumentDeleted
			}
			out["documents"] = append(out["documents"], app.StateChange{Type: typ, Key: id, Version: v,
				Document: &app.Document{ID: id, Title: fmt.Sprint("Title ", off), Airport: "FRA"}})
		}
	}
	return out
}

// TestBatchedVersionsMatchOneByOne applies the same changes in large
// batches, where the stored versions are read once per batch, and one at
// a time, where each change reads its row: the states must be equal.
func TestBatchedVersionsMatchOneByOne(t *testing.T) {
	ctx := context.Background()
	for seed := uint64(1); seed <= 5; seed++ {
		batched, single := MustOpenStore(t), MustOpenStore(t)
		byTopic := randomChanges(seed, 1200)
		// Passengers first in half the seeds: erasures must scrub bookings
		// whichever topic is applied first.
		order := []string{"flights", "bookings", "passengers", "documents"}
		if seed%2 == 0 {
			order = []string{"passengers", "documents", "flights", "bookings"}
		}
		for _, topic := range order {
			chs := byTopic[topic]
			for i := 0; i < len(chs); i += 100 {
				part := chs[i:min(i+100, len(chs))]
				if err := batched.ApplyState(ctx, "state", topic, part, part[len(part)-1].Version.Offset, t0); err != nil {
					t.Fatal(err)
				}
			}
			for _, ch := range chs {
				if err := single.ApplyState(ctx, "state", topic, []app.StateChange{ch}, ch.Version.Offset, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
		a, err := batched.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := single.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for table := range b {
			if a[table] != b[table] {
				t.Errorf("seed %d: %s differs: batched %s, one by one %s", seed, table, a[table], b[table])
			}
		}
		if strings.HasPrefix(a["passenger_erasures"], "0:") || strings.HasPrefix(a["flights"], "0:") || strings.HasPrefix(a["documents"], "0:") {
			t.Fatalf("seed %d: the changes stored nothing: %v", seed, a)
		}
	}
}
