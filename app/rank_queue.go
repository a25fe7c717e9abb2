package app

import (
	"sync"
	"time"
)

// rankQueue holds the proposals waiting for the model, most urgent first:
// the one whose first option departs soonest, and any proposal a person
// has opened ahead of all of them.
type rankQueue struct {
	mu     sync.Mutex
	due    map[string]time.Time // proposal id -> first option's departure (zero: opened, rank now)
	notify chan struct{}
	max    int
}

func newRankQueue(max int) *rankQueue {
	return &rankQueue{due: map[string]time.Time{}, notify: make(chan struct{}, 1), max: max}
}

// push queues id; false when the queue is full. An id already queued
// keeps the more urgent of its two times.
func (q *rankQueue) push(id string, due time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if cur, ok := q.due[id]; ok {
		if due.Before(cur) {
			q.due[id] = due
		}
	} else {
		if len(q.due) >= q.max {
			return false
		}
		q.due[id] = due
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// pop removes and returns the most urgent id, or "" when empty.
func (q *rankQueue) pop() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	best := ""
	for id, d := range q.due {
		if best == "" || d.Before(q.due[best]) || d.Equal(q.due[best]) && id < best {
			best = id
		}
	}
	if best != "" {
		delete(q.due, best)
	}
	if len(q.due) > 0 {
		select {
		case q.notify <- struct{}{}:
		default:
		}
	}
	return best
}

func (q *rankQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.due)
}
