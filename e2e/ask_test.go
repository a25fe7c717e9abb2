package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
)

// askStream posts a question as server-sent events and returns the
// events in order with the final answer.
func askStream(t *testing.T, m *node.Main, body string) ([]string, app.AskAnswer) {
	t.Helper()
	req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/ask", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("ask: %d %s", resp.StatusCode, b)
	}
	var events []string
	var ans app.AskAnswer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
			events = append(events, event)
		case strings.HasPrefix(line, "data: ") && event == "error":
			t.Fatalf("error event: %s", line)
		case strings.HasPrefix(line, "data: ") && event == "done":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ans); err != nil {
				t.Fatal(err)
			}
		}
	}
	return events, ans
}

// TestAskThroughTheRealModels asks a node fed a simulated day at a hub
// the defaults never use, with the real embedding and chat models: facts
// come from the state store (checked against the store's own records),
// policy comes as the quoted passage, and nonexistent flights are "Not
// in the data".
func TestAskThroughTheRealModels(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	m := MustRunMain(t, func(c *node.Config) {
		c.Ollama.URL = ollamaTestURL()
		// The box runs other tests beside this one: give the model's
		// summary time, so that the test sees what it says.
		c.Ollama.AskTimeout = node.Duration(3 * time.Minute)
		c.Hub, c.TimeZone = "VIE", "Europe/Vienna"
	})
	day := sim.Generate(sim.Config{Seed: 11, Hub: "VIE", Date: "2026-11-17", Departures: 12, Bookings: 160})
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, m, time.Minute)
	ctx := context.Background()

	// The truth, from the store: a flight with wheelchair passengers.
	flights, err := m.Store.Flights(ctx, app.FlightFilter{Date: "2026-11-17"})
	if err != nil {
		t.Fatal(err)
	}
	var target *app.FlightRecord
	var want []string
	for _, f := range flights {
		bs, _ := m.Store.BookingsOnFlight(ctx, app.FlightKey(f.Carrier, f.Number, f.Date))
		var names []string
		for _, b := range bs {
			for _, p := range b.Passengers {
				if slices.Contains(p.SSR, "WCHR") && b.Status == app.BookingActive {
					names = append(names, p.Name+" (booking "+b.Locator)
				}
			}
		}
		if len(names) > 0 {
			target, want = f, names
			break
		}
	}
	if target == nil {
		n, _ := m.Store.Counts(ctx)
		t.Fatalf("the simulated day has no wheelchair passenger on its %d flights (%v)", len(flights), n)
	}
	// Cancel it through the API, as central would.
	key := app.FlightKey(target.Carrier, target.Number, target.Date)
	cancelled := target.Flight
	cancelled.Status = app.FlightCancelled
	// Later than every simulated event: state follows event time.
	e, _ := app.NewEvent("ask-cancel-1", "test", app.TypeFlightStatus, key, day.End.Add(time.Minute), cancelled)
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/flights/events", string(e.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	waitCaughtUp(t, m, time.Minute)

	events, ans := askStream(t, m, fmt.Sprintf(`{"question":"Which passengers in a wheelchair are on the cancelled %s?"}`, target.Carrier+target.Number))
	t.Logf("events %v answer:\n%s\n%s", events, ans.Answer, ans.Freshness)
	if i, j := slices.Index(events, "freshness"), slices.Index(events, "answer"); i < 0 || j < 0 || i > j {
		t.Fatalf("events %v: the freshness stamp must come before the answer", events)
	}
	if ans.Kind != app.AnswerFacts || !strings.Contains(ans.Answer, "cancelled") || !slices.Contains(ans.Citations, key) {
		t.Fatalf("answer %+v", ans)
	}
	var got []string
	for _, f := range ans.Facts {
		if f.Cite.Kind == app.KindBooking {
			got = append(got, f.Text[:strings.Index(f.Text, "(booking ")+len("(booking ")+6])
			if f.Cite.Offset == 0 {
				t.Errorf("fact %q without a log version", f.Text)
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("wheelchair passengers %v, the store has %v", got, want)
	}
	if !strings.Contains(ans.Freshness, "state flights@") || ans.Lagging {
		t.Fatalf("freshness %q lagging %v", ans.Freshness, ans.Lagging)
	}

	// The site named as where flights go, with a time window and no word
	// for arrivals: the window is the site's arrivals, every one of them
	// listed, and no departure.
	vienna, err := time.LoadLocation("Europe/Vienna")
	if err != nil {
		t.Fatal(err)
	}
	from, until := time.Date(2026, 11, 17, 6, 0, 0, 0, vienna), time.Date(2026, 11, 17, 12, 0, 0, 0, vienna)
	var inbound []string
	for _, f := range flights {
		if a := f.Arrival(); f.Destination == "VIE" && !a.Before(from) && a.Before(until) {
			inbound = append(inbound, app.FlightKey(f.Carrier, f.Number, f.Date))
		}
	}
	if len(inbound) == 0 {
		t.Fatal("the simulated day has no arrival at VIE between 06:00 and 12:00")
	}
	_, arr := askStream(t, m, `{"question":"Which flights to Vienna are there between 06:00 and 12:00 on 2026-11-17?"}`)
	t.Logf("arrivals answer:\n%s", arr.Answer)
	if arr.Kind != app.AnswerFacts || !strings.Contains(arr.Answer, "arriving 06:00–12:00 at VIE") || strings.Contains(arr.Answer, "departing") {
		t.Fatalf("flights to the site in a window: %+v", arr)
	}
	for _, key := range inbound {
		if !slices.Contains(arr.Citations, key) {
			t.Errorf("arrival %s not cited; citations %v", key, arr.Citations)
		}
	}
	for _, f := range arr.Facts {
		if f.Cite.Kind == app.KindFlight && !strings.Contains(f.Text, "→VIE") {
			t.Errorf("a flight that does not land at VIE: %q", f.Text)
		}
	}

	// The day's delays ranked and its gates by use, computed from state:
	// a flight delayed by four hours, later than any the day has, comes
	// first; the gates are the store's, counted.
	var late *app.FlightRecord
	for _, f := range flights {
		if app.FlightKey(f.Carrier, f.Number, f.Date) != key && f.Origin == "VIE" {
			late = f
			break
		}
	}
	if late == nil {
		t.Fatal("the simulated day has no second departure")
	}
	lateKey := app.FlightKey(late.Carrier, late.Number, late.Date)
	delayed := late.Flight
	delayed.Status = app.FlightDelayed
	est := delayed.ScheduledDeparture.Add(4 * time.Hour)
	delayed.EstimatedDeparture = &est
	e, _ = app.NewEvent("ask-delay-1", "test", app.TypeFlightStatus, lateKey, day.End.Add(2*time.Minute), delayed)
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/flights/events", string(e.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	waitCaughtUp(t, m, time.Minute)
	_, longest := askStream(t, m, `{"question":"which flight has the longest delay on 2026-11-17?"}`)
	t.Logf("longest delay answer:\n%s", longest.Answer)
	if longest.Kind != app.AnswerFacts || len(longest.Facts) < 2 || longest.Facts[1].Cite.ID != lateKey || !strings.Contains(longest.Facts[1].Text, "(240 min late)") {
		t.Fatalf("the longest delay is %s's 240 minutes: %+v", lateKey, longest)
	}
	now, err := m.Store.Flights(ctx, app.FlightFilter{Date: "2026-11-17"})
	if err != nil {
		t.Fatal(err)
	}
	gates := map[string]bool{}
	for _, f := range now {
		if f.Status != app.FlightCancelled && f.Gate != "" {
			gates[strings.ToUpper(f.Gate)] = true
		}
	}
	_, busy := askStream(t, m, `{"question":"which gates are busiest on 2026-11-17"}`)
	t.Logf("busiest gates answer:\n%s", busy.Answer)
	if busy.Kind != app.AnswerFacts || len(gates) == 0 || !strings.HasPrefix(busy.Facts[0].Text, fmt.Sprintf("%d gates in use on 2026-11-17", len(gates))) {
		t.Fatalf("%d gates in the store: %+v", len(gates), busy)
	}

	// The flights with no gate yet: the delayed departure's gate taken
	// back is one, and what the answer counts is what the store holds.
	delayed.Gate = ""
	e, _ = app.NewEvent("ask-nogate-1", "test", app.TypeFlightStatus, lateKey, day.End.Add(3*time.Minute), delayed)
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/flights/events", string(e.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	waitCaughtUp(t, m, time.Minute)
	if now, err = m.Store.Flights(ctx, app.FlightFilter{Date: "2026-11-17"}); err != nil {
		t.Fatal(err)
	}
	var noGate []string
	for _, f := range now {
		site := f.Origin == "VIE" || f.Destination == "VIE"
		gone := f.Status == app.FlightArrived || f.Origin == "VIE" && f.Status == app.FlightDeparted
		if site && !gone && f.Status != app.FlightCancelled && f.Status != app.FlightDiverted && f.Gate == "" {
			noGate = append(noGate, app.FlightKey(f.Carrier, f.Number, f.Date))
		}
	}
	_, ng := askStream(t, m, `{"question":"which flights have no gate yet on 2026-11-17?"}`)
	t.Logf("no gate answer:\n%s", ng.Answer)
	wantHead := fmt.Sprintf("%d flight", len(noGate))
	if ng.Kind != app.AnswerFacts || len(ng.Facts) < 2 || !strings.HasPrefix(ng.Facts[0].Text, wantHead) || !strings.Contains(ng.Facts[0].Text, "with no gate yet") {
		t.Fatalf("%d flights with no gate in the store (%v): %+v", len(noGate), noGate, ng)
	}
	for _, k := range noGate {
		if !slices.Contains(ng.Citations, k) && len(noGate) <= 25 {
			t.Errorf("flight %s with no gate not cited: %v", k, ng.Citations)
		}
	}
	if !slices.Contains(noGate, lateKey) {
		t.Errorf("the departure whose gate was taken back (%s) is not among the store's: %v", lateKey, noGate)
	}

	// Policy: the passage that answers, quoted, whatever the model adds.
	checkFor(t, 3*time.Minute, func() error {
		fs, err := m.Fresh.Of(ctx, app.IndexConsumer, app.TopicDocuments)
		if err != nil || fs[0].Behind > 0 {
			return fmt.Errorf("index behind on documents: %+v %v", fs, err)
		}
		return nil
	})
	_, pol := askStream(t, m, `{"question":"What does the policy say about hotel vouchers for overnight cancellations?"}`)
	t.Logf("policy answer:\n%s\nsummary %q %+v findings %v", pol.Answer, pol.SummaryStatus, pol.Summary, pol.Findings)
	if pol.Kind != app.AnswerPolicy || len(pol.Passages) == 0 || pol.Passages[0].DocID != "policy-care" || pol.Passages[0].Heading != "Hotel accommodation" {
		t.Fatalf("policy answer %+v", pol)
	}
	if !strings.Contains(pol.Answer, "Hotel vouchers are issued at the transfer desk") {
		t.Fatalf("the passage is not quoted: %q", pol.Answer)
	}
	// The model was asked; its summary is shown only when it passed.
	switch pol.SummaryStatus {
	case "shown":
		if s, f := app.CheckSummary(fmt.Sprintf(`{"summary":%q,"citations":["policy-care"]}`, pol.Summary.Text), pol.Passages); s == nil {
			t.Fatalf("a shown summary fails the checks: %v", f)
		}
	case "refused":
		if len(pol.Findings) == 0 || pol.Summary != nil {
			t.Fatalf("refused without findings: %+v", pol)
		}
	default:
		t.Fatalf("summary status %q: the model did not answer", pol.SummaryStatus)
	}

	// A question whose words are not the documents': "pay" is what the
	// compensation sections say most, "taxi" is the hotel section's
	// transport, and that section answers.
	_, taxi := askStream(t, m, `{"question":"do we pay for taxis"}`)
	if taxi.Kind != app.AnswerPolicy || len(taxi.Passages) == 0 || taxi.Passages[0].DocID != "policy-care" || taxi.Passages[0].Heading != "Hotel accommodation" {
		t.Fatalf("do we pay for taxis: %+v", taxi)
	}

	// Things that do not exist, and questions the data does not answer.
	for _, q := range []string{"What is the gate of ZZ9999?", "Show booking 7QQQ2Z", "Who won the football last night?"} {
		_, na := askStream(t, m, fmt.Sprintf(`{"question":%q}`, q))
		if !na.NotInData || !strings.HasPrefix(na.Answer, "Not in the data") {
			t.Fatalf("%q: %+v", q, na)
		}
	}

	// The same question on the log: the answer comes back on the log with
	// the correlation id.
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/assist/events", assistRequest(t, "ask-1", app.AssistRequest{CorrelationID: "desk-7", Question: "hotel room overnight cancellation"})); code != 200 {
		t.Fatal(code, body)
	}
	a := waitAssistAnswer(t, m, "desk-7", 3*time.Minute)
	if a.Answer == nil || a.Answer.Freshness == "" || a.Answer.Kind != app.AnswerPolicy || len(a.Answer.Sources) == 0 {
		t.Fatalf("assist answer: %+v", a)
	}
}

func TestBenchAssistRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	var out strings.Builder
	if err := bench.Assist(context.Background(), &out, ollamaTestURL(), "gemma3:270m", 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "overhead ratio") || !strings.Contains(out.String(), "300 stranded bookings") {
		t.Fatalf("output: %s", out.String())
	}
}
