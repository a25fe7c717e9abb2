package app

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Freshness is how far one consumer is behind one topic: the entries it
// has not applied yet, and the age of the oldest of them (now minus the
// time the log stored the entry right after the consumer's position).
// A consumer at the head is fresh whatever the time. Known is false when
// the age cannot be told (the entry after the position is gone and the
// position records no log time): such a consumer is never called fresh.
type Freshness struct {
	Consumer   string  `json:"consumer"`
	Topic      string  `json:"topic"`
	Offset     uint64  `json:"offset"`
	Head       uint64  `json:"head"`
	Behind     uint64  `json:"messages_behind"`
	AgeSeconds float64 `json:"seconds_behind"`
	Known      bool    `json:"known"`
	Lagging    bool    `json:"lagging"` // beyond the configured bound, or unknown while behind
}

// Age returns the freshness age as a duration.
func (f Freshness) Age() time.Duration { return time.Duration(f.AgeSeconds * float64(time.Second)) }

// FreshnessOf is the definition. next is the log time of the first entry
// after p's position (zero when it cannot be read); p.LogTime, the time of
// the entry at the position, bounds the age from above when next is
// unknown, since every later entry was stored after it.
func FreshnessOf(p ConsumerPosition, t TopicInfo, next time.Time, now time.Time, bound time.Duration) Freshness {
	f := Freshness{Consumer: p.Consumer, Topic: p.Topic, Offset: p.Offset, Head: t.LastOffset, Known: true}
	if t.LastOffset <= p.Offset {
		return f
	}
	f.Behind = t.LastOffset - p.Offset
	switch {
	case !next.IsZero():
		f.AgeSeconds = max(0, now.Sub(next).Seconds())
	case !p.LogTime.IsZero():
		f.AgeSeconds = max(0, now.Sub(p.LogTime).Seconds())
	default:
		f.Known = false
	}
	f.Lagging = !f.Known || bound > 0 && f.Age() > bound
	return f
}

// FreshnessLog is what measuring freshness reads from the log.
type FreshnessLog interface {
	Topic(ctx context.Context, topic string) (TopicInfo, error)
	// EntryTime returns when the log stored the first entry at or after
	// offset; ENOTFOUND when there is none.
	EntryTime(ctx context.Context, topic string, offset uint64) (time.Time, error)
}

// PositionReader lists the stored consumer positions.
type PositionReader interface {
	Positions(ctx context.Context) ([]ConsumerPosition, error)
}

// FreshnessMeter measures every consumer's freshness by one definition,
// for answers, the console's status line, the topics API and metrics.
type FreshnessMeter struct {
	Log       FreshnessLog
	Positions PositionReader
	// Bound is the age beyond which a consumer lags; answers that draw on
	// a lagging consumer warn. Default 30 s.
	Bound time.Duration
	// Now is the wall clock the log's times are compared with (never a
	// simulated clock: log times are real).
	Now func() time.Time
}

func (m *FreshnessMeter) bound() time.Duration {
	if m.Bound == 0 {
		return 30 * time.Second
	}
	return m.Bound
}

func (m *FreshnessMeter) now() time.Time {
	if m.Now == nil {
		return time.Now()
	}
	return m.Now()
}

// All returns the freshness of every stored position.
func (m *FreshnessMeter) All(ctx context.Context) ([]Freshness, error) {
	pos, err := m.Positions.Positions(ctx)
	if err != nil {
		return nil, fmt.Errorf("read positions: %w", err)
	}
	heads := map[string]TopicInfo{}
	out := make([]Freshness, 0, len(pos))
	for _, p := range pos {
		t, ok := heads[p.Topic]
		if !ok {
			if t, err = m.Log.Topic(ctx, p.Topic); err != nil {
				return nil, fmt.Errorf("read topic %s: %w", p.Topic, err)
			}
			heads[p.Topic] = t
		}
		var next time.Time
		if t.LastOffset > p.Offset {
			next, err = m.Log.EntryTime(ctx, p.Topic, p.Offset+1)
			if err != nil && ErrorCode(err) != ENOTFOUND {
				return nil, fmt.Errorf("read %s@%d: %w", p.Topic, p.Offset+1, err)
			}
		}
		out = append(out, FreshnessOf(p, t, next, m.now(), m.bound()))
	}
	return out, nil
}

// Of returns the freshness of consumer on each of topics; a topic the
// consumer has no position on yet counts from offset 0.
func (m *FreshnessMeter) Of(ctx context.Context, consumer string, topics ...string) ([]Freshness, error) {
	all, err := m.All(ctx)
	if err != nil {
		return nil, err
	}
	var out []Freshness
	for _, topic := range topics {
		i := slices.IndexFunc(all, func(f Freshness) bool { return f.Consumer == consumer && f.Topic == topic })
		if i >= 0 {
			out = append(out, all[i])
			continue
		}
		t, err := m.Log.Topic(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("read topic %s: %w", topic, err)
		}
		var next time.Time
		if t.LastOffset > 0 {
			if next, err = m.Log.EntryTime(ctx, topic, 1); err != nil && ErrorCode(err) != ENOTFOUND {
				return nil, fmt.Errorf("read %s@1: %w", topic, err)
			}
		}
		out = append(out, FreshnessOf(ConsumerPosition{Consumer: consumer, Topic: topic}, t, next, m.now(), m.bound()))
	}
	return out, nil
}

// Stamp says in words how fresh the data behind an answer is: "as of
// flights@1234, bookings@99: current" or, when lagging, which topic is how
// far behind.
func Stamp(fs []Freshness) (string, bool) {
	if len(fs) == 0 {
		return "", false
	}
	s := "as of"
	lagging := false
	var worst Freshness
	for i, f := range fs {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprintf(" %s %s@%d", f.Consumer, f.Topic, f.Offset)
		if f.Lagging {
			lagging = true
		}
		if f.Behind > 0 && (!f.Known || f.Age() > worst.Age() || worst.Behind == 0) {
			worst = f
		}
	}
	switch {
	case worst.Behind == 0:
		s += ": up to date with the log"
	case !worst.Known:
		s += fmt.Sprintf(": %s is %d entries behind on %s, age unknown", worst.Consumer, worst.Behind, worst.Topic)
	default:
		s += fmt.Sprintf(": %s is %d entries (%s) behind on %s", worst.Consumer, worst.Behind, worst.Age().Round(time.Second), worst.Topic)
	}
	if lagging {
		s += "; recent changes may be missing"
	}
	return s, lagging
}
