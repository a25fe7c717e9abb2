package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClusterConfig makes the embedded server one node of a NATS cluster with
// JetStream clustering: routes to the peers, one Raft group per topic.
// The zero value is a single node, as before clustering existed.
type ClusterConfig struct {
	// Name is the cluster's name, the same on every node; "" is a single
	// node and every other field is ignored.
	Name string
	// Listen is host:port of this node's route listener.
	Listen string
	// Peers are host:port of the other nodes' route listeners; this
	// node's own Listen may be in the list (the same list on every node).
	Peers []string
	// Node is this node's server name, unique in the cluster (default:
	// Listen).
	Node string
	// SecretFile holds the cluster's shared secret, the same file on every
	// node (at least 32 bytes). The route password, the site applications'
	// NATS password and the seal key are derived from it, so that every
	// node accepts the others, the same credentials and trusts the same
	// seals (docs/decisions/0024-cluster-and-singleton-lease.md).
	SecretFile string
	// LeaseTTL is how long the singleton lease lives without a renewal.
	LeaseTTL time.Duration
}

// Route credentials: every node presents and accepts the same user.
const routeUser = "apron-route"

// LeaseBucket is the JetStream key-value bucket of the singleton lease.
const LeaseBucket = "apron_leases"

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Clustered reports whether the node is one of a cluster.
func (c ClusterConfig) Clustered() bool { return c.Name != "" }

// NodeName is the server name of this node.
func (c ClusterConfig) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	if !c.Clustered() {
		return "apron"
	}
	return strings.NewReplacer(":", "-", ".", "-", "[", "", "]", "").Replace(c.Listen)
}

// OtherPeers returns the peers without this node's own address, sorted
// and without repeats.
func (c ClusterConfig) OtherPeers() []string {
	seen := map[string]bool{c.Listen: true}
	var out []string
	for _, p := range c.Peers {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Replicas is the replication factor of the topics: 3 when the cluster has
// three nodes or more, otherwise 1 (a single node, or two nodes, which
// cannot keep a majority when one fails).
func (c ClusterConfig) Replicas() int {
	if c.Clustered() && len(c.OtherPeers())+1 >= 3 {
		return 3
	}
	return 1
}

// Validate reports the first invalid field.
func (c *ClusterConfig) Validate() error {
	if !c.Clustered() {
		if len(c.Peers) > 0 || c.Listen != "" {
			return app.Errorf(app.EINVALID, "cluster.name: must be set when cluster.peers or cluster.listen is")
		}
		return nil
	}
	if !namePattern.MatchString(c.Name) {
		return app.Errorf(app.EINVALID, "cluster.name: letters, digits, - and _ only (at most 64), got %q", c.Name)
	}
	if c.Node != "" && !namePattern.MatchString(c.Node) {
		return app.Errorf(app.EINVALID, "cluster.node: letters, digits, - and _ only (at most 64), got %q", c.Node)
	}
	if err := checkHostPort("cluster.listen", c.Listen, false); err != nil {
		return err
	}
	if len(c.OtherPeers()) == 0 {
		return app.Errorf(app.EINVALID, "cluster.peers: a cluster needs at least one other node's host:port")
	}
	for _, p := range c.Peers {
		if err := checkHostPort("cluster.peers", p, true); err != nil {
			return err
		}
	}
	if c.LeaseTTL < time.Second || c.LeaseTTL > time.Minute {
		return app.Errorf(app.EINVALID, "cluster.lease_ttl: must be between 1s and 1m, got %s", c.LeaseTTL)
	}
	if c.SecretFile == "" {
		return app.Errorf(app.EINVALID, "cluster.secret_file: must be set in a cluster (the same file on every node; make one with: head -c 32 /dev/urandom | base64 > cluster.secret)")
	}
	_, err := readSecret(c.SecretFile)
	return err
}

func checkHostPort(field, v string, needPort bool) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return app.Errorf(app.EINVALID, "%s: %q is not host:port: %v", field, v, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (needPort && n == 0) {
		return app.Errorf(app.EINVALID, "%s: port %q of %q is not a port number", field, port, v)
	}
	if host == "" {
		return app.Errorf(app.EINVALID, "%s: %q has no host", field, v)
	}
	return nil
}

func readSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "cluster.secret_file: %v", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 32 {
		return nil, app.Errorf(app.EINVALID, "cluster.secret_file: %s holds %d bytes, want at least 32", path, len(s))
	}
	return []byte(s), nil
}

// derive returns a value derived from the cluster secret for one purpose.
func derive(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("apron cluster " + purpose))
	return mac.Sum(nil)
}

// clusterOptions adds routes, route credentials and the server name to
// opts, and returns the cluster secret.
func (b *Broker) clusterOptions(opts *server.Options) ([]byte, error) {
	c := b.Config.Cluster
	opts.ServerName = c.NodeName()
	if !c.Clustered() {
		return nil, nil
	}
	secret, err := readSecret(c.SecretFile)
	if err != nil {
		return nil, err
	}
	routePass := hex.EncodeToString(derive(secret, "route"))
	host, port, _ := net.SplitHostPort(c.Listen)
	opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Username: routeUser, Password: routePass}
	opts.Cluster.Port, _ = strconv.Atoi(port)
	for _, p := range c.OtherPeers() {
		u, err := url.Parse("nats-route://" + p)
		if err != nil {
			return nil, app.Errorf(app.EINVALID, "cluster.peers: %q: %v", p, err)
		}
		u.User = url.UserPassword(routeUser, routePass)
		opts.Routes = append(opts.Routes, u)
	}
	return secret, nil
}

// createTopics creates or updates the topics (and, in a cluster, the lease
// bucket). A cluster's JetStream answers only once its nodes have elected
// a meta leader, and an R3 topic needs three nodes: it retries until wait
// has passed.
func (b *Broker) createTopics(wait time.Duration) error {
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	// In a cluster each topic's Raft group elects its leader on creation
	// (seconds each): the topics are created together. A request that
	// raced another node's creation of the same topic may get no answer:
	// attempts are short, and the next finds the topic and updates it.
	create := func(ctx context.Context) error {
		errs := make([]error, len(app.Topics)+1)
		var wg sync.WaitGroup
		for i, t := range app.Topics {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := b.js.CreateOrUpdateStream(ctx, b.streamConfig(t)); err != nil {
					errs[i] = fmt.Errorf("create topic %s: %w", t, err)
				}
			}()
		}
		if b.Config.Cluster.Clustered() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := b.js.CreateOrUpdateKeyValue(ctx, b.leaseBucketConfig()); err != nil {
					errs[len(app.Topics)] = fmt.Errorf("create lease bucket: %w", err)
				} else if _, err := b.js.CreateOrUpdateKeyValue(ctx, b.nodesBucketConfig()); err != nil {
					errs[len(app.Topics)] = fmt.Errorf("create node report bucket: %w", err)
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if !b.Config.Cluster.Clustered() {
		return create(ctx) // one node: no race with peers, no quorum to wait for
	}
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		err := create(actx)
		acancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return app.Errorf(app.EUNAVAILABLE, "cluster %s: no quorum after %s (reached %d of %d peers; are the others running and is cluster.peers right?): %v",
				b.Config.Cluster.Name, wait, b.srv.NumRoutes(), len(b.Config.Cluster.OtherPeers()), err)
		}
		b.Logger.Info("waiting for the cluster", "routes", b.srv.NumRoutes(), "peers", len(b.Config.Cluster.OtherPeers()), "reason", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (b *Broker) leaseBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: LeaseBucket, History: 1, TTL: b.Config.Cluster.LeaseTTL,
		Storage: jetstream.FileStorage, Replicas: b.Config.Cluster.Replicas()}
}

// ClusterStatus is what the node sees of its cluster.
type ClusterStatus struct {
	Name     string         `json:"name"`
	Node     string         `json:"node"`
	Replicas int            `json:"replicas"`
	Peers    []string       `json:"configured_peers"` // route addresses
	Routes   []PeerStatus   `json:"routes"`           // nodes with a route up
	Topics   []TopicReplica `json:"topics"`
}

// PeerStatus is a node this node has a route to.
type PeerStatus struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
}

// TopicReplica is a topic's Raft group: its leader and each replica's lag.
type TopicReplica struct {
	Topic    string       `json:"topic"`
	Leader   string       `json:"leader"`
	Replicas []ReplicaLag `json:"replicas"`
	LastSeq  uint64       `json:"last_offset"`
}

// ReplicaLag is one follower of a topic.
type ReplicaLag struct {
	Node    string `json:"node"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline"`
	Lag     uint64 `json:"lag"`
	Active  string `json:"last_seen"`
}

// ClusterStatus reports the peers and each topic's leader and followers.
// A single node reports itself as the leader of every topic.
func (b *Broker) ClusterStatus(ctx context.Context) (ClusterStatus, error) {
	c := b.Config.Cluster
	st := ClusterStatus{Name: c.Name, Node: c.NodeName(), Replicas: c.Replicas()}
	if c.Clustered() {
		st.Peers, st.Routes = c.OtherPeers(), b.peerStatus()
	}
	for _, t := range app.Topics {
		s, err := b.js.Stream(ctx, t)
		if err != nil {
			return st, fmt.Errorf("topic %s: %w", t, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			return st, fmt.Errorf("topic %s info: %w", t, err)
		}
		tr := TopicReplica{Topic: t, Leader: st.Node, LastSeq: info.State.LastSeq}
		if ci := info.Cluster; ci != nil && c.Clustered() {
			tr.Leader = ci.Leader
			for _, r := range ci.Replicas {
				tr.Replicas = append(tr.Replicas, ReplicaLag{Node: r.Name, Current: r.Current, Offline: r.Offline, Lag: r.Lag, Active: r.Active.Round(time.Millisecond).String()})
			}
		}
		st.Topics = append(st.Topics, tr)
	}
	return st, nil
}

// peerStatus lists the servers this node has a route to, by name.
func (b *Broker) peerStatus() []PeerStatus {
	seen := map[string]bool{}
	var out []PeerStatus
	if rz, err := b.srv.Routez(nil); err == nil {
		for _, r := range rz.Routes {
			if r.RemoteName != "" && !seen[r.RemoteName] {
				seen[r.RemoteName] = true
				out = append(out, PeerStatus{Name: r.RemoteName, Connected: true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// quorumError explains, in a cluster, an append that got no answer: the
// topic's group could not store it on a majority (this node is cut off,
// or the group is electing a leader); waited is the append's own deadline
// error. It returns nil for other errors and on a single node.
func (b *Broker) quorumError(topic string, err, waited error) error {
	c := b.Config.Cluster
	if !c.Clustered() || b.ctx.Err() != nil {
		return nil
	}
	// The append's errors carry their cause as text (app.Error).
	msg := err.Error()
	unanswered := errors.Is(waited, context.DeadlineExceeded) || strings.Contains(msg, nats.ErrNoResponders.Error()) ||
		strings.Contains(msg, nats.ErrTimeout.Error()) || strings.Contains(msg, jetstream.ErrNoStreamResponse.Error())
	if !unanswered {
		return nil
	}
	return app.Errorf(app.EUNAVAILABLE, "append to %s: no quorum: the cluster did not confirm the events on a majority of its %d replicas "+
		"(routes open to %d of %d peers; a stopped peer's route stays open until its pings fail); they are not acknowledged: send the same request again, to another node or once the cluster "+
		"is whole (events are de-duplicated by source and id)", topic, c.Replicas(), len(b.peerStatus()), len(c.OtherPeers()))
}
