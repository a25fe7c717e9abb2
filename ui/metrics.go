package ui

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	ingestEvents  *prometheus.CounterVec
	ingestRefused *prometheus.CounterVec
	ingestSeconds *prometheus.HistogramVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		ingestEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apron_ingest_events_total", Help: "Events taken by the HTTP ingest API, by topic and result (accepted, duplicate).",
		}, []string{"topic", "result"}),
		ingestRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apron_ingest_refused_total", Help: "Events or requests refused by the HTTP ingest API, by topic and reason.",
		}, []string{"topic", "reason"}),
		ingestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apron_ingest_append_seconds", Help: "Time from a valid ingest request to the log's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"topic"}),
	}
	s.Registry.MustRegister(m.ingestEvents, m.ingestRefused, m.ingestSeconds, &logCollector{s: s}, &linkCollector{s: s}, &schedCollector{s: s})
	return m
}

// logCollector reads topic and consumer state at scrape time.
type logCollector struct{ s *Server }

var (
	descTopicLast     = prometheus.NewDesc("apron_topic_last_offset", "Last offset of the topic.", []string{"topic"}, nil)
	descTopicFirst    = prometheus.NewDesc("apron_topic_first_offset", "First offset still stored.", []string{"topic"}, nil)
	descTopicMessages = prometheus.NewDesc("apron_topic_messages", "Messages stored in the topic.", []string{"topic"}, nil)
	descTopicBytes    = prometheus.NewDesc("apron_topic_bytes", "Bytes stored in the topic.", []string{"topic"}, nil)
	descConsumerPos   = prometheus.NewDesc("apron_consumer_offset", "Last offset applied by the consumer.", []string{"consumer", "topic"}, nil)
	descConsumerLag   = prometheus.NewDesc("apron_consumer_lag_messages", "Messages the consumer is behind the head of the topic.", []string{"consumer", "topic"}, nil)
	descConsumerLagS  = prometheus.NewDesc("apron_consumer_lag_seconds", "Age of the oldest entry the consumer has not applied yet (0 when it is at the head).", []string{"consumer", "topic"}, nil)
)

func (c *logCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTopicLast, descTopicFirst, descTopicMessages, descTopicBytes, descConsumerPos, descConsumerLag, descConsumerLagS} {
		ch <- d
	}
}

func (c *logCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.s.topicsAndLags(ctx)
	if err != nil {
		c.s.Logger.Warn("metrics: topics", "err", err)
		return
	}
	for _, t := range resp.Topics {
		ch <- prometheus.MustNewConstMetric(descTopicLast, prometheus.GaugeValue, float64(t.LastOffset), t.Name)
		ch <- prometheus.MustNewConstMetric(descTopicFirst, prometheus.GaugeValue, float64(t.FirstOffset), t.Name)
		ch <- prometheus.MustNewConstMetric(descTopicMessages, prometheus.GaugeValue, float64(t.Messages), t.Name)
		ch <- prometheus.MustNewConstMetric(descTopicBytes, prometheus.GaugeValue, float64(t.Bytes), t.Name)
	}
	for _, l := range resp.Consumers {
		ch <- prometheus.MustNewConstMetric(descConsumerPos, prometheus.GaugeValue, float64(l.Offset), l.Consumer, l.Topic)
		ch <- prometheus.MustNewConstMetric(descConsumerLag, prometheus.GaugeValue, float64(l.Behind), l.Consumer, l.Topic)
		ch <- prometheus.MustNewConstMetric(descConsumerLagS, prometheus.GaugeValue, l.AgeSeconds, l.Consumer, l.Topic)
	}
}

// schedCollector reads the model scheduler's counters at scrape time.
type schedCollector struct{ s *Server }

var (
	descModelQueued    = prometheus.NewDesc("apron_model_queued", "Model calls waiting, by class.", []string{"class"}, nil)
	descModelRunning   = prometheus.NewDesc("apron_model_running", "Model calls running, by class.", []string{"class"}, nil)
	descModelServed    = prometheus.NewDesc("apron_model_served_total", "Model calls run, by class.", []string{"class"}, nil)
	descModelWait      = prometheus.NewDesc("apron_model_wait_seconds_total", "Time model calls waited for a slot, by class.", []string{"class"}, nil)
	descModelWaitMax   = prometheus.NewDesc("apron_model_wait_seconds_max", "Longest wait for a slot, by class.", []string{"class"}, nil)
	descModelTimeouts  = prometheus.NewDesc("apron_model_timeouts_total", "Model calls that ran out of time, by class.", []string{"class"}, nil)
	descModelPreempted = prometheus.NewDesc("apron_model_preempted_total", "Background calls cancelled for interactive work.", []string{"class"}, nil)
	descModelRejected  = prometheus.NewDesc("apron_model_rejected_total", "Model calls refused because the class's queue was full.", []string{"class"}, nil)
)

func (c *schedCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descModelQueued, descModelRunning, descModelServed, descModelWait, descModelWaitMax, descModelTimeouts, descModelPreempted, descModelRejected} {
		ch <- d
	}
}

func (c *schedCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.Sched == nil {
		return
	}
	for _, st := range c.s.Sched.Stats() {
		ch <- prometheus.MustNewConstMetric(descModelQueued, prometheus.GaugeValue, float64(st.Queued), st.Class)
		ch <- prometheus.MustNewConstMetric(descModelRunning, prometheus.GaugeValue, float64(st.Running), st.Class)
		ch <- prometheus.MustNewConstMetric(descModelServed, prometheus.CounterValue, float64(st.Served), st.Class)
		ch <- prometheus.MustNewConstMetric(descModelWait, prometheus.CounterValue, st.WaitSum, st.Class)
		ch <- prometheus.MustNewConstMetric(descModelWaitMax, prometheus.GaugeValue, st.WaitMax, st.Class)
		ch <- prometheus.MustNewConstMetric(descModelTimeouts, prometheus.CounterValue, float64(st.Timeouts), st.Class)
		ch <- prometheus.MustNewConstMetric(descModelPreempted, prometheus.CounterValue, float64(st.Preempted), st.Class)
		ch <- prometheus.MustNewConstMetric(descModelRejected, prometheus.CounterValue, float64(st.Rejected), st.Class)
	}
}
