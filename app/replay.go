package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Replay feeds the state topics of log into store from each consumer
// position up to upto[topic] (inclusive), the way the live materialiser
// does, but without producing dead letters; and the control topic too
// when upto names it and store keeps users and tokens. It is how a store
// is rebuilt from the log, and how a live store is proven equal to a
// rebuild.
func Replay(ctx context.Context, log Log, store StateStore, upto map[string]uint64, trusted func(LogEntry) bool) error {
	if cs, ok := store.(ControlStore); ok && upto[TopicControl] > 0 {
		cm := &ControlMaterializer{Log: noDeadLetters{log}, Store: cs, Trusted: trusted, Logger: slog.New(slog.DiscardHandler)}
		if err := cm.CatchUp(ctx, upto[TopicControl]); err != nil {
			return fmt.Errorf("replay control: %w", err)
		}
	}
	// Refused entries are dead-lettered by the live node, not here; the
	// count is not worth a line per batch.
	m := &Materializer{Log: noDeadLetters{log}, Store: store, Validator: DefaultValidator(), Trusted: trusted, Logger: slog.New(slog.DiscardHandler)}
	for _, topic := range StateTopics {
		end := upto[topic]
		pos, err := store.Position(ctx, StateConsumer, topic)
		if err != nil {
			return err
		}
		if pos >= end {
			continue
		}
		r, err := log.NewReader(ctx, topic, pos+1)
		if err != nil {
			return err
		}
		for pos < end {
			entries, err := r.Next(ctx, 1000, 2*time.Second)
			if err != nil {
				r.Close()
				return err
			}
			if len(entries) == 0 {
				r.Close()
				return fmt.Errorf("replay %s: log ended at %d before %d", topic, pos, end)
			}
			// Never go past the requested position.
			n := len(entries)
			for n > 0 && entries[n-1].Offset > end {
				n--
			}
			if n == 0 {
				break
			}
			if err := m.ApplyEntries(ctx, topic, entries[:n]); err != nil {
				r.Close()
				return err
			}
			pos = entries[n-1].Offset
		}
		r.Close()
	}
	return nil
}

type noDeadLetters struct{ Log }

func (noDeadLetters) Append(ctx context.Context, topic string, events []*Event) ([]AppendResult, error) {
	return nil, nil
}
