package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go/jetstream"
)

// compactEvery is how often state topics are compacted.
const compactEvery = 10 * time.Minute

type compactEntry struct {
	seq       uint64
	eventTime time.Time
	stored    time.Time
}

// Compact removes from a state topic every event that is older than the
// history window and superseded: a later entry for the same key carries an
// event time at least as new. The entry that decides a key's state under
// the ordering rule (docs/decisions/0003) is never removed, so replaying
// the compacted topic gives the same state. It returns how many entries
// were removed.
func (b *Broker) Compact(ctx context.Context, topic string) (int, error) {
	if b.Config.HistoryWindow <= 0 {
		return 0, nil
	}
	cutoff := b.Now().Add(-b.Config.HistoryWindow)
	ti, err := b.Topic(ctx, topic)
	if err != nil || ti.Messages == 0 {
		return 0, err
	}
	cons, err := b.js.OrderedConsumer(ctx, topic, jetstream.OrderedConsumerConfig{HeadersOnly: true, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, fmt.Errorf("compact %s: %w", topic, err)
	}
	byKey := map[string][]compactEntry{}
	var last uint64
	for last < ti.LastOffset {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return 0, fmt.Errorf("compact %s: %w", topic, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return 0, err
			}
			last = meta.Sequence.Stream
			e := compactEntry{seq: last, stored: meta.Timestamp}
			if et := m.Headers().Get(HeaderEventTime); et != "" {
				e.eventTime, err = time.Parse(time.RFC3339Nano, et)
			}
			if e.eventTime.IsZero() || err != nil {
				// Published without apron's headers: read the event itself.
				if e.eventTime, err = b.eventTimeAt(ctx, topic, last); err != nil {
					continue // unreadable entries are the dead-letter path's business
				}
			}
			byKey[m.Subject()] = append(byKey[m.Subject()], e)
		}
		if n == 0 {
			break
		}
	}
	var doomed []uint64
	for _, es := range byKey {
		var newest time.Time // newest event time after the current entry
		for i := len(es) - 1; i >= 0; i-- {
			e := es[i]
			if i < len(es)-1 && e.stored.Before(cutoff) && !newest.Before(e.eventTime) {
				doomed = append(doomed, e.seq)
			}
			if e.eventTime.After(newest) {
				newest = e.eventTime
			}
		}
	}
	sort.Slice(doomed, func(i, j int) bool { return doomed[i] < doomed[j] })
	s, err := b.js.Stream(ctx, topic)
	if err != nil {
		return 0, err
	}
	if len(doomed) > 0 {
		b.forgetTail(topic)
	}
	for i, seq := range doomed {
		if err := s.DeleteMsg(ctx, seq); err != nil {
			return i, fmt.Errorf("compact %s@%d: %w", topic, seq, err)
		}
	}
	if len(doomed) > 0 {
		b.Logger.Info("compacted", "topic", topic, "removed", len(doomed), "keys", len(byKey))
	}
	return len(doomed), nil
}

func (b *Broker) eventTimeAt(ctx context.Context, topic string, seq uint64) (time.Time, error) {
	le, err := b.Get(ctx, topic, seq)
	if err != nil {
		return time.Time{}, err
	}
	var probe struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(le.Data, &probe); err != nil {
		return time.Time{}, err
	}
	return probe.Time, nil
}

// compactLoop compacts the state topics periodically on a single node.
func (b *Broker) compactLoop() {
	defer b.wg.Done()
	b.CompactLoop(b.ctx)
}

// CompactLoop compacts the state topics every compactEvery until ctx (or
// the log) ends. A single node runs it from Open; in a cluster, where a
// deletion is replicated to every node, only the holder of the singleton
// lease runs it, so that the topics are read and compacted once.
func (b *Broker) CompactLoop(ctx context.Context) {
	if b.Config.HistoryWindow <= 0 {
		return
	}
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.ctx.Done():
			return
		case <-t.C:
			for _, topic := range app.StateTopics {
				if _, err := b.Compact(ctx, topic); err != nil && ctx.Err() == nil && b.ctx.Err() == nil {
					b.Logger.Warn("compaction failed", "topic", topic, "err", err)
				}
			}
		}
	}
}
