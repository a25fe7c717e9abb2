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
