package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/ui"
)

// bridgeDuty runs the bridge to central Kafka as a singleton: a new
// Bridge for each time this node holds the lease (its positions live in
// the replicated log and in Kafka's consumer group, not in the node).
type bridgeDuty struct {
	m  *Main
	mu sync.Mutex
	br *broker.Bridge
}

func (d *bridgeDuty) Start() error {
	br := broker.NewBridge(d.m.Config.BridgeConfig(), d.m.Broker)
	br.Logger = d.m.Logger
	br.Validator = d.m.Config.Validator()
	if err := br.Open(); err != nil {
		return fmt.Errorf("open bridge: %w", err)
	}
	d.mu.Lock()
	d.br = br
	d.mu.Unlock()
	return nil
}

func (d *bridgeDuty) Stop(ctx context.Context) error {
	d.mu.Lock()
	br := d.br
	d.br = nil
	d.mu.Unlock()
	if br == nil {
		return nil
	}
	return br.Close(ctx)
}

func (d *bridgeDuty) current() *broker.Bridge {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.br
}

// compactionDuty compacts the state topics on the lease holder only: a
// deletion in a replicated topic reaches every node, so one node reads
// and compacts for the cluster.
type compactionDuty struct {
	b      *broker.Broker
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

func (d *compactionDuty) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	d.mu.Lock()
	d.cancel, d.done = cancel, done
	d.mu.Unlock()
	go func() {
		defer close(done)
		d.b.CompactLoop(ctx)
	}()
	return nil
}

func (d *compactionDuty) Stop(ctx context.Context) error {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel, d.done = nil, nil
	d.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop compaction: %w", ctx.Err())
	}
}

// openSingletons runs, in a cluster, the bridge, the outbox publisher and
// disruption planning on the one node that holds the lease; a single
// node runs them from their own Open steps as before.
func (m *Main) openSingletons(context.Context) error {
	if m.Config.Cluster.Name == "" {
		return nil
	}
	rctx, stopReports := context.WithCancel(context.Background())
	reported := make(chan struct{})
	go func() { defer close(reported); m.reportNode(rctx) }()
	m.push(func(ctx context.Context) error {
		stopReports()
		select {
		case <-reported:
		case <-ctx.Done():
		}
		return nil
	})
	m.Lease = broker.NewLease(m.Broker)
	m.Proposer.Epoch = m.Lease.Epoch
	duties := []app.NamedDuty{{Name: "proposer (planning, booking engine and outbox)", Duty: m.Proposer}, {Name: "compaction", Duty: &compactionDuty{b: m.Broker}}}
	if len(m.Config.Kafka.Brokers) > 0 {
		m.bridgeDuty = &bridgeDuty{m: m}
		duties = append(duties, app.NamedDuty{Name: "bridge", Duty: m.bridgeDuty})
	}
	m.Singletons = &app.Singletons{Lease: m.Lease, Duties: duties, Logger: m.Logger}
	if err := m.Singletons.Open(); err != nil {
		return err
	}
	m.push(m.Singletons.Close)
	return nil
}

// bridge returns the bridge running on this node, nil when it is off or
// runs on another node.
func (m *Main) bridge() *broker.Bridge {
	if m.bridgeDuty != nil {
		return m.bridgeDuty.current()
	}
	return m.Bridge
}

// clusterState reports the cluster for the console and the API.
func (m *Main) clusterState(ctx context.Context) ui.ClusterState {
	bs, err := m.Broker.ClusterStatus(ctx)
	cs := ui.ClusterState{Clustered: bs.Name != "", Name: bs.Name, Node: bs.Node, Replicas: bs.Replicas, Peers: bs.Peers}
	if err != nil {
		cs.Error = app.ErrorMessage(err)
	}
	for _, r := range bs.Routes {
		cs.Routes = append(cs.Routes, r.Name)
	}
	for _, t := range bs.Topics {
		ct := ui.ClusterTopic{Topic: t.Topic, Leader: t.Leader, LastOffset: t.LastSeq}
		for _, r := range t.Replicas {
			ct.Followers = append(ct.Followers, ui.ClusterReplica{Node: r.Node, Current: r.Current, Offline: r.Offline, Lag: r.Lag})
		}
		cs.Topics = append(cs.Topics, ct)
	}
	cs.StateLag = m.stateLag(ctx, bs.Topics, &cs)
	if cs.Clustered {
		cs.Nodes = m.nodesState(ctx, bs.Topics, cs.StateLag, &cs)
	}
	holder := bs.Node
	if m.Singletons != nil {
		h, err := m.Lease.Holder(ctx)
		if err != nil && cs.Error == "" {
			cs.Error = app.ErrorMessage(err)
		}
		holder = h
	}
	names := []string{"proposer (planning, booking engine and outbox)", "compaction"}
	if len(m.Config.Kafka.Brokers) > 0 {
		names = append(names, "bridge")
	}
	for _, n := range names {
		cs.Singletons = append(cs.Singletons, ui.ClusterDuty{Name: n, Holder: holder})
	}
	return cs
}

// stateLag compares this node's state positions with the topics' last
// offsets.
func (m *Main) stateLag(ctx context.Context, topics []broker.TopicReplica, cs *ui.ClusterState) []ui.ClusterStateLag {
	applied, err := m.appliedPositions(ctx)
	if err != nil {
		if cs.Error == "" {
			cs.Error = app.ErrorMessage(err)
		}
		return nil
	}
	return lagAgainst(topics, applied)
}

// appliedPositions is the state materialiser's position on each topic.
func (m *Main) appliedPositions(ctx context.Context) (map[string]uint64, error) {
	pos, err := m.Store.Positions(ctx)
	if err != nil {
		return nil, err
	}
	applied := map[string]uint64{}
	for _, p := range pos {
		if p.Consumer == app.StateConsumer {
			applied[p.Topic] = p.Offset
		}
	}
	return applied, nil
}

// nodeReport is what a node of a cluster reports of itself every
// nodeReportEvery.
type nodeReport struct {
	Applied map[string]uint64 `json:"applied"` // state position per topic
}

const nodeReportEvery = 5 * time.Second

// reportNode runs on every node of a cluster: it stores the node's state
// positions in the cluster's node bucket, so that every node shows every
// node's lag.
func (m *Main) reportNode(ctx context.Context) {
	t := time.NewTicker(nodeReportEvery)
	defer t.Stop()
	for {
		if applied, err := m.appliedPositions(ctx); err == nil {
			b, _ := json.Marshal(nodeReport{Applied: applied})
			rctx, cancel := context.WithTimeout(ctx, nodeReportEvery)
			if err := m.Broker.ReportNode(rctx, b); err != nil && ctx.Err() == nil {
				m.Logger.Debug("report node state", "err", err)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// nodesState is every node's state lag against topics: this node's own
// (own), the others' from their last reports.
func (m *Main) nodesState(ctx context.Context, topics []broker.TopicReplica, own []ui.ClusterStateLag, cs *ui.ClusterState) []ui.ClusterNodeState {
	out := []ui.ClusterNodeState{{Node: cs.Node, ReportedAt: time.Now(), StateLag: own}}
	reports, err := m.Broker.NodeReports(ctx)
	if err != nil {
		if cs.Error == "" {
			cs.Error = app.ErrorMessage(err)
		}
		return out
	}
	for _, r := range reports {
		var nr nodeReport
		if r.Node == cs.Node || json.Unmarshal(r.Value, &nr) != nil {
			continue
		}
		out = append(out, ui.ClusterNodeState{Node: r.Node, ReportedAt: r.Stored, AgeSeconds: int(max(time.Since(r.Stored), 0) / time.Second),
			StateLag: lagAgainst(topics, nr.Applied)})
	}
	slices.SortFunc(out[1:], func(a, b ui.ClusterNodeState) int { return strings.Compare(a.Node, b.Node) })
	return out
}

// lagAgainst is the lag of applied positions on each state topic.
func lagAgainst(topics []broker.TopicReplica, applied map[string]uint64) []ui.ClusterStateLag {
	var out []ui.ClusterStateLag
	for _, t := range topics {
		if !slices.Contains(app.StateTopics, t.Topic) {
			continue
		}
		l := ui.ClusterStateLag{Topic: t.Topic, Applied: applied[t.Topic], LastOffset: t.LastSeq}
		if l.LastOffset > l.Applied {
			l.Behind = l.LastOffset - l.Applied
		}
		out = append(out, l)
	}
	return out
}

// ClusterState is the answer of GET /api/v1/cluster, for the command.
type ClusterState = ui.ClusterState
