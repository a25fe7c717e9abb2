package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// resumePoint tells, after a restart, which local entries Kafka already
// holds. A crash between Kafka's acknowledgement and the local one leaves
// entries that JetStream delivers again; the idempotent producer cannot
// recognise them, since a new run is a new producer. The bridge produces
// each key to one partition in local offset order, and the client never
// lets a record land after an earlier one of the same partition failed,
// so what a partition holds from this topic is a prefix: an entry is
// already there if its offset is at most the apron-offset of the last
// record of its partition.
type resumePoint struct {
	partitions int
	last       map[int32]uint64 // partition -> highest local offset it holds
	max        uint64
	hasher     kgo.TopicPartitioner
}

// covers reports whether Kafka already holds the entry at offset with key.
func (rp *resumePoint) covers(offset uint64, key []byte) bool {
	if rp == nil || offset > rp.max || len(key) == 0 || rp.partitions == 0 {
		return false
	}
	p := int32(rp.hasher.Partition(&kgo.Record{Key: key}, rp.partitions))
	return offset <= rp.last[p]
}

// readResumePoint reads the last record of every partition of remote.
// Errors: EUNAVAILABLE when the cluster does not answer.
func (br *Bridge) readResumePoint(ctx context.Context, topic, remote string) (*resumePoint, error) {
	rp := &resumePoint{last: map[int32]uint64{}, hasher: kgo.StickyKeyPartitioner(nil).ForTopic(remote)}
	adm := kadm.NewClient(br.producer)
	ends, err := adm.ListEndOffsets(ctx, remote)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return rp, nil // nothing written yet
	}
	if err != nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "list end offsets of %s: %v", remote, err)
	}
	starts, err := adm.ListStartOffsets(ctx, remote)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, app.Errorf(app.EUNAVAILABLE, "list start offsets of %s: %v", remote, err)
	}
	tails := map[int32]kgo.Offset{}
	lastOffset := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		rp.partitions++
		if s, ok := starts.Lookup(remote, o.Partition); ok && o.Offset > s.Offset {
			tails[o.Partition] = kgo.NewOffset().At(o.Offset - 1)
			lastOffset[o.Partition] = o.Offset - 1
		}
	})
	if len(tails) == 0 {
		return rp, nil
	}
	opts := append(append([]kgo.Opt(nil), br.baseOpts...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{remote: tails}),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("resume reader: %w", err)
	}
	defer cl.Close()
	for len(tails) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, app.Errorf(app.EUNAVAILABLE, "read the tail of %s: %v", remote, ctx.Err())
		}
		if err := fs.Err0(); err != nil && !errors.Is(err, context.Canceled) {
			return nil, app.Errorf(app.EUNAVAILABLE, "read the tail of %s: %v", remote, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := tails[r.Partition]; !ok || r.Offset < lastOffset[r.Partition] {
				return
			}
			delete(tails, r.Partition)
			origin, _ := recordHeader(r, HeaderOrigin)
			from, _ := recordHeader(r, HeaderOriginTopic)
			off, _ := recordHeader(r, HeaderOriginOffset)
			n, err := strconv.ParseUint(off, 10, 64)
			if origin != br.cfg.Site || from != topic || err != nil {
				// Someone else wrote last; nothing to learn here.
				br.Logger.Warn("last record of a partition is not this site's", "topic", remote, "partition", r.Partition)
				return
			}
			rp.last[r.Partition] = n
			rp.max = max(rp.max, n)
		})
	}
	return rp, nil
}
