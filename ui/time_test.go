package ui

import (
	"testing"
	"time"
)

func TestFlightTimesAbroadNameTheirZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Zone: berlin}
	at := time.Date(2026, 11, 26, 20, 14, 0, 0, time.UTC) // a Thursday
	for _, tc := range []struct {
		name string
		t    time.Time
		want string
	}{
		{"arrival in Athens", at.In(time.FixedZone("", 2*3600)), "Thu 22:14 UTC+2"},
		{"arrival in New York", at.In(time.FixedZone("", -5*3600)), "Thu 15:14 UTC-5"},
		{"arrival in Delhi", at.In(time.FixedZone("", 5*3600+1800)), "Fri 01:44 UTC+5:30"},
		{"arrival in London", at.In(time.FixedZone("", 0)), "Thu 20:14 UTC"},
		{"departure at the site, offset only", at.In(time.FixedZone("", 3600)), "Thu 21:14"},
		{"departure at the site, named zone", at.In(berlin), "Thu 21:14"},
		{"no time", time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.localAt(tc.t); got != tc.want {
				t.Fatalf("localAt(%s) = %q, want %q", tc.t, got, tc.want)
			}
		})
	}
	// Summer time at the site: Athens is UTC+3 then, an hour ahead still.
	summer := time.Date(2026, 7, 1, 19, 14, 0, 0, time.UTC).In(time.FixedZone("", 3*3600))
	if got := s.localAt(summer); got != "Wed 22:14 UTC+3" {
		t.Fatalf("summer: %q", got)
	}
	if got := s.localAt(summer.In(time.FixedZone("", 2*3600))); got != "Wed 21:14" {
		t.Fatalf("the site's summer offset is the site's: %q", got)
	}
}

func TestCountsAgreeWithTheirNouns(t *testing.T) {
	for _, tc := range []struct {
		n         int
		one, many string
		want      string
	}{
		{0, "flight", "flights", "0 flights"},
		{1, "flight", "flights", "1 flight"},
		{2, "flight", "flights", "2 flights"},
		{1, "person", "people", "1 person"},
		{155, "person", "people", "155 people"},
		{1, "event waits", "events wait", "1 event waits"},
	} {
		if got := plural(tc.n, tc.one, tc.many); got != tc.want {
			t.Errorf("plural(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
