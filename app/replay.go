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
		err := resume(ctx, time.Second, func() (uint64, error) { return store.Position(ctx, ControlConsumer, TopicControl) },
			func() error { return cm.CatchUp(ctx, upto[TopicControl]) })
		if err != nil {
			return fmt.Errorf("replay control: %w", err)
		}
	}
	// Refused entries are dead-lettered by the live node, not here; the
	// count is not worth a line per batch.
	m := &Materializer{Log: noDeadLetters{log}, Store: store, Validator: DefaultValidator(), Trusted: trusted, Logger: slog.New(slog.DiscardHandler)}
	for _, topic := range StateTopics {
		err := resume(ctx, time.Second, func() (uint64, error) { return store.Position(ctx, StateConsumer, topic) },
			func() error { return replayTopic(ctx, log, m, store, topic, upto[topic]) })
		if err != nil {
			return err
		}
	}
	return nil
}

// resumeAttempts is how many failures in a row, with no entry applied in
// between, end a replay.
const resumeAttempts = 5

// resume runs step until it succeeds, pause apart. A step goes on from the position
// its store has applied, so one that failed part way resumes where it
// stopped: on a running cluster node a topic electing a new leader drops
// the reader's consumer ("no responders"), as the live stages see too.
// resumeAttempts failures in a row without progress return the last
// error.
func resume(ctx context.Context, pause time.Duration, position func() (uint64, error), step func() error) error {
	last, err := position()
	if err != nil {
		return err
	}
	failures := 0
	for {
		err := step()
		if err == nil {
			return nil
		}
		pos, perr := position()
		if perr != nil {
			return perr
		}
		if pos > last {
			last, failures = pos, 0
		}
		if failures++; failures >= resumeAttempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// replayTopic applies topic from the store's position up to end.
func replayTopic(ctx context.Context, log Log, m *Materializer, store StateStore, topic string, end uint64) error {
	pos, err := store.Position(ctx, StateConsumer, topic)
	if err != nil {
		return err
	}
	if pos >= end {
		return nil
	}
	r, err := log.NewReader(ctx, topic, pos+1)
	if err != nil {
		return err
	}
	defer r.Close()
	for pos < end {
		entries, err := r.Next(ctx, 1000, 2*time.Second)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
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
			return err
		}
		pos = entries[n-1].Offset
	}
	return nil
}

type noDeadLetters struct{ Log }

func (noDeadLetters) Append(ctx context.Context, topic string, events []*Event) ([]AppendResult, error) {
	return nil, nil
}
