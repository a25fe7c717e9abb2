package ui

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LinkState is the state of the link to central Kafka, as the console
// shows it.
type LinkState struct {
	Enabled   bool
	Connected bool
	Since     time.Time
	LastError string
	Backlog   int64 // local events waiting to be sent
	Topics    []LinkTopic
}

// LinkTopic is one mirrored topic in one direction.
type LinkTopic struct {
	Direction     string // in or out
	Local         string
	Remote        string
	Records       uint64
	Bytes         uint64
	DeadLetters   uint64
	Backlog       int64
	LastRecordAge float64
	Latency       float64
}

func (s *Server) link(ctx context.Context, full bool) (LinkState, any) {
	if s.Link == nil {
		return LinkState{}, map[string]any{"enabled": false}
	}
	return s.Link(ctx, full)
}

func (s *Server) handleBridge(w http.ResponseWriter, r *http.Request) {
	_, body := s.link(r.Context(), true)
	writeJSON(w, http.StatusOK, body)
}

// linkBanner warns every page when the central link is down.
func (s *Server) linkBanner(ctx context.Context) *Banner {
	ls, _ := s.link(ctx, false)
	if !ls.Enabled || ls.Connected {
		return nil
	}
	since := "start"
	if !ls.Since.IsZero() {
		since = s.local(ls.Since)
	}
	return &Banner{Level: "bad", Text: fmt.Sprintf("Central link down since %s: %s to be sent. Nothing is lost; they go out when the link returns.", since, plural(int(ls.Backlog), "event waits", "events wait"))}
}

var (
	descLinkUp      = prometheus.NewDesc("apron_bridge_connected", "1 when the bridge reaches central Kafka.", nil, nil)
	descLinkRecords = prometheus.NewDesc("apron_bridge_records_total", "Records mirrored, by direction and local topic.", []string{"direction", "topic"}, nil)
	descLinkBytes   = prometheus.NewDesc("apron_bridge_bytes_total", "Payload bytes mirrored, by direction and local topic.", []string{"direction", "topic"}, nil)
	descLinkDead    = prometheus.NewDesc("apron_bridge_dead_letters_total", "Inbound records refused to the deadletter topic.", []string{"direction", "topic"}, nil)
	descLinkBacklog = prometheus.NewDesc("apron_bridge_backlog", "Records waiting to be mirrored (-1: unknown).", []string{"direction", "topic"}, nil)
	descLinkAge     = prometheus.NewDesc("apron_bridge_last_record_age_seconds", "Age of the last mirrored record.", []string{"direction", "topic"}, nil)
	descLinkLatency = prometheus.NewDesc("apron_bridge_latency_seconds", "Replication latency of the last mirrored record.", []string{"direction", "topic"}, nil)
)

type linkCollector struct{ s *Server }

func (c *linkCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLinkUp, descLinkRecords, descLinkBytes, descLinkDead, descLinkBacklog, descLinkAge, descLinkLatency} {
		ch <- d
	}
}

func (c *linkCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ls, _ := c.s.link(ctx, true)
	if !ls.Enabled {
		return
	}
	up := 0.0
	if ls.Connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descLinkUp, prometheus.GaugeValue, up)
	for _, t := range ls.Topics {
		ch <- prometheus.MustNewConstMetric(descLinkRecords, prometheus.CounterValue, float64(t.Records), t.Direction, t.Local)
		ch <- prometheus.MustNewConstMetric(descLinkBytes, prometheus.CounterValue, float64(t.Bytes), t.Direction, t.Local)
		ch <- prometheus.MustNewConstMetric(descLinkDead, prometheus.CounterValue, float64(t.DeadLetters), t.Direction, t.Local)
		ch <- prometheus.MustNewConstMetric(descLinkBacklog, prometheus.GaugeValue, float64(t.Backlog), t.Direction, t.Local)
		ch <- prometheus.MustNewConstMetric(descLinkAge, prometheus.GaugeValue, t.LastRecordAge, t.Direction, t.Local)
		ch <- prometheus.MustNewConstMetric(descLinkLatency, prometheus.GaugeValue, t.Latency, t.Direction, t.Local)
	}
}
