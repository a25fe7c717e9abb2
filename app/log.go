package app

import "time"

// TopicInfo describes one topic of the log.
type TopicInfo struct {
	Name        string    `json:"name"`
	FirstOffset uint64    `json:"first_offset"`
	LastOffset  uint64    `json:"last_offset"`
	Messages    uint64    `json:"messages"`
	Bytes       uint64    `json:"bytes"`
	Keys        uint64    `json:"keys"`
	LastTime    time.Time `json:"last_time,omitzero"`
}

// ConsumerPosition is one consumer's position on one topic.
type ConsumerPosition struct {
	Consumer string    `json:"consumer"`
	Topic    string    `json:"topic"`
	Offset   uint64    `json:"offset"`
	LogTime  time.Time `json:"log_time,omitzero"` // when the entry at Offset was stored
}

// ConsumerLag is a position compared with the head of its topic.
type ConsumerLag struct {
	ConsumerPosition
	Behind        uint64  `json:"messages_behind"`
	SecondsBehind float64 `json:"seconds_behind"`
}

// Lag computes how far p is behind t at now.
func Lag(p ConsumerPosition, t TopicInfo, now time.Time) ConsumerLag {
	l := ConsumerLag{ConsumerPosition: p}
	if t.LastOffset > p.Offset {
		l.Behind = t.LastOffset - p.Offset
		if !p.LogTime.IsZero() {
			l.SecondsBehind = t.LastTime.Sub(p.LogTime).Seconds()
		} else if !t.LastTime.IsZero() {
			l.SecondsBehind = now.Sub(t.LastTime).Seconds()
		}
		if l.SecondsBehind < 0 {
			l.SecondsBehind = 0
		}
	}
	return l
}
