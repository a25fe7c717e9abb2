package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
	"github.com/nats-io/nats.go"
)

func flightJSON(id, key, status string, at time.Time) string {
	parts := strings.SplitN(key, "-", 2)
	f := app.Flight{Flight: key, Carrier: parts[0][:2], Number: parts[0][2:], Date: parts[1], Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: at.Add(2 * time.Hour), ScheduledArrival: at.Add(10 * time.Hour), Status: status, Gate: "A1", Capacity: map[string]int{"Y": 100}}
	e, _ := app.NewEvent(id, "test", app.TypeFlightStatus, key, at, f)
	return string(e.Raw)
}

func TestIngestAPI(t *testing.T) {
	m := MustRunMain(t, func(c *node.Config) { c.MaxBody = 64 << 10 })
	base := m.HTTP.URL()
	url := base + "/api/v1/topics/flights/events"
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

	t.Run("one event", func(t *testing.T) {
		code, body := post(t, url, flightJSON("e1", "LH400-2026-11-25", "delayed", t0))
		if code != 200 || body["accepted"].(float64) != 1 {
			t.Fatalf("%d %v", code, body)
		}
		checkFor(t, 5*time.Second, func() error {
			code, body := get(t, base+"/api/v1/flights/LH400-2026-11-25")
			if code != 200 {
				return fmt.Errorf("status %d %v", code, body)
			}
			if s := body["flight"].(map[string]any)["status"]; s != "delayed" {
				return fmt.Errorf("status %v", s)
			}
			return nil
		})
	})
	t.Run("duplicate", func(t *testing.T) {
		code, body := post(t, url, flightJSON("e1", "LH400-2026-11-25", "delayed", t0))
		res := body["results"].([]any)[0].(map[string]any)
		if code != 200 || body["duplicates"].(float64) != 1 || res["duplicate"] != true {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("ndjson with bad lines stores nothing", func(t *testing.T) {
		before, _ := m.Broker.Topic(context.Background(), "flights")
		good := flightJSON("e2", "LH401-2026-11-25", "scheduled", t0)
		bad := strings.Replace(flightJSON("e3", "LH402-2026-11-25", "scheduled", t0), `"origin":"FRA"`, `"origin":"Frankfurt"`, 1)
		code, body := post(t, url, good+"\n"+bad+"\n{oops\n")
		if code != 400 {
			t.Fatalf("%d %v", code, body)
		}
		errs := body["errors"].([]any)
		e0 := errs[0].(map[string]any)
		f0 := e0["errors"].([]any)[0].(map[string]any)
		if len(errs) != 2 || e0["line"].(float64) != 2 || e0["id"] != "e3" || f0["field"] != "data.origin" || f0["reason"] == "" {
			t.Fatalf("errors: %v", errs)
		}
		if errs[1].(map[string]any)["line"].(float64) != 3 {
			t.Fatalf("second error: %v", errs[1])
		}
		after, _ := m.Broker.Topic(context.Background(), "flights")
		if after.LastOffset != before.LastOffset {
			t.Fatal("a refused request stored events")
		}
	})
	t.Run("ndjson batch", func(t *testing.T) {
		var lines []string
		for i := 0; i < 50; i++ {
			lines = append(lines, flightJSON(fmt.Sprintf("b%d", i), fmt.Sprintf("LH%d-2026-11-25", 500+i), "scheduled", t0))
		}
		code, body := post(t, url, strings.Join(lines, "\n"))
		if code != 200 || body["accepted"].(float64) != 50 {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("too large", func(t *testing.T) {
		code, body := post(t, url, strings.Repeat(" ", 70<<10))
		if code != 413 || !strings.Contains(body["error"].(string), "exceeds") {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("unknown topic and wrong type", func(t *testing.T) {
		if code, _ := post(t, base+"/api/v1/topics/nope/events", "{}"); code != 404 {
			t.Fatalf("unknown topic: %d", code)
		}
		code, body := post(t, base+"/api/v1/topics/bookings/events", flightJSON("e9", "LH400-2026-11-25", "delayed", t0))
		if code != 400 || !strings.Contains(fmt.Sprint(body["errors"]), "does not belong") {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("read API", func(t *testing.T) {
		if code, _ := get(t, base+"/api/v1/flights/XX999-2026-11-25"); code != 404 {
			t.Fatalf("missing flight: %d", code)
		}
		code, body := get(t, base+"/api/v1/flights?airport=Frankfurt")
		if code != 400 || !strings.Contains(body["error"].(string), "airport") {
			t.Fatalf("bad filter: %d %v", code, body)
		}
		checkFor(t, 5*time.Second, func() error {
			_, body := get(t, base+"/api/v1/flights?airport=FRA&date=2026-11-25&status=scheduled")
			if n := len(body["flights"].([]any)); n != 50 {
				return fmt.Errorf("%d flights", n)
			}
			return nil
		})
		if code, _ := get(t, base+"/api/v1/bookings/NOPE00"); code != 404 {
			t.Fatalf("missing booking: %d", code)
		}
		if code, _ := get(t, base+"/api/v1/passengers/nobody"); code != 404 {
			t.Fatalf("missing passenger: %d", code)
		}
	})
	t.Run("topics, health, metrics", func(t *testing.T) {
		checkFor(t, 5*time.Second, func() error {
			_, body := get(t, base+"/api/v1/topics")
			for _, c := range body["consumers"].([]any) {
				c := c.(map[string]any)
				if c["topic"] == "flights" && c["messages_behind"].(float64) == 0 && c["offset"].(float64) == 51 {
					return nil
				}
			}
			return fmt.Errorf("no caught-up flights consumer: %v", body["consumers"])
		})
		if code, _ := get(t, base+"/healthz"); code != 200 {
			t.Fatal("healthz")
		}
		if code, _ := get(t, base+"/readyz"); code != 200 {
			t.Fatal("readyz")
		}
		resp, err := authGet(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`apron_topic_last_offset{topic="flights"} 51`, `apron_consumer_lag_messages{consumer="state",topic="flights"} 0`, `apron_ingest_events_total{result="duplicate",topic="flights"} 1`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

func TestInvalidEventOverNATSGoesToDeadLetter(t *testing.T) {
	m := MustRunMain(t)
	// Without credentials the port refuses; a site application reads its
	// user from the data directory, which only the node's user may read.
	if nc, err := nats.Connect(m.Broker.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a NATS client without credentials connected")
	}
	path := filepath.Join(m.Config.Data, "nats-credentials.json")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(path)
	var cr struct{ User, Password string }
	if err := json.Unmarshal(b, &cr); err != nil || cr.User == "" || len(cr.Password) < 32 {
		t.Fatalf("credentials: %v", err)
	}
	nc, err := nats.Connect(m.Broker.ClientURL(), nats.UserInfo(cr.User, cr.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A real NATS client writes straight into the topic, bypassing HTTP.
	bad := strings.Replace(flightJSON("n1", "LH7-2026-11-25", "delayed", time.Now()), `"status":"delayed"`, `"status":"lost"`, 1)
	good := flightJSON("n2", "LH8-2026-11-25", "delayed", time.Now())
	if err := nc.Publish("flights.LH7-2026-11-25", []byte(bad)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("flights.LH8-2026-11-25", []byte(good)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		ti, _ := m.Broker.Topic(context.Background(), app.TopicDeadLetter)
		if ti.Messages != 1 {
			return fmt.Errorf("deadletter has %d", ti.Messages)
		}
		return nil
	})
	le, err := m.Broker.Get(context.Background(), app.TopicDeadLetter, 1)
	if err != nil {
		t.Fatal(err)
	}
	var dl struct {
		Data app.DeadLetterData `json:"data"`
	}
	if err := json.Unmarshal(le.Data, &dl); err != nil {
		t.Fatal(err)
	}
	if dl.Data.Origin["topic"] != "flights" || dl.Data.Origin["offset"].(float64) != 1 || len(dl.Data.Fields) == 0 || dl.Data.Fields[0].Field != "data.status" || !strings.Contains(dl.Data.Payload, `"lost"`) {
		t.Fatalf("dead letter: %+v", dl.Data)
	}
	checkFor(t, 5*time.Second, func() error {
		_, err := m.Store.Flight(context.Background(), "LH8-2026-11-25")
		return err
	})
	if _, err := m.Store.Flight(context.Background(), "LH7-2026-11-25"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatal("invalid event reached the state")
	}
}

// waitCaughtUp waits until the state store has applied every state topic.
func waitCaughtUp(tb testing.TB, m *node.Main, d time.Duration) {
	tb.Helper()
	checkFor(tb, d, func() error {
		ctx := context.Background()
		for _, topic := range app.StateTopics {
			ti, err := m.Broker.Topic(ctx, topic)
			if err != nil {
				return err
			}
			pos, err := m.Store.Position(ctx, app.StateConsumer, topic)
			if err != nil {
				return err
			}
			if pos < ti.LastOffset {
				return fmt.Errorf("%s at %d of %d", topic, pos, ti.LastOffset)
			}
		}
		return nil
	})
}

func TestSimulatedDayEqualsRebuild(t *testing.T) {
	m := MustRunMain(t)
	day := sim.Generate(sim.Config{Seed: 3, Date: "2026-11-25", Departures: 60})
	// Play the whole day at once (speed far beyond real time).
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, m, 30*time.Second)
	counts, _ := m.Store.Counts(context.Background())
	if counts["flights"] != 120 || counts["bookings"] == 0 || counts["passengers"] == 0 || counts["documents"] != len(sim.Policies) {
		t.Fatalf("counts %v", counts)
	}
	diff, err := node.CheckStore(context.Background(), m.Broker, m.Store, filepath.Join(t.TempDir(), "check.db"), m.Broker.Trusted)
	if err != nil {
		t.Fatal(err)
	}
	if len(diff) > 0 {
		t.Fatalf("live store differs from rebuild: %v", diff)
	}
	// The board shows the day's flights with disruption counts.
	resp, err := authGet(m.HTTP.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`data-testid="board-meta"`)) {
		t.Fatalf("board: %d", resp.StatusCode)
	}
}

func TestRestartResumesFromStoredPositions(t *testing.T) {
	dir := t.TempDir()
	mk := func() *node.Main {
		cfg := node.DefaultConfig()
		cfg.Data, cfg.HTTP, cfg.NATS.Addr, cfg.Ollama.URL = dir, "127.0.0.1:0", "", ""
		m := node.NewMain(cfg, slog.New(slog.DiscardHandler))
		if err := m.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		useToken(t, m, app.RoleAgent)
		return m
	}
	m := mk()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		code, body := post(t, m.HTTP.URL()+"/api/v1/topics/flights/events", flightJSON(fmt.Sprintf("r%d", i), "LH400-2026-11-25", []string{"scheduled", "delayed", "boarding"}[i], t0.Add(time.Duration(i)*time.Minute)))
		if code != 200 {
			t.Fatal(code, body)
		}
	}
	waitCaughtUp(t, m, 10*time.Second)
	_ = m.Close(context.Background())

	m = mk()
	defer m.Close(context.Background())
	if pos, _ := m.Store.Position(context.Background(), app.StateConsumer, "flights"); pos != 3 {
		t.Fatalf("position after restart %d", pos)
	}
	code, _ := post(t, m.HTTP.URL()+"/api/v1/topics/flights/events", flightJSON("r3", "LH400-2026-11-25", "departed", t0.Add(time.Hour)))
	if code != 200 {
		t.Fatal(code)
	}
	waitCaughtUp(t, m, 10*time.Second)
	f, _ := m.Store.Flight(context.Background(), "LH400-2026-11-25")
	if f.Status != "departed" || f.Version.Offset != 4 {
		t.Fatalf("after resume: %+v", f)
	}
}

func TestErasureLeavesNoTraceInStateOrLog(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	mk := func(id, typ string, at time.Time, data any) string {
		e, err := app.NewEvent(id, "test", typ, "P42", at, data)
		if err != nil {
			t.Fatal(err)
		}
		return string(e.Raw)
	}
	p := app.Passenger{ID: "P42", Name: "Grace Hopper", Tier: "gold", SSR: []string{"WCHR"}}
	if code, body := post(t, base+"/api/v1/topics/passengers/events", mk("p1", app.TypePassengerUpserted, t0, p)); code != 200 {
		t.Fatal(code, body)
	}
	b := app.Booking{Locator: "GRH001", Status: "active", Passengers: []app.BookingPassenger{{ID: "P42", Name: "Grace Hopper"}}, Segments: []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "Y"}}}
	be, _ := app.NewEvent("b1", "test", app.TypeBookingCreated, "GRH001", t0, b)
	if code, body := post(t, base+"/api/v1/topics/bookings/events", string(be.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	checkFor(t, 5*time.Second, func() error { _, err := m.Store.Passenger(context.Background(), "P42"); return err })
	if code, body := post(t, base+"/api/v1/topics/passengers/events", mk("p2", app.TypePassengerErased, t0.Add(time.Minute), map[string]string{"id": "P42"})); code != 200 {
		t.Fatal(code, body)
	}
	checkFor(t, 5*time.Second, func() error {
		if code, _ := get(t, base+"/api/v1/passengers/P42"); code != 404 {
			return fmt.Errorf("passenger still served: %d", code)
		}
		_, body := get(t, base+"/api/v1/bookings/GRH001")
		if strings.Contains(fmt.Sprint(body), "Grace") {
			return fmt.Errorf("name still on the booking: %v", body)
		}
		ti, _ := m.Broker.Topic(context.Background(), app.TopicPassengers)
		if ti.Messages != 1 {
			return fmt.Errorf("passengers topic still holds %d entries", ti.Messages)
		}
		return nil
	})
	le, err := m.Broker.Get(context.Background(), app.TopicPassengers, 2)
	if err != nil || strings.Contains(string(le.Data), "Grace") {
		t.Fatalf("erasure entry: %s %v", le.Data, err)
	}
}
