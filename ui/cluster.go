package ui

import (
	"context"
	"net/http"
	"time"
)

// ClusterState is the node's cluster as the console and the API show it.
// A single node has Clustered false and reports itself as every topic's
// leader and the holder of every singleton.
type ClusterState struct {
	Clustered  bool           `json:"clustered"`
	Name       string         `json:"name"`
	Node       string         `json:"node"`     // this node
	Replicas   int            `json:"replicas"` // of each topic
	Peers      []string       `json:"configured_peers"`
	Routes     []string       `json:"routes"` // nodes with a route to this one
	Topics     []ClusterTopic `json:"topics"`
	Singletons []ClusterDuty  `json:"singletons"`
	// StateLag is this node's materialiser on each state topic: how far
	// its state store is behind the replicated log.
	StateLag []ClusterStateLag `json:"state_lag"`
	// Nodes is every node's state store against the log as this node
	// sees the log now: its own read now, the others' from what each
	// reported last (every few seconds). A node that has not reported for
	// ten minutes is missing.
	Nodes []ClusterNodeState `json:"nodes"`
	Error string             `json:"error,omitempty"` // what could not be read
}

// ClusterNodeState is one node's state positions and when it reported
// them.
type ClusterNodeState struct {
	Node       string            `json:"node"`
	ReportedAt time.Time         `json:"reported_at"`
	AgeSeconds int               `json:"age_seconds"` // of the report, when it was read
	StateLag   []ClusterStateLag `json:"state_lag"`
}

// Behind is the most entries the node's state is behind on any topic.
func (n ClusterNodeState) Behind() uint64 {
	var most uint64
	for _, l := range n.StateLag {
		most = max(most, l.Behind)
	}
	return most
}

// ClusterTopic is one topic's Raft group.
type ClusterTopic struct {
	Topic      string           `json:"topic"`
	Leader     string           `json:"leader"`
	LastOffset uint64           `json:"last_offset"`
	Followers  []ClusterReplica `json:"followers"`
}

// ClusterReplica is one follower of a topic and how far behind it is.
type ClusterReplica struct {
	Node    string `json:"node"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline"`
	Lag     uint64 `json:"lag"`
}

// ClusterStateLag is this node's state position on one topic against the
// topic's last offset.
type ClusterStateLag struct {
	Topic      string `json:"topic"`
	Applied    uint64 `json:"applied"`
	LastOffset uint64 `json:"last_offset"`
	Behind     uint64 `json:"behind"`
}

// ClusterDuty is a singleton and the node that runs it ("" when none).
type ClusterDuty struct {
	Name   string `json:"name"`
	Holder string `json:"holder"`
}

func (s *Server) cluster(ctx context.Context) ClusterState {
	if s.Cluster == nil {
		return ClusterState{}
	}
	return s.Cluster(ctx)
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cluster(r.Context()))
}
