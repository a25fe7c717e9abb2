package broker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apron-edge/apron/app"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// inboundLoop mirrors polled Kafka records into the local log and commits
// their offsets once the log has acknowledged them. A record appended but
// not committed (crash, rebalance) comes again and is stored once, because
// its JetStream message id is derived from its source and id
// (app.UniqueID), the same rule as for every other way into the log: an
// event central sends that the site already has is stored once too.
func (br *Bridge) inboundLoop() {
	defer br.wg.Done()
	bo := app.NewBackoff(br.cfg.RetryMin, br.cfg.RetryMax)
	for {
		fetches := br.consumer.PollRecords(br.ctx, br.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || br.ctx.Err() != nil {
			br.consumer.AllowRebalance()
			return
		}
		var pollErr error
		fetches.EachError(func(topic string, partition int32, err error) {
			switch {
			case errors.Is(err, context.Canceled):
			case topic == "":
				pollErr = fmt.Errorf("poll: %w", err)
			default:
				pollErr = fmt.Errorf("poll %s[%d]: %w", topic, partition, err)
			}
		})
		recs := fetches.Records()
		if len(recs) > 0 {
			if err := br.mirrorInbound(recs); err != nil {
				br.consumer.AllowRebalance()
				return // closing: not committed, so they come again
			}
			// Committed even when the bridge is closing (the records are in
			// the local log): a close must not leave them to come again.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(br.ctx), 10*time.Second)
			if err := br.consumer.CommitRecords(ctx, recs...); err != nil {
				// Harmless: a later commit covers these offsets, and a
				// redelivery before it is de-duplicated locally.
				br.recordErr(fmt.Errorf("commit offsets: %w", err))
				br.Logger.Warn("commit offsets", "err", err)
			}
			cancel()
		}
		br.consumer.AllowRebalance()
		if pollErr != nil {
			br.recordErr(pollErr)
			br.Logger.Warn("poll", "err", pollErr)
			if !br.sleep(bo.Next()) {
				return
			}
			continue
		}
		bo.Reset()
	}
}

// mirrorInbound appends one polled batch: valid events to their local
// topics, refused records to the deadletter topic. It returns only when
// everything is durable, or with an error when the bridge closes.
func (br *Bridge) mirrorInbound(recs []*kgo.Record) error {
	type group struct {
		msgs  []Message
		recs  []*kgo.Record
		bytes uint64
	}
	byLocal := map[string]*group{}
	var order []string
	var dead []Message
	var deadRecs []*kgo.Record
	for _, rec := range recs {
		c := br.inbound[rec.Topic]
		if c == nil {
			continue
		}
		origin, _ := recordHeader(rec, HeaderOrigin)
		if origin == br.cfg.Site || rec.Value == nil {
			// This site's own record come back, or a tombstone: deletes
			// travel as events (passenger.erased, document.deleted), so a
			// tombstone is compaction housekeeping, not an event.
			br.mu.Lock()
			c.skipped++
			br.mu.Unlock()
			continue
		}
		raw, binary, err := cloudEventOf(rec)
		var e *app.Event
		if limit := br.maxEventBytes(); err == nil && len(raw) > limit {
			err = &app.ValidationError{Fields: []app.FieldError{{Field: "(event)", Reason: fmt.Sprintf("%d bytes, more than the %d allowed", len(raw), limit)}}}
		}
		if err == nil {
			e, err = br.Validator.Parse(raw, c.local)
		}
		if err != nil {
			m, derr := br.deadLetter(rec, c.local, err)
			if derr != nil {
				return derr
			}
			dead = append(dead, m)
			deadRecs = append(deadRecs, rec)
			continue
		}
		m := MessageOf(e)
		m.Headers = provenanceHeaders(rec, binary)
		g := byLocal[c.local]
		if g == nil {
			g = &group{}
			byLocal[c.local] = g
			order = append(order, c.local)
		}
		g.msgs = append(g.msgs, m)
		g.recs = append(g.recs, rec)
		g.bytes += uint64(len(rec.Value))
	}
	for _, local := range order {
		g := byLocal[local]
		if err := br.appendRetry(local, g.msgs); err != nil {
			return err
		}
		br.countInbound(g.recs, false)
	}
	if len(dead) > 0 {
		if err := br.appendRetry(app.TopicDeadLetter, dead); err != nil {
			return err
		}
		br.countInbound(deadRecs, true)
		br.Logger.Warn("kafka records refused", "count", len(dead), "topic", deadRecs[0].Topic)
	}
	return nil
}

func (br *Bridge) countInbound(recs []*kgo.Record, dead bool) {
	now := br.Now()
	br.mu.Lock()
	defer br.mu.Unlock()
	for _, rec := range recs {
		c := br.inbound[rec.Topic]
		if dead {
			c.deadLetters++
			continue
		}
		c.records++
		c.bytes += uint64(len(rec.Value))
		c.lastRecord = rec.Timestamp
		c.latency = max(0, now.Sub(rec.Timestamp))
	}
}

// appendRetry appends msgs until the log acknowledges them all, retrying
// with backoff; a retry re-sends the same message ids, so what the first
// attempt stored is stored once.
func (br *Bridge) appendRetry(topic string, msgs []Message) error {
	bo := app.NewBackoff(br.cfg.RetryMin, br.cfg.RetryMax)
	for {
		_, err := br.Broker.AppendMessages(br.ctx, topic, msgs)
		if err == nil {
			return nil
		}
		if br.ctx.Err() != nil {
			return br.ctx.Err()
		}
		err = fmt.Errorf("append to %s: %w", topic, err)
		br.recordErr(err)
		br.Logger.Warn("local append", "err", err)
		if !br.sleep(bo.Next()) {
			return br.ctx.Err()
		}
	}
}

// maxInboundEvent keeps a mirrored event, with its headers, under the log's
// 8 MiB message limit; a larger record would block its partition forever.
const maxInboundEvent = 7 << 20

func (br *Bridge) maxEventBytes() int {
	if n := br.cfg.MaxEventBytes; n > 0 && n < maxInboundEvent {
		return n
	}
	return maxInboundEvent
}

// maxDeadLetterPayload bounds the copy of a refused record in its dead letter.
const maxDeadLetterPayload = 64 << 10

// cloudEventOf returns the record as a structured-mode CloudEvent. A record
// in binary mode (attributes in ce_ headers, data in the value) is
// converted; binary reports that it was.
func cloudEventOf(rec *kgo.Record) (raw []byte, binary bool, err error) {
	attrs := map[string]any{}
	var contentType string
	spec := false
	for _, h := range rec.Headers {
		k := strings.ToLower(h.Key)
		switch {
		case k == "content-type":
			contentType = string(h.Value)
		case strings.HasPrefix(k, "ce_") && len(k) > 3:
			attrs[k[3:]] = string(h.Value)
			spec = spec || k == "ce_specversion"
		}
	}
	if !spec || strings.HasPrefix(contentType, "application/cloudevents") {
		return rec.Value, false, nil
	}
	if contentType != "" {
		attrs["datacontenttype"] = contentType
	}
	if len(rec.Value) > 0 {
		if json.Valid(rec.Value) {
			attrs["data"] = json.RawMessage(rec.Value)
		} else {
			attrs["data"] = string(rec.Value)
		}
	}
	raw, err = json.Marshal(attrs)
	if err != nil {
		return nil, true, &app.ValidationError{Fields: []app.FieldError{{Field: "(event)", Reason: "binary mode: " + err.Error()}}}
	}
	return raw, true, nil
}

// provenanceHeaders are the local headers of a mirrored record: where it
// came from, its key and every Kafka header.
func provenanceHeaders(rec *kgo.Record, binary bool) map[string][]string {
	h := map[string][]string{
		HeaderKafkaTopic:     {rec.Topic},
		HeaderKafkaPartition: {strconv.FormatInt(int64(rec.Partition), 10)},
		HeaderKafkaOffset:    {strconv.FormatInt(rec.Offset, 10)},
		HeaderKafkaTimestamp: {rec.Timestamp.UTC().Format(time.RFC3339Nano)},
	}
	if rec.Key != nil {
		h[HeaderKafkaKey] = []string{headerValue(rec.Key)}
	}
	if binary {
		h[HeaderKafkaBinary] = []string{"true"}
	}
	for _, kh := range rec.Headers {
		name := HeaderKafkaHeaderPrefix + headerName(kh.Key)
		h[name] = append(h[name], headerValue(kh.Value))
	}
	return h
}

// headerName makes a Kafka header key a valid NATS header name.
func headerName(k string) string {
	b := []byte(k)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// headerValue keeps printable UTF-8 as it is and base64-encodes the rest
// with a "base64:" prefix, since NATS header values are text lines.
func headerValue(v []byte) string {
	printable := utf8.Valid(v) && !strings.HasPrefix(string(v), "base64:")
	for _, c := range v {
		if c < ' ' || c == 0x7f {
			printable = false
			break
		}
	}
	if printable {
		return string(v)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(v)
}

func recordHeader(rec *kgo.Record, key string) (string, bool) {
	for _, h := range rec.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value), true
		}
	}
	return "", false
}

// deadLetter wraps a refused record. Its id is derived from the record's
// coordinates, so refusing a redelivered record stores it once.
func (br *Bridge) deadLetter(rec *kgo.Record, local string, reason error) (Message, error) {
	d := app.DeadLetterData{
		Reason: reason.Error(),
		Origin: map[string]any{
			"kafka_topic": rec.Topic,
			"partition":   rec.Partition,
			"offset":      rec.Offset,
			"timestamp":   rec.Timestamp.UTC().Format(time.RFC3339Nano),
			"key":         headerValue(rec.Key),
			"topic":       local,
		},
		Payload: string(rec.Value),
	}
	if len(rec.Value) > maxDeadLetterPayload {
		d.Payload = string(rec.Value[:maxDeadLetterPayload])
		d.Origin["payload_truncated_from"] = len(rec.Value)
	}
	var ve *app.ValidationError
	if errors.As(reason, &ve) {
		d.Fields = ve.Fields
	}
	if len(rec.Headers) > 0 {
		d.Headers = map[string]string{}
		for _, h := range rec.Headers {
			d.Headers[h.Key] = headerValue(h.Value)
		}
	}
	key := strings.ReplaceAll(fmt.Sprintf("kafka-%s-%d-%d", rec.Topic, rec.Partition, rec.Offset), ".", "-")
	e, err := app.NewEvent("deadletter-"+key, bridgeEventSource, app.TypeDeadLetter, key, br.Now(), d)
	if err != nil {
		return Message{}, fmt.Errorf("dead letter: %w", err)
	}
	m := MessageOf(e)
	m.Headers = provenanceHeaders(rec, false)
	return m, nil
}

// inboundLag asks the cluster how far the group is behind, per Kafka
// topic; topics it cannot tell are left out.
func (br *Bridge) inboundLag(ctx context.Context) map[string]int64 {
	lags, err := kadm.NewClient(br.consumer).Lag(ctx, br.cfg.Group)
	if err != nil {
		return nil
	}
	l, ok := lags[br.cfg.Group]
	if !ok || l.Error() != nil {
		return nil
	}
	out := map[string]int64{}
	for topic, parts := range l.Lag {
		var sum int64
		for _, p := range parts {
			if p.Lag < 0 {
				sum = -1
				break
			}
			sum += p.Lag
		}
		if sum >= 0 {
			out[topic] = sum
		}
	}
	return out
}
