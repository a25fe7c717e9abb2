package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// metricValue reads one sample of the node's /metrics, e.g.
// `apron_consumer_lag_messages{consumer="embed",topic="flights"}`.
func metricValue(base, series string) (float64, error) {
	text, err := metricsText(base)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("metrics lack %s", series)
	}
	return strconv.ParseFloat(m[1], 64)
}

// TestIndexKeepsUpWhileProposalsAreRanked cancels a flight with thirty
// bookings, so the real chat model has thirty proposals to rank in the
// background, and meanwhile changes other flights one at a time. Each
// change must reach the search index with its vector (the embed
// consumer's lag in /metrics back to zero) while proposals still wait for
// their ranking: the index's freshness comes before background ranking,
// it does not wait for it.
func TestIndexKeepsUpWhileProposalsAreRanked(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	s := newScenario(t, func(c *node.Config) {
		c.Ollama.URL = ollamaTestURL()
		c.Ollama.Timeout = node.Duration(3 * time.Minute)
	})
	base := s.m.HTTP.URL()
	cancelled := "LH400-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 40),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 40),
		s.flight("f3", "LH", "404", "FRA", "BOS", 12, 8, app.FlightScheduled, 40),
		s.flight("f4", "AA", "100", "BOS", "JFK", 22, 1.5, app.FlightScheduled, 40),
		s.flight("f5", "LH", "900", "FRA", "LHR", 15, 1.5, app.FlightScheduled, 40),
	)
	const bookings = 30
	var lines []string
	for i := range bookings {
		lines = append(lines, s.booking(fmt.Sprintf("PRI%03d", i), fmt.Sprintf("P%03d", i), "gold", nil, cancelled))
	}
	s.ingest("bookings", lines...)
	waitCaughtUp(t, s.m, time.Minute)
	checkFor(t, 3*time.Minute, func() error { return embeddedUpTo(base, "bookings") })

	s.ingest("flights", s.flight("f1-cx", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 40))
	// Ranking has begun once the background class has served a call or
	// holds one.
	checkFor(t, 3*time.Minute, func() error {
		if len(s.proposals(app.ProposalPending)) < bookings {
			return fmt.Errorf("%d proposals", len(s.proposals(app.ProposalPending)))
		}
		busy, err := metricValue(base, `apron_model_running{class="background"}`)
		if err != nil || busy == 0 {
			return fmt.Errorf("no ranking running yet (%v)", err)
		}
		return nil
	})

	const changes = 5
	during := 0
	for i := range changes {
		gate := fmt.Sprintf("Z%d", 10+i)
		f := app.Flight{Flight: app.FlightKey("LH", "900", "2026-11-25"), Carrier: "LH", Number: "900", Date: "2026-11-25", Origin: "FRA", Destination: "LHR",
			ScheduledDeparture: s.day.Add(15 * time.Hour), ScheduledArrival: s.day.Add(16*time.Hour + 30*time.Minute), Status: app.FlightScheduled,
			Gate: gate, Capacity: map[string]int{"Y": 40}}
		e, err := app.NewEvent(fmt.Sprintf("gate-%d", i), "central", app.TypeFlightStatus, f.Flight, s.day.Add(time.Duration(6*60+i)*time.Minute), f)
		if err != nil {
			t.Fatal(err)
		}
		s.ingest("flights", string(e.Raw))
		checkFor(t, 2*time.Minute, func() error { return embeddedUpTo(base, "flights") })
		unranked := 0
		for _, p := range s.proposals(app.ProposalPending) {
			if p.PromptHash == "" {
				unranked++
			}
		}
		if unranked > 0 {
			during++
		}
		t.Logf("gate change %d indexed with its vector; %d proposals still wait for ranking", i+1, unranked)
	}
	if during < changes {
		t.Fatalf("%d of %d changes were indexed only after every proposal was ranked: the index waited for the ranking", changes-during, changes)
	}
	served, err := metricValue(base, `apron_model_served_total{class="background"}`)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := metricValue(base, `apron_model_served_total{class="freshness"}`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d changes indexed while ranking was pending; model calls served: background %.0f, freshness %.0f", during, changes, served, fresh)
}

// embeddedUpTo reports whether the index and the vectors are at the head
// of topic, as /metrics states it.
func embeddedUpTo(base, topic string) error {
	for _, consumer := range []string{app.IndexConsumer, app.EmbedConsumer} {
		lag, err := metricValue(base, fmt.Sprintf(`apron_consumer_lag_messages{consumer=%q,topic=%q}`, consumer, topic))
		if err != nil {
			return err
		}
		if lag != 0 {
			return fmt.Errorf("%s is %.0f behind on %s", consumer, lag, topic)
		}
	}
	return nil
}
