package app

import (
	"testing"
	"time"
)

func TestVersionNewer(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		v, cur   Version
		expected bool
	}{
		{"later time wins", Version{EventTime: t0.Add(time.Second), Offset: 1}, Version{EventTime: t0, Offset: 9}, true},
		{"earlier time loses even at a later offset", Version{EventTime: t0, Offset: 10}, Version{EventTime: t0.Add(time.Second), Offset: 2}, false},
		{"equal time: later offset wins", Version{EventTime: t0, Offset: 5}, Version{EventTime: t0, Offset: 4}, true},
		{"same event again", Version{EventTime: t0, Offset: 4}, Version{EventTime: t0, Offset: 4}, false},
	}
	for _, tt := range tests {
		if got := tt.v.Newer(tt.cur); got != tt.expected {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}
