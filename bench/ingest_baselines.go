package bench

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// The broker-only runs the node's ingest is compared with. Each opens its
// own broker in a fresh directory, warms it with a tenth of the events,
// then times the rest.

func openBenchBroker(dir string, c broker.Config) (*broker.Broker, error) {
	c.Dir = dir
	c.DuplicateWindow = time.Hour
	c.MaxBatch = 1000
	b := broker.New(c)
	b.Logger = slog.New(slog.DiscardHandler)
	if err := b.Open(); err != nil {
		return nil, fmt.Errorf("open bench broker: %w", err)
	}
	return b, nil
}

// warmAndTime publishes a warm-up set of events, then times publishing
// the measured set.
func warmAndTime(warm, timed []*app.Event, publish func([]*app.Event) error) (time.Duration, usage, error) {
	if err := publish(warm); err != nil {
		return 0, usage{}, fmt.Errorf("warm-up: %w", err)
	}
	start, u0 := time.Now(), used()
	if err := publish(timed); err != nil {
		return 0, usage{}, err
	}
	return time.Since(start), used().since(u0), nil
}

// benchPublishEachSync is baseline 1: one message at a time, fsync on every write.
func benchPublishEachSync(ctx context.Context, cfg IngestConfig, fl ingestFlags, tag string) (benchResult, error) {
	// Long enough to be more than one disk's moment: 5,000 fsyncs take
	// one to five seconds here, depending on the load.
	perMsg := min(max(fl.events/20, 200), 5000)
	b, err := openBenchBroker(filepath.Join(cfg.Dir, "sync-"+tag), broker.Config{Sync: broker.SyncAlways})
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = b.Close(ctx) }()
	d, cpu, err := warmAndTime(FlightEvents(perMsg/10, "sync-warm-"+tag), FlightEvents(perMsg, "sync-"+tag), func(evs []*app.Event) error {
		for _, e := range evs {
			if _, err := b.PublishOne(ctx, app.TopicFlights, broker.MessageOf(e)); err != nil {
				return fmt.Errorf("publish with fsync: %w", err)
			}
		}
		return nil
	})
	return benchResult{"jetstream publish, one at a time, fsync each", perMsg, d, "baseline", cpu}, err
}

// benchPublishAtomicBatch is the reference: JetStream's own atomic batch
// publish, fsync per batch.
func benchPublishAtomicBatch(ctx context.Context, cfg IngestConfig, fl ingestFlags, tag string) (benchResult, error) {
	b, err := openBenchBroker(filepath.Join(cfg.Dir, "atomic-"+tag), broker.Config{Sync: broker.SyncAlways})
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = b.Close(ctx) }()
	d, cpu, err := warmAndTime(FlightEvents(fl.events/10, "atomic-warm-"+tag), FlightEvents(fl.events, "atomic-"+tag), func(evs []*app.Event) error {
		for i := 0; i < len(evs); i += fl.batch {
			var msgs []*nats.Msg
			for _, e := range evs[i:min(i+fl.batch, len(evs))] {
				msgs = append(msgs, logMsg(e))
			}
			if _, err := jetstreamext.PublishMsgBatch(ctx, b.JetStream(), msgs); err != nil {
				return fmt.Errorf("atomic batch: %w", err)
			}
		}
		return nil
	})
	return benchResult{fmt.Sprintf("jetstream atomic batch %d/batch, fsync per batch", fl.batch), fl.events, d, "reference", cpu}, err
}

// benchPublishAsync is baseline 2: asynchronous publish, no fsync
// (background sync).
func benchPublishAsync(ctx context.Context, cfg IngestConfig, fl ingestFlags, tag string) (benchResult, error) {
	b, err := openBenchBroker(filepath.Join(cfg.Dir, "nosync-"+tag), broker.Config{Sync: broker.SyncInterval, SyncInterval: 2 * time.Minute})
	if err != nil {
		return benchResult{}, err
	}
	defer func() { _ = b.Close(ctx) }()
	js := b.JetStream()
	d, cpu, err := warmAndTime(FlightEvents(fl.events/10, "async-warm-"+tag), FlightEvents(fl.events, "async-"+tag), func(evs []*app.Event) error {
		for _, e := range evs {
			if _, err := js.PublishMsgAsync(logMsg(e)); err != nil {
				return fmt.Errorf("async publish: %w", err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
			return nil
		case <-time.After(cfg.Timeout):
			return fmt.Errorf("async publish did not complete in %s", cfg.Timeout)
		}
	})
	return benchResult{"jetstream async publish, no fsync", fl.events, d, "ceiling", cpu}, err
}

// logMsg is e as the node writes it to the log, deduplicated by id.
func logMsg(e *app.Event) *nats.Msg {
	m := nats.NewMsg(app.LogSubject(app.TopicFlights, e.Subject))
	m.Data = e.Raw
	m.Header.Set(jetstream.MsgIDHeader, e.ID)
	return m
}
