package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// NodesBucket is the key-value bucket where each node of a cluster
// reports what it has applied, so that any node can show every node's
// lag.
const NodesBucket = "apron_nodes"

// A report older than nodeReportTTL is gone: its node is down or cut off.
const nodeReportTTL = 10 * time.Minute

func (b *Broker) nodesBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: NodesBucket, History: 1, TTL: nodeReportTTL,
		Storage: jetstream.MemoryStorage, Replicas: b.Config.Cluster.Replicas()}
}

// NodeReport is one node's last report and when the cluster stored it.
type NodeReport struct {
	Node   string
	Value  []byte
	Stored time.Time
}

// ReportNode stores this node's report (replacing its last one).
func (b *Broker) ReportNode(ctx context.Context, value []byte) error {
	kv, err := b.js.KeyValue(ctx, NodesBucket)
	if err != nil {
		return fmt.Errorf("node report bucket: %w", err)
	}
	if _, err := kv.Put(ctx, b.Config.Cluster.Node, value); err != nil {
		return fmt.Errorf("report node %s: %w", b.Config.Cluster.Node, err)
	}
	return nil
}

// NodeReports returns the last report of every node that reported within
// the bucket's TTL.
func (b *Broker) NodeReports(ctx context.Context) ([]NodeReport, error) {
	kv, err := b.js.KeyValue(ctx, NodesBucket)
	if err != nil {
		return nil, fmt.Errorf("node report bucket: %w", err)
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("node reports: %w", err)
	}
	out := make([]NodeReport, 0, len(keys))
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("node report %s: %w", k, err)
		}
		out = append(out, NodeReport{Node: k, Value: e.Value(), Stored: e.Created()})
	}
	return out, nil
}
