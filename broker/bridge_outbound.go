package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// outboundAckWait is how long JetStream waits for an acknowledgement
// before it redelivers; the bridge extends it while Kafka is slow or down.
const outboundAckWait = time.Minute

// outboundOpenWait bounds one attempt to open the outbound consumer. A
// request to a replicated consumer whose leader has just died goes
// unanswered rather than waiting for the new leader, so a long wait only
// delays the retry that finds it (a 30 s wait held outbound delivery that
// long after every failover).
const outboundOpenWait = 5 * time.Second

// outboundConsumer is the durable JetStream consumer of one forwarded topic.
type outboundConsumer struct{ cons jetstream.Consumer }

// backlog is the number of entries not yet acknowledged by Kafka.
func (c outboundConsumer) backlog(ctx context.Context) (uint64, error) {
	info, err := c.cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

func outboundConsumerName(topic string) string { return "bridge-out-" + topic }

// openOutboundConsumer returns the durable consumer of topic, creating it
// at the beginning of the topic the first time. A previous run may have
// left entries delivered but unacknowledged; JetStream would redeliver
// them after newer ones, so the consumer is recreated just past the
// acknowledged floor to keep the order.
func (br *Bridge) openOutboundConsumer(ctx context.Context, topic string) (jetstream.Consumer, error) {
	name := outboundConsumerName(topic)
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "apron bridge: " + topic + " to Kafka " + br.cfg.remote(topic),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       outboundAckWait,
		MaxAckPending: br.cfg.MaxInFlight,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	s, err := br.Broker.js.Stream(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	cons, err := s.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return s.CreateConsumer(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	// Reused only when nothing was delivered past the acknowledged floor:
	// a consumer whose leader was lost may hold a delivered pointer ahead
	// of a pending list that did not reach its new leader, and what lies
	// between would never be delivered again.
	info := cons.CachedInfo()
	if info.NumAckPending == 0 && info.Delivered.Stream == info.AckFloor.Stream && info.Config.MaxAckPending == cfg.MaxAckPending {
		return cons, nil
	}
	if err := s.DeleteConsumer(ctx, name); err != nil {
		return nil, fmt.Errorf("reset consumer %s: %w", name, err)
	}
	cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
	cfg.OptStartSeq = info.AckFloor.Stream + 1
	br.Logger.Info("outbound resumes after the acknowledged floor", "topic", topic, "offset", cfg.OptStartSeq)
	return s.CreateConsumer(ctx, cfg)
}

// outboundLoop forwards one local topic to Kafka in offset order. Each
// entry is acknowledged locally only after Kafka acknowledged it; until
// then it stays in the local log, which is the buffer while the link is
// down. A session that fails (the local log refused an acknowledgement)
// starts over from the acknowledged floor, as after a restart.
func (br *Bridge) outboundLoop(topic string) {
	defer br.wg.Done()
	bo := app.NewBackoff(br.cfg.RetryMin, br.cfg.RetryMax)
	for {
		err := br.outboundSession(topic, bo)
		if br.ctx.Err() != nil {
			return
		}
		br.recordErr(fmt.Errorf("outbound %s: %w", topic, err))
		br.Logger.Warn("outbound restarts", "topic", topic, "err", err)
		if !br.sleep(bo.Next()) {
			return
		}
	}
}

// outboundSession opens the consumer, learns what Kafka already holds and
// forwards until the bridge closes or an error ends the session.
func (br *Bridge) outboundSession(topic string, bo *app.Backoff) error {
	ctx, cancel := context.WithTimeout(br.ctx, outboundOpenWait)
	cons, err := br.openOutboundConsumer(ctx, topic)
	cancel()
	if err != nil {
		return err
	}
	br.mu.Lock()
	br.outConsumers[topic] = outboundConsumer{cons: cons}
	br.mu.Unlock()
	var rp *resumePoint
	for rp == nil {
		ctx, cancel := context.WithTimeout(br.ctx, 15*time.Second)
		p, err := br.readResumePoint(ctx, topic, br.cfg.remote(topic))
		cancel()
		if err == nil {
			rp = p
			break
		}
		if br.ctx.Err() != nil {
			return br.ctx.Err()
		}
		br.recordErr(fmt.Errorf("outbound %s: %w", topic, err))
		if !br.sleep(bo.Next()) {
			return br.ctx.Err()
		}
	}
	if rp.max > 0 {
		br.Logger.Info("outbound resumes", "topic", topic, "kafka_holds_up_to", rp.max)
	}
	bo.Reset()
	for br.ctx.Err() == nil {
		msgs, err := fetchMsgs(cons, br.cfg.MaxInFlight, time.Second)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		if len(msgs) == 0 {
			continue
		}
		if err := br.forward(topic, msgs, rp); err != nil {
			return err
		}
		if meta, err := msgs[len(msgs)-1].Metadata(); err == nil && rp != nil && meta.Sequence.Stream >= rp.max {
			rp = nil // past what a previous run may have left behind
		}
		bo.Reset()
	}
	return br.ctx.Err()
}

// fetchMsgs returns what is available at once, or waits up to wait for
// the first message.
func fetchMsgs(cons jetstream.Consumer, max int, wait time.Duration) ([]jetstream.Msg, error) {
	collect := func(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
		if err != nil {
			return nil, err
		}
		var out []jetstream.Msg
		for m := range batch.Messages() {
			out = append(out, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return out, err
		}
		return out, nil
	}
	out, err := collect(cons.FetchNoWait(max))
	if err != nil || len(out) > 0 {
		return out, err
	}
	out, err = collect(cons.Fetch(1, jetstream.FetchMaxWait(wait)))
	if err != nil || len(out) == 0 || max == 1 {
		return out, err
	}
	more, err := collect(cons.FetchNoWait(max - 1))
	return append(out, more...), err
}

// forward produces msgs to Kafka and acknowledges them locally. Records
// that fail are produced again (only those: the client fails every later
// record of a partition after a failed one, so the order per key holds)
// until Kafka takes them or the bridge closes.
func (br *Bridge) forward(topic string, msgs []jetstream.Msg, rp *resumePoint) error {
	remote := br.cfg.remote(topic)
	var recs []*kgo.Record
	var stored []time.Time
	var skipped uint64
	for _, m := range msgs {
		h := m.Headers()
		if h.Get(HeaderKafkaTopic) != "" {
			skipped++ // mirrored from Kafka: never sent back
			continue
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		rec := br.outboundRecord(topic, remote, m, meta)
		if rp.covers(meta.Sequence.Stream, rec.Key) {
			skipped++ // a previous run produced it but crashed before the local ack
			continue
		}
		recs = append(recs, rec)
		stored = append(stored, meta.Timestamp)
	}

	// Keep JetStream from redelivering while Kafka takes its time.
	stop := make(chan struct{})
	keepDone := make(chan struct{})
	go func() {
		defer close(keepDone)
		t := time.NewTicker(outboundAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	}()
	err := br.produceAll(recs)
	close(stop)
	<-keepDone
	if err != nil {
		return err
	}

	ackCtx, cancel := context.WithTimeout(context.WithoutCancel(br.ctx), 10*time.Second)
	defer cancel()
	for _, m := range msgs[:len(msgs)-1] {
		if err := m.Ack(); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	// One confirmed ack: the server has handled the ones before it. If it
	// is lost, the session starts over from the acknowledged floor and
	// skips what Kafka holds, rather than wait for a redelivery out of
	// order.
	if err := msgs[len(msgs)-1].DoubleAck(ackCtx); err != nil {
		return fmt.Errorf("ack: %w", err)
	}

	now := br.Now()
	br.mu.Lock()
	c := br.outbound[topic]
	c.skipped += skipped
	for i, r := range recs {
		c.records++
		c.bytes += uint64(len(r.Value))
		c.lastRecord = stored[i]
	}
	if len(stored) > 0 {
		c.latency = max(0, now.Sub(stored[len(stored)-1]))
	}
	br.mu.Unlock()
	return nil
}

// produceAll produces recs, retrying failed records with backoff; it
// fails only when the bridge closes.
func (br *Bridge) produceAll(recs []*kgo.Record) error {
	bo := app.NewBackoff(br.cfg.RetryMin, br.cfg.RetryMax)
	for len(recs) > 0 {
		results := br.producer.ProduceSync(br.ctx, recs...)
		var failed []*kgo.Record
		var firstErr error
		for _, r := range results {
			if r.Err != nil {
				failed = append(failed, r.Record)
				if firstErr == nil {
					firstErr = r.Err
				}
			}
		}
		if firstErr == nil {
			br.setConnected()
			return nil
		}
		if br.ctx.Err() != nil {
			return br.ctx.Err()
		}
		br.recordErr(fmt.Errorf("produce to %s: %w", recs[0].Topic, firstErr))
		br.Logger.Warn("produce", "topic", recs[0].Topic, "failed", len(failed), "err", firstErr)
		// ProduceSync reports in completion order; retry in offset order.
		retry := make([]*kgo.Record, 0, len(failed))
		isFailed := make(map[*kgo.Record]bool, len(failed))
		for _, r := range failed {
			isFailed[r] = true
		}
		for _, r := range recs {
			if isFailed[r] {
				retry = append(retry, freshRecord(r))
			}
		}
		recs = retry
		if !br.sleep(bo.Next()) {
			return br.ctx.Err()
		}
	}
	return nil
}

// freshRecord copies what the bridge set on r, leaving out what the client
// filled in during the failed attempt.
func freshRecord(r *kgo.Record) *kgo.Record {
	return &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
}

// outboundRecord turns one local entry into a Kafka record: the key is the
// entity key, the value the CloudEvent JSON as stored, and headers carry
// the main attributes and where it came from.
func (br *Bridge) outboundRecord(topic, remote string, m jetstream.Msg, meta *jetstream.MsgMetadata) *kgo.Record {
	key := keyOf(topic, m.Subject())
	headers := []kgo.RecordHeader{{Key: "content-type", Value: []byte(bridgeContentType)}}
	if e, err := app.ParseTrusted(m.Data()); err == nil {
		headers = append(headers,
			kgo.RecordHeader{Key: "ce_id", Value: []byte(e.ID)},
			kgo.RecordHeader{Key: "ce_type", Value: []byte(e.Type)},
			kgo.RecordHeader{Key: "ce_source", Value: []byte(e.Source)},
			kgo.RecordHeader{Key: "ce_subject", Value: []byte(e.Subject)},
		)
	}
	headers = append(headers,
		kgo.RecordHeader{Key: HeaderOrigin, Value: []byte(br.cfg.Site)},
		kgo.RecordHeader{Key: HeaderOriginTopic, Value: []byte(topic)},
		kgo.RecordHeader{Key: HeaderOriginOffset, Value: []byte(strconv.FormatUint(meta.Sequence.Stream, 10))},
	)
	return &kgo.Record{Topic: remote, Key: []byte(key), Value: m.Data(), Headers: headers, Timestamp: meta.Timestamp}
}
