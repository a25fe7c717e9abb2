package vectors_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

// TestSupersededFlightsAreNotDecodedAndChangeNothing applies seeded
// mixes of flight entries (repeated keys, late and equal event times,
// entries without the log's headers) in batches, where the materialiser
// leaves out the entries a newer one of the batch replaces, and one by
// one, where it leaves out nothing; the states must be equal, and the
// batches must have left entries out.
func TestSupersededFlightsAreNotDecodedAndChangeNothing(t *testing.T) {
	ctx := context.Background()
	trusted := func(app.LogEntry) bool { return true }
	for seed := uint64(1); seed <= 4; seed++ {
		entries := flightMix(t, seed, 1500)
		batchedStore, singleStore := MustOpenStore(t), MustOpenStore(t)
		heard := 0
		batched := &app.Materializer{Store: batchedStore, Trusted: trusted,
			Listener: app.StateListenerFunc(func(_ string, _ uint64, chs []app.StateChange) { heard += len(chs) })}
		single := &app.Materializer{Store: singleStore, Trusted: trusted}
		for i := 0; i < len(entries); i += 200 {
			if err := batched.ApplyEntries(ctx, app.TopicFlights, entries[i:min(i+200, len(entries))]); err != nil {
				t.Fatal(err)
			}
		}
		for i := range entries {
			if err := single.ApplyEntries(ctx, app.TopicFlights, entries[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
		a, err := batchedStore.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := singleStore.Checksum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a["flights"] != b["flights"] {
			t.Errorf("seed %d: flights differ: batched %s, one by one %s", seed, a["flights"], b["flights"])
		}
		if heard >= len(entries)*3/4 {
			t.Errorf("seed %d: the batches decoded %d of %d entries; superseded ones should be left out", seed, heard, len(entries))
		}
	}
}

// flightMix makes n flight entries over 40 keys as the log stores them,
// with event times that go back and repeat, and one entry in ten without
// the event-time header.
func flightMix(t *testing.T, seed uint64, n int) []app.LogEntry {
	rng := rand.New(rand.NewPCG(seed, 99))
	base := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	out := make([]app.LogEntry, n)
	for i := range out {
		key := fmt.Sprintf("LH%d-2026-11-25", 100+rng.IntN(40))
		at := base.Add(time.Duration(rng.IntN(60)) * time.Minute) // many ties, many late
		f := app.Flight{Flight: key, Carrier: "LH", Number: key[2:5], Date: "2026-11-25", Origin: "FRA", Destination: "JFK",
			ScheduledDeparture: base.Add(3 * time.Hour), ScheduledArrival: base.Add(11 * time.Hour),
			Status: []string{"scheduled", "delayed", "boarding", "cancelled"}[rng.IntN(4)], Gate: fmt.Sprintf("A%d", i)}
		e, err := app.NewEvent(fmt.Sprintf("mix-%d-%d", seed, i), "apron/test", app.TypeFlightStatus, key, at, f)
		if err != nil {
			t.Fatal(err)
		}
		h := map[string][]string{app.LogHeaderEventType: {e.Type}, app.LogHeaderEventTime: {at.Format(time.RFC3339Nano)}}
		if rng.IntN(10) == 0 {
			delete(h, app.LogHeaderEventTime)
		}
		out[i] = app.LogEntry{Topic: app.TopicFlights, Offset: uint64(i + 1), Subject: app.LogSubject(app.TopicFlights, key), Key: key,
			Stored: base, Headers: h, Data: e.Raw}
	}
	return out
}
