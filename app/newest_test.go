package app

import (
	"testing"
	"time"
)

// TestNewestPerKey: of a batch, only the newest version of each key
// reaches the store, by event time first and log offset second, in the
// order of the batch; passengers keep every change.
func TestNewestPerKey(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	ch := func(key string, off uint64, minutes int) StateChange {
		return StateChange{Key: key, Version: Version{Offset: off, EventTime: t0.Add(time.Duration(minutes) * time.Minute)}}
	}
	batch := []StateChange{ch("A", 1, 5), ch("B", 2, 1), ch("A", 3, 2), ch("B", 4, 1), ch("C", 5, 0), ch("A", 6, 5)}
	got := NewestPerKey(TopicFlights, batch)
	want := []uint64{4, 5, 6} // B@4 (same time, later offset), C, A@6 (same time as A@1, later offset)
	if len(got) != len(want) {
		t.Fatalf("got %d changes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Version.Offset != w {
			t.Fatalf("change %d: offset %d, want %d", i, got[i].Version.Offset, w)
		}
	}
	late := []StateChange{ch("A", 1, 9), ch("A", 2, 3)} // a late event older than the one before it
	if got := NewestPerKey(TopicBookings, late); len(got) != 1 || got[0].Version.Offset != 1 {
		t.Fatalf("a late older event won: %+v", got)
	}
	if got := NewestPerKey(TopicPassengers, batch); len(got) != len(batch) {
		t.Fatalf("passengers collapsed: %+v", got)
	}
}
