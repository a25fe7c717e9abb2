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
	s.Registry.MustRegister(m.ingestEvents, m.ingestRefused, m.ingestSeconds, &logCollector{s: s}, &linkCollector{s: s})
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
	descConsumerLagS  = prometheus.NewDesc("apron_consumer_lag_seconds", "Seconds between the head of the topic and the consumer's last applied entry.", []string{"consumer", "topic"}, nil)
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
		ch <- prometheus.MustNewConstMetric(descConsumerLagS, prometheus.GaugeValue, l.SecondsBehind, l.Consumer, l.Topic)
	}
}
