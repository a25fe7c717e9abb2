package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/broker"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkReader reads a topic of 20,000 events through Reader.Next, as
// the stages do, beside the baseline of one raw JetStream pull consumer
// fetching the same batches in the same process. "batch" takes up to 500
// entries a call (catching up); "tail" reads each event as it is appended
// (a stage keeping up with single-event ingest), so each Next waits.
// Both report CPU time per entry, which is what a reader takes from the
// ingest path on a two-core box.
func BenchmarkReader(b *testing.B) {
	const n = 20000
	log := MustOpenBroker(b, "")
	ctx := context.Background()
	evs := bench.FlightEvents(n, "rd")
	for i := 0; i < len(evs); i += 500 {
		if _, err := log.Append(ctx, app.TopicFlights, evs[i:min(i+500, len(evs))]); err != nil {
			b.Fatal(err)
		}
	}
	cpu := func(b *testing.B, read func() int) {
		b.Helper()
		start, c0 := time.Now(), bench.CPUTime()
		total := 0
		for b.Loop() {
			total += read()
		}
		if total == 0 {
			b.Fatal("read nothing")
		}
		b.ReportMetric(float64((bench.CPUTime()-c0).Microseconds())/float64(total), "cpu-µs/entry")
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(total), "µs/entry")
	}
	b.Run("batch/reader", func(b *testing.B) {
		cpu(b, func() int { return readThrough(b, log, n) })
	})
	b.Run("batch/raw-pull", func(b *testing.B) {
		cpu(b, func() int { return rawPull(b, log, n) })
	})
	b.Run("tail/reader", func(b *testing.B) {
		cpu(b, func() int { return tail(b, log, 200, true) })
	})
	b.Run("tail/append-only", func(b *testing.B) {
		cpu(b, func() int { return tail(b, log, 200, false) })
	})
}

func readThrough(b *testing.B, log *broker.Broker, n int) int {
	ctx := context.Background()
	r, err := log.NewReader(ctx, app.TopicFlights, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	got := 0
	for got < n {
		es, err := r.Next(ctx, 500, time.Second)
		if err != nil || len(es) == 0 {
			b.Fatalf("read %d of %d: %v", got, n, err)
		}
		got += len(es)
	}
	return got
}

func rawPull(b *testing.B, log *broker.Broker, n int) int {
	ctx := context.Background()
	cons, err := log.JetStream().CreateConsumer(ctx, app.TopicFlights, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, InactiveThreshold: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = log.JetStream().DeleteConsumer(ctx, app.TopicFlights, cons.CachedInfo().Name) }()
	got := 0
	for got < n {
		batch, err := cons.FetchNoWait(500)
		if err != nil {
			b.Fatal(err)
		}
		for m := range batch.Messages() {
			if _, err := m.Metadata(); err != nil {
				b.Fatal(err)
			}
			got++
		}
	}
	return got
}

// tail appends k events one at a time, each read (if read) by a reader
// waiting at the head before the next is appended; without read it is
// the baseline of the appends alone.
func tail(b *testing.B, log *broker.Broker, k int, read bool) int {
	ctx := context.Background()
	ti, err := log.Topic(ctx, app.TopicFlights)
	if err != nil {
		b.Fatal(err)
	}
	r, err := log.NewReader(ctx, app.TopicFlights, ti.LastOffset+1)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	evs := bench.FlightEvents(k, fmt.Sprintf("tail-%d", ti.LastOffset))
	for i := 0; i < k; i++ {
		if _, err := log.Append(ctx, app.TopicFlights, evs[i:i+1]); err != nil {
			b.Fatal(err)
		}
		if !read {
			continue
		}
		es, err := r.Next(ctx, 500, time.Second)
		if err != nil || len(es) != 1 {
			b.Fatalf("tail %d: %d entries, %v", i, len(es), err)
		}
	}
	return k
}
