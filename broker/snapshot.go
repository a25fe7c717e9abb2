package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Snapshots and restores go through JetStream's own API
// ($JS.API.STREAM.SNAPSHOT / RESTORE) on the in-process connection: a
// snapshot is the stream's messages with their sequence numbers, up to the
// last one when it began, read while the stream keeps taking appends
// (nats-server stream_backup.go), and its durable consumers' positions.

const snapshotChunk = 256 << 10

// SnapshotTopic writes the log's snapshot of topic to w while the node
// serves, and returns what the backup records of it.
func (b *Broker) SnapshotTopic(ctx context.Context, topic string, w io.Writer) (app.TopicSnapshot, error) {
	ts := app.TopicSnapshot{Topic: topic}
	inbox := b.nc.NewRespInbox()
	chunks := make(chan *nats.Msg, 64)
	sub, err := b.nc.ChanSubscribe(inbox, chunks)
	if err != nil {
		return ts, fmt.Errorf("snapshot %s: %w", topic, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	req, _ := json.Marshal(server.JSApiStreamSnapshotRequest{DeliverSubject: inbox, ChunkSize: snapshotChunk})
	var resp server.JSApiStreamSnapshotResponse
	if err := b.apiRequest(ctx, fmt.Sprintf(server.JSApiStreamSnapshotT, topic), req, &resp); err != nil {
		return ts, fmt.Errorf("snapshot %s: %w", topic, err)
	}
	if resp.Config == nil || resp.State == nil {
		return ts, fmt.Errorf("snapshot %s: the log answered without the stream's config and state", topic)
	}
	ts.Config, _ = json.Marshal(resp.Config)
	ts.State, _ = json.Marshal(resp.State)
	ts.FirstOffset, ts.LastOffset, ts.Messages = resp.State.FirstSeq, resp.State.LastSeq, resp.State.Msgs
	for {
		var m *nats.Msg
		select {
		case m = <-chunks:
		case <-ctx.Done():
			return ts, ctx.Err()
		case <-time.After(30 * time.Second):
			return ts, fmt.Errorf("snapshot %s: no chunk from the log for 30s", topic)
		}
		if len(m.Data) == 0 {
			if st := m.Header.Get("Status"); st != "" && st != "204" {
				return ts, fmt.Errorf("snapshot %s: the log stopped it: %s %s", topic, st, m.Header.Get("Description"))
			}
			return ts, nil
		}
		if _, err := w.Write(m.Data); err != nil {
			return ts, fmt.Errorf("snapshot %s: %w", topic, err)
		}
		// The acknowledgement is the flow control: the log sends the
		// next chunks once this one is written. The last chunk wants none.
		if m.Reply == "" {
			continue
		}
		if err := m.Respond(nil); err != nil {
			return ts, fmt.Errorf("snapshot %s: %w", topic, err)
		}
	}
}

// apiRequest sends a JetStream API request and decodes its answer into
// resp, returning the API's error if it gave one.
func (b *Broker) apiRequest(ctx context.Context, subject string, req []byte, resp any) error {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msg, err := b.nc.RequestWithContext(rctx, subject, req)
	if err != nil {
		return err
	}
	var e struct {
		Error *server.ApiError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &e); err != nil {
		return fmt.Errorf("answer of %s: %w", subject, err)
	}
	if e.Error != nil {
		return errors.New(e.Error.Description)
	}
	return json.Unmarshal(msg.Data, resp)
}

// RestoreLog creates the log in cfg.Dir from topic snapshots: it starts
// the server without a client port, restores every topic with its
// offsets, and stops. cfg.Dir must hold no topics yet; the seal key the
// backup carries must already be in it (entries stay trusted). open
// returns the snapshot file of a topic.
func RestoreLog(ctx context.Context, cfg Config, logger *slog.Logger, topics []app.TopicSnapshot, open func(app.TopicSnapshot) (io.ReadCloser, error)) error {
	cfg.ClientAddr = ""
	b := New(cfg)
	b.Logger = logger
	pass, err := b.prepare()
	if err != nil {
		return err
	}
	if err := b.start(pass); err != nil {
		return err
	}
	defer func() { _ = b.Close(context.Background()) }()
	for _, ts := range topics {
		r, err := open(ts)
		if err != nil {
			return err
		}
		err = b.restoreTopic(ctx, ts, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("restore topic %s: %w", ts.Topic, err)
		}
	}
	return nil
}

func (b *Broker) restoreTopic(ctx context.Context, ts app.TopicSnapshot, r io.Reader) error {
	var req server.JSApiStreamRestoreRequest
	if err := json.Unmarshal(ts.Config, &req.Config); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(ts.State, &req.State); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	body, _ := json.Marshal(req)
	var resp server.JSApiStreamRestoreResponse
	if err := b.apiRequest(ctx, fmt.Sprintf(server.JSApiStreamRestoreT, ts.Topic), body, &resp); err != nil {
		return err
	}
	buf := make([]byte, snapshotChunk)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			// Every chunk is acknowledged; a non-empty answer is an error.
			var ack server.JSApiStreamCreateResponse
			if err := b.chunkRequest(ctx, resp.DeliverSubject, buf[:n], &ack); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		} else if rerr != nil {
			return rerr
		}
	}
	// An empty message ends the transfer; the answer says how it went.
	var done server.JSApiStreamCreateResponse
	if err := b.chunkRequest(ctx, resp.DeliverSubject, nil, &done); err != nil {
		return err
	}
	if done.StreamInfo == nil {
		return fmt.Errorf("the log answered the restore without the topic's state")
	}
	if last := done.StreamInfo.State.LastSeq; last != ts.LastOffset {
		return fmt.Errorf("restored up to offset %d, the backup holds %d", last, ts.LastOffset)
	}
	return nil
}

func (b *Broker) chunkRequest(ctx context.Context, subject string, data []byte, resp *server.JSApiStreamCreateResponse) error {
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	msg, err := b.nc.RequestWithContext(rctx, subject, data)
	if err != nil {
		return err
	}
	if len(msg.Data) == 0 {
		return nil
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("restore answer: %w", err)
	}
	if resp.Error != nil {
		return errors.New(resp.Error.Description)
	}
	return nil
}
