package app

import (
	"testing"
	"time"
)

func TestFreshnessDefinition(t *testing.T) {
	now := time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC)
	head := TopicInfo{Name: "bookings", LastOffset: 500, LastTime: now.Add(-time.Second)}
	cases := []struct {
		name    string
		pos     ConsumerPosition
		next    time.Time
		behind  uint64
		age     time.Duration
		known   bool
		lagging bool
	}{
		{"at the head is fresh, however old the last entry", ConsumerPosition{Offset: 500, LogTime: now.Add(-time.Hour)}, time.Time{}, 0, 0, true, false},
		{"steady arrivals: the oldest unapplied entry sets the age", ConsumerPosition{Offset: 100, LogTime: now.Add(-5 * time.Minute)}, now.Add(-4 * time.Minute), 400, 4 * time.Minute, true, true},
		{"a few seconds behind is within the bound", ConsumerPosition{Offset: 498, LogTime: now.Add(-3 * time.Second)}, now.Add(-2 * time.Second), 2, 2 * time.Second, true, false},
		{"next entry gone: the position's own time bounds the age", ConsumerPosition{Offset: 100, LogTime: now.Add(-10 * time.Minute)}, time.Time{}, 400, 10 * time.Minute, true, true},
		{"a position without a log time and no next entry is unknown, never fresh", ConsumerPosition{Offset: 100}, time.Time{}, 400, 0, false, true},
		{"a position without a log time still measures from the next entry", ConsumerPosition{Offset: 0}, now.Add(-90 * time.Second), 500, 90 * time.Second, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.pos.Topic = "bookings"
			f := FreshnessOf(c.pos, head, c.next, now, 30*time.Second)
			if f.Behind != c.behind || f.Age() != c.age || f.Known != c.known || f.Lagging != c.lagging {
				t.Errorf("got behind %d age %s known %v lagging %v, want %d %s %v %v", f.Behind, f.Age(), f.Known, f.Lagging, c.behind, c.age, c.known, c.lagging)
			}
		})
	}
	// An idle log: the consumer applied everything an hour ago and
	// nothing came since: fresh.
	idle := TopicInfo{LastOffset: 10, LastTime: now.Add(-time.Hour)}
	if f := FreshnessOf(ConsumerPosition{Offset: 10}, idle, time.Time{}, now, time.Second); f.Lagging || f.Age() != 0 {
		t.Errorf("idle log: %+v", f)
	}
	s, lag := Stamp([]Freshness{FreshnessOf(ConsumerPosition{Consumer: "index", Topic: "bookings", Offset: 100}, head, now.Add(-4*time.Minute), now, 30*time.Second)})
	if !lag || s != "as of index bookings@100: index is 400 entries (4m0s) behind on bookings; recent changes may be missing" {
		t.Errorf("stamp %q lagging %v", s, lag)
	}
}
