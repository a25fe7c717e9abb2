package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// scenario is a small hand-made day around one cancellation.
type scenario struct {
	t   *testing.T
	m   *node.Main
	tok string
	day time.Time
	mu  sync.Mutex
	now time.Time // the node's clock: 07:00 of the day until advanced
}

// at sets the node's clock to hour (fractional) of the scenario's day.
func (s *scenario) at(hour float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = s.day.Add(time.Duration(hour * float64(time.Hour)))
}

func newScenario(t *testing.T, mutate ...func(*node.Config)) *scenario {
	cfg := node.DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.NATS.Addr = t.TempDir(), "127.0.0.1:0", ""
	cfg.Ollama.URL = "" // deterministic: the rules' choice; TestProposalsRankedByTheRealModel opts in
	for _, f := range mutate {
		f(&cfg)
	}
	m := node.NewMain(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	s := &scenario{t: t, m: m, day: day, now: day.Add(7 * time.Hour)}
	m.Clock = func() time.Time {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.now
	}
	m.Demo = true
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	s.tok = useToken(t, m, app.RoleAgent)
	return s
}

func (s *scenario) flight(id, carrier, number, o, d string, depHour float64, durH float64, status string, capY int) string {
	dep := s.day.Add(time.Duration(depHour * float64(time.Hour)))
	f := app.Flight{Flight: app.FlightKey(carrier, number, "2026-11-25"), Carrier: carrier, Number: number, Date: "2026-11-25", Origin: o, Destination: d,
		ScheduledDeparture: dep, ScheduledArrival: dep.Add(time.Duration(durH * float64(time.Hour))), Status: status, Capacity: map[string]int{"Y": capY}}
	at := s.day.Add(5 * time.Hour)
	if status != app.FlightScheduled {
		at = s.day.Add(6 * time.Hour)
	}
	e, _ := app.NewEvent(id, "central", app.TypeFlightStatus, f.Flight, at, f)
	return string(e.Raw)
}

func (s *scenario) booking(loc, pax, tier string, ssr []string, flights ...string) string {
	b := app.Booking{Locator: loc, Status: "active", Passengers: []app.BookingPassenger{{ID: pax, Name: "Pax " + pax, Tier: tier, SSR: ssr}}}
	for _, f := range flights {
		b.Segments = append(b.Segments, app.Segment{Flight: f, Cabin: "Y"})
	}
	e, _ := app.NewEvent("b-"+loc, "central", app.TypeBookingCreated, loc, s.day.Add(5*time.Hour), b)
	return string(e.Raw)
}

func (s *scenario) ingest(topic string, lines ...string) {
	s.t.Helper()
	if code, body := post(s.t, s.m.HTTP.URL()+"/api/v1/topics/"+topic+"/events", strings.Join(lines, "\n")); code != 200 {
		s.t.Fatalf("ingest %s: %d %v", topic, code, body)
	}
}

func (s *scenario) proposals(status string) []*app.Proposal {
	ps, err := s.m.Store.Proposals(context.Background(), app.ProposalFilter{Status: status})
	if err != nil {
		s.t.Fatal(err)
	}
	return ps
}

func (s *scenario) approve(id string) (int, app.Execution) {
	s.t.Helper()
	req, _ := http.NewRequest("POST", s.m.HTTP.URL()+"/api/v1/proposals/"+id+"/approve", nil)
	req.Header.Set("Authorization", "Bearer "+s.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Execution app.Execution `json:"execution"`
	}
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body.Execution
}

func TestCancellationToApprovedRebooking(t *testing.T) {
	s := newScenario(t)
	lh400, lh402, lh404, aa100 := "LH400-2026-11-25", "LH402-2026-11-25", "LH404-2026-11-25", "AA100-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 2),
		s.flight("f3", "LH", "404", "FRA", "BOS", 12, 8, app.FlightScheduled, 3),
		s.flight("f4", "AA", "100", "BOS", "JFK", 21, 1.5, app.FlightScheduled, 5),
	)
	s.ingest("bookings",
		s.booking("GOLD01", "P1", "gold", nil, lh400),
		s.booking("MINOR1", "P2", "none", []string{"UMNR"}, lh400),
		s.booking("PLAIN1", "P3", "none", nil, lh400),
		s.booking("OTHER1", "P4", "none", nil, lh402), // LH402 keeps one seat
	)
	waitCaughtUp(t, s.m, 10*time.Second)
	if ps := s.proposals(""); len(ps) != 0 {
		t.Fatalf("proposals before any disruption: %d", len(ps))
	}
	// Central cancels LH400.
	s.ingest("flights", s.flight("f5", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	var ps []*app.Proposal
	checkFor(t, 10*time.Second, func() error {
		if ps = s.proposals(app.ProposalPending); len(ps) != 3 {
			return fmt.Errorf("%d pending proposals", len(ps))
		}
		return nil
	})
	byLoc := map[string]*app.Proposal{}
	for _, p := range ps {
		byLoc[p.Locator] = p
		if p.Flight != lh400 || p.Reason != app.ReasonCancelled {
			t.Fatalf("proposal %+v", p)
		}
	}
	// The minor is served first and gets the last seat on the direct LH402;
	// the gold member next, via Boston; nobody else is offered LH402 first.
	minor, gold, plain := byLoc["MINOR1"], byLoc["GOLD01"], byLoc["PLAIN1"]
	if minor.Rank != 1 || gold.Rank != 2 || plain.Rank != 3 {
		t.Fatalf("ranks: minor %d gold %d plain %d", minor.Rank, gold.Rank, plain.Rank)
	}
	if o := minor.ChosenOption(); o == nil || o.Flights[0] != lh402 {
		t.Fatalf("minor's choice: %+v", minor.ChosenOption())
	}
	if o := gold.ChosenOption(); o == nil || strings.Join(o.Flights, ",") != lh404+","+aa100 {
		t.Fatalf("gold's choice: %+v", gold.ChosenOption())
	}
	if minor.ModelRationale || !strings.Contains(minor.Rationale, "No model rationale") {
		t.Fatalf("rationale: %q", minor.Rationale)
	}

	// Approve the minor's proposal: the booking moves once.
	code, ex := s.approve(minor.ID)
	if code != 200 || ex.Outcome != app.ProposalExecuted || ex.Repeated {
		t.Fatalf("approve: %d %+v", code, ex)
	}
	checkFor(t, 10*time.Second, func() error {
		b, err := s.m.Store.Booking(context.Background(), "MINOR1")
		if err != nil {
			return err
		}
		if len(b.Segments) != 1 || b.Segments[0].Flight != lh402 {
			return fmt.Errorf("booking segments %+v", b.Segments)
		}
		// The booking change and rebooking.executed go to two topics:
		// the booking may show moved before the event is on the log.
		if r, err := s.m.Broker.Topic(context.Background(), app.TopicRebookings); err != nil || r.Messages < 4 {
			return fmt.Errorf("rebookings topic holds %d events (%v), want the executed one too", r.Messages, err)
		}
		return nil
	})
	rebookings, _ := s.m.Broker.Topic(context.Background(), app.TopicRebookings)
	bookings, _ := s.m.Broker.Topic(context.Background(), app.TopicBookings)
	// Approving again changes nothing.
	code, ex = s.approve(minor.ID)
	if code != 200 || !ex.Repeated {
		t.Fatalf("second approval: %d %+v", code, ex)
	}
	// Anything the second approval queued would be published by now.
	s.m.Proposer.Flush()
	checkFor(t, 5*time.Second, func() error {
		items, err := s.m.Store.Outbox(context.Background(), 10)
		if err != nil || len(items) > 0 {
			return fmt.Errorf("outbox still holds %d events (%v)", len(items), err)
		}
		return nil
	})
	r2, _ := s.m.Broker.Topic(context.Background(), app.TopicRebookings)
	b2, _ := s.m.Broker.Topic(context.Background(), app.TopicBookings)
	if r2.LastOffset != rebookings.LastOffset || b2.LastOffset != bookings.LastOffset {
		t.Fatalf("second approval published again: rebookings %d->%d bookings %d->%d", rebookings.LastOffset, r2.LastOffset, bookings.LastOffset, b2.LastOffset)
	}
	// 3 proposed + 1 executed on rebookings; the booking change on bookings.
	if rebookings.Messages != 4 {
		t.Fatalf("rebookings topic holds %d events", rebookings.Messages)
	}

	// Someone else takes the seats on LH404 before the gold proposal is
	// approved: the engine refuses and a fresh proposal is planned.
	s.ingest("bookings", strings.Replace(s.booking("SNEAKY", "P9", "none", nil, lh404), `"passengers":[`, `"passengers":[{"id":"P10","name":"B"},{"id":"P11","name":"C"},`, 1))
	checkFor(t, 10*time.Second, func() error {
		left, _ := s.m.Store.SeatsLeft(context.Background(), lh404, "Y")
		if left != 0 {
			return fmt.Errorf("%d seats left on LH404", left)
		}
		return nil
	})
	code, ex = s.approve(gold.ID)
	if code != 409 || ex.Outcome != app.ProposalFailed || !strings.Contains(ex.Detail, "seat") || ex.NewID == "" {
		t.Fatalf("approval with the seat gone: %d %+v", code, ex)
	}
	fresh, err := s.m.Store.Proposal(context.Background(), ex.NewID)
	if err != nil || fresh.Status != app.ProposalPending || fresh.Locator != "GOLD01" {
		t.Fatalf("fresh proposal: %+v %v", fresh, err)
	}
	if b, _ := s.m.Store.Booking(context.Background(), "GOLD01"); b.Segments[0].Flight != lh400 {
		t.Fatal("a failed execution changed the booking")
	}

	// Re-planning after the failure also looked at the plain booking's
	// proposal: its only option lost its seats, nothing replaces it, so it
	// expired and says why.
	if old, _ := s.m.Store.Proposal(context.Background(), plain.ID); old.Status != app.ProposalExpired || !strings.Contains(old.DecisionReason, "no seats left") {
		t.Fatalf("plain's proposal: %s %q", old.Status, old.DecisionReason)
	}
	plain = fresh
	// An approval of an option the proposal does not have executes
	// nothing: the person must look again.
	stale, _ := http.NewRequest("POST", s.m.HTTP.URL()+"/api/v1/proposals/"+plain.ID+"/approve", strings.NewReader(`{"option":"opt-99"}`))
	stale.Header.Set("Authorization", "Bearer "+s.tok)
	if resp, _ := http.DefaultClient.Do(stale); resp.StatusCode != 409 {
		t.Fatalf("stale approval: %d", resp.StatusCode)
	}
	if p, _ := s.m.Store.Proposal(context.Background(), plain.ID); p.Status != app.ProposalPending {
		t.Fatalf("a stale approval changed the proposal: %s", p.Status)
	}
	// A rejection needs a reason and is recorded.
	req, _ := http.NewRequest("POST", s.m.HTTP.URL()+"/api/v1/proposals/"+plain.ID+"/reject", strings.NewReader(`{"reason":""}`))
	req.Header.Set("Authorization", "Bearer "+s.tok)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 400 {
		t.Fatalf("reject without reason: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", s.m.HTTP.URL()+"/api/v1/proposals/"+plain.ID+"/reject", strings.NewReader(`{"reason":"passenger prefers tomorrow"}`))
	req.Header.Set("Authorization", "Bearer "+s.tok)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 200 {
		t.Fatalf("reject: %d", resp.StatusCode)
	}
	p, _ := s.m.Store.Proposal(context.Background(), plain.ID)
	if p.Status != app.ProposalRejected || p.DecidedBy != "token:agent-client" || p.DecisionReason != "passenger prefers tomorrow" {
		t.Fatalf("rejected proposal: %+v", p)
	}
	checkFor(t, 5*time.Second, func() error {
		ti, _ := s.m.Broker.Topic(context.Background(), app.TopicRebookings)
		if ti.Messages < 8 { // + failed, + fresh proposed, + expired, + rejected
			return fmt.Errorf("rebookings topic holds %d", ti.Messages)
		}
		return nil
	})
	// A viewer may not approve.
	vt := tokenFor(t, s.m, app.RoleViewer)
	req, _ = http.NewRequest("POST", s.m.HTTP.URL()+"/api/v1/proposals/"+ex.NewID+"/approve", nil)
	req.Header.Set("Authorization", "Bearer "+vt)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 403 {
		t.Fatalf("viewer approval: %d", resp.StatusCode)
	}
	waitCaughtUp(t, s.m, 10*time.Second)
	diff, err := node.CheckStore(context.Background(), s.m.Broker, s.m.Store, t.TempDir()+"/check.db", s.m.Broker.Trusted)
	if err != nil || len(diff) > 0 {
		t.Fatalf("state differs from rebuild: %v %v", diff, err)
	}
}

// TestProposalsRankedByTheRealModel lets the real chat model rank the
// proposals of a cancellation: whatever it answers, the proposal keeps a
// valid option, and a model rationale is kept only when the validator
// accepted it.
func TestProposalsRankedByTheRealModel(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	s := newScenario(t, func(c *node.Config) {
		c.Ollama.URL = ollamaTestURL()
		c.Ollama.Timeout = node.Duration(3 * time.Minute)
	})
	lh400 := "LH400-2026-11-25"
	s.ingest("documents", policyEvent(t, "policy-rebooking", "Rebooking after cancellation", "Offer the earliest alternative to the same final destination."))
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 5),
		s.flight("f3", "LH", "404", "FRA", "BOS", 12, 8, app.FlightScheduled, 5),
		s.flight("f4", "AA", "100", "BOS", "JFK", 22, 1.5, app.FlightScheduled, 5), // two valid options: something to rank
	)
	s.ingest("bookings", s.booking("RANK01", "P1", "gold", []string{"WCHR"}, lh400))
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f5", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	var p *app.Proposal
	checkFor(t, 5*time.Minute, func() error {
		ps := s.proposals(app.ProposalPending)
		if len(ps) != 1 || len(ps[0].Options) < 2 {
			return fmt.Errorf("%d proposals", len(ps))
		}
		if ps[0].PromptHash == "" {
			return fmt.Errorf("not ranked yet")
		}
		p = ps[0]
		return nil
	})
	t.Logf("model=%s digest=%s model_rationale=%v choice=%s rationale=%q", p.Model, p.ModelDigest, p.ModelRationale, p.Chosen, p.Rationale)
	if p.Model != "gemma3:270m" || len(p.ModelDigest) != 64 || p.ChosenOption() == nil {
		t.Fatalf("ranked proposal: %+v", p)
	}
	if p.ModelRationale {
		// The kept rationale is the node's composition of validated reasons.
		if !strings.HasPrefix(p.Rationale, "Chose "+p.Chosen+" (") || !strings.Contains(p.Rationale, " for ") {
			t.Fatalf("a model rationale not composed from validated reasons: %q", p.Rationale)
		}
	} else if !strings.Contains(p.Rationale, "No model rationale") {
		t.Fatalf("fallback without the mark: %q", p.Rationale)
	}
}

func ollamaTestURL() string {
	if u := os.Getenv("APRON_OLLAMA_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:11434"
}

func policyEvent(t *testing.T, id, title, body string) string {
	e, err := app.NewEvent("doc-"+id, "central", app.TypeDocumentUpserted, id, time.Date(2026, 11, 25, 4, 0, 0, 0, time.UTC),
		app.Document{ID: id, Title: title, Body: body, Tags: []string{"rebooking"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Raw)
}

// assistRequest builds an assist.requested event.
func assistRequest(t *testing.T, id string, req app.AssistRequest) string {
	e, err := app.NewEvent(id, "site-app", app.TypeAssistRequested, req.CorrelationID, time.Now(), req)
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Raw)
}

// waitAssistAnswer waits for the assist.answered event of a correlation id.
func waitAssistAnswer(t *testing.T, m *node.Main, correlation string, d time.Duration) app.AssistAnswer {
	var ans app.AssistAnswer
	checkFor(t, d, func() error {
		ti, _ := m.Broker.Topic(context.Background(), app.TopicAssist)
		for off := ti.FirstOffset; off <= ti.LastOffset && off > 0; off++ {
			le, err := m.Broker.Get(context.Background(), app.TopicAssist, off)
			if err != nil {
				continue
			}
			var e struct {
				Type string           `json:"type"`
				Data app.AssistAnswer `json:"data"`
			}
			if json.Unmarshal(le.Data, &e) == nil && e.Type == app.TypeAssistAnswered && e.Data.CorrelationID == correlation {
				ans = e.Data
				return nil
			}
		}
		return fmt.Errorf("no answer for %s yet", correlation)
	})
	return ans
}

func TestAssistRequestsOnTheLog(t *testing.T) {
	s := newScenario(t)
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 5))
	s.ingest("bookings", s.booking("ASSIST", "P1", "none", nil, "LH400-2026-11-25"))
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f3", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	// Planning is asynchronous: the answer holds the proposals there are
	// when the request is read, so wait for the one the rules make.
	checkFor(t, 20*time.Second, func() error {
		if n := len(s.proposals(app.ProposalPending)); n != 1 {
			return fmt.Errorf("%d pending proposals", n)
		}
		return nil
	})
	// A site application asks for the proposals of the cancelled flight.
	s.ingest("assist", assistRequest(t, "req-1", app.AssistRequest{CorrelationID: "corr-1", Kind: "proposals", Flight: "LH400-2026-11-25"}))
	ans := waitAssistAnswer(t, s.m, "corr-1", 20*time.Second)
	if ans.RequestID != "req-1" || len(ans.Proposals) != 1 || ans.Error != "" {
		t.Fatalf("proposals answer: %+v", ans)
	}
	// A question needs no model: the facts come from the state store.
	s.ingest("assist", assistRequest(t, "req-2", app.AssistRequest{CorrelationID: "corr-2", Question: "Which passengers are on the cancelled LH400?"}))
	if ans := waitAssistAnswer(t, s.m, "corr-2", 20*time.Second); ans.Error != "" || ans.Answer == nil || ans.Answer.Kind != app.AnswerFacts ||
		!strings.Contains(ans.Answer.Answer, "(booking ASSIST") || !strings.Contains(ans.Answer.Answer, "cancelled") {
		t.Fatalf("question without models: %+v", ans)
	}
	// The same request again (a retry) is answered once.
	s.ingest("assist", assistRequest(t, "req-1", app.AssistRequest{CorrelationID: "corr-1", Kind: "proposals", Flight: "LH400-2026-11-25"}))
	ti, _ := s.m.Broker.Topic(context.Background(), app.TopicAssist)
	if ti.Messages != 4 {
		t.Fatalf("assist topic holds %d events, want 2 requests and 2 answers", ti.Messages)
	}
}

// TestSimulatedDayCancellationsGetProposals plays a simulated day and checks
// that every active booking on a cancelled flight has a pending proposal
// whose choice is one of its options.
func TestSimulatedDayCancellationsGetProposals(t *testing.T) {
	// The real models rank in the background meanwhile (when not -short).
	s := newScenario(t, func(c *node.Config) {
		if !testing.Short() {
			c.Ollama.URL = ollamaTestURL()
		}
	})
	day := sim.Generate(sim.Config{Seed: 21, Date: "2026-11-25", Departures: 300})
	// The morning only: later flights are still bookable alternatives.
	var morning []sim.Timed
	for _, te := range day.Events {
		if te.At.Before(day.Start.Add(5 * time.Hour)) {
			morning = append(morning, te)
		}
	}
	day.Events = morning
	if err := sim.Play(context.Background(), s.m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, s.m, 30*time.Second)
	ctx := context.Background()
	cancelled, err := s.m.Store.Flights(ctx, app.FlightFilter{Status: app.FlightCancelled})
	if err != nil || len(cancelled) == 0 {
		t.Fatalf("no cancelled flight in the day: %v", err)
	}
	want := map[string]bool{}
	for _, f := range cancelled {
		bs, _ := s.m.Store.BookingsOnFlight(ctx, f.Flight.Flight)
		for _, b := range bs {
			if b.Status == app.BookingActive {
				want[b.Locator] = true
			}
		}
	}
	all := s.proposals("")
	reasons := map[string]int{}
	for _, p := range all {
		reasons[p.Status+"/"+p.Reason]++
	}
	t.Logf("proposals so far: %v", reasons)
	// Every booking on a cancelled flight has a proposal that is pending,
	// or that expired because the day moved on and left no option (the
	// morning's later status events make options depart): never none.
	checkFor(t, 30*time.Second, func() error {
		got := map[string]bool{}
		for _, p := range s.proposals("") {
			if p.Reason != app.ReasonCancelled {
				continue
			}
			switch {
			case p.Status == app.ProposalPending:
				got[p.Locator] = true
			case p.Status == app.ProposalExpired && strings.Contains(p.DecisionReason, "no option left"):
				got[p.Locator] = true
			}
			if p.Chosen != "" && p.ChosenOption() == nil {
				return fmt.Errorf("proposal %s chose %s, not one of its options", p.ID, p.Chosen)
			}
		}
		for loc := range want {
			if !got[loc] {
				return fmt.Errorf("booking %s on a cancelled flight has no proposal (%d of %d)", loc, len(got), len(want))
			}
		}
		return nil
	})
	t.Logf("%d cancelled flights, %d affected bookings, all with a proposal", len(cancelled), len(want))

	// Approve one with an option: the booking changes once and the events
	// are in the log; approving again changes nothing.
	var pick *app.Proposal
	for _, p := range s.proposals(app.ProposalPending) {
		if p.Reason == app.ReasonCancelled && p.ChosenOption() != nil {
			pick = p
			break
		}
	}
	if pick == nil {
		t.Fatal("no cancelled booking has a valid option in the simulated day")
	}
	code, ex := s.approve(pick.ID)
	if code != 200 || ex.Outcome != app.ProposalExecuted {
		t.Fatalf("approve %s: %d %+v", pick.ID, code, ex)
	}
	checkFor(t, 30*time.Second, func() error {
		b, err := s.m.Store.Booking(ctx, pick.Locator)
		if err != nil {
			return err
		}
		for _, sg := range b.Segments {
			if sg.Flight == pick.Flight {
				return fmt.Errorf("still on %s", pick.Flight)
			}
		}
		for _, id := range []string{"rebooking-executed-" + pick.ID, "rebooking-booking-" + pick.ID} {
			found := false
			for _, topic := range []string{app.TopicRebookings, app.TopicBookings} {
				ti, _ := s.m.Broker.Topic(ctx, topic)
				for off := ti.LastOffset; off > 0 && off+50 > ti.LastOffset; off-- {
					if le, err := s.m.Broker.Get(ctx, topic, off); err == nil && strings.Contains(string(le.Data), `"id":"`+id+`"`) {
						found = true
					}
				}
			}
			if !found {
				return fmt.Errorf("%s not in the log yet", id)
			}
		}
		return nil
	})
	if code, ex := s.approve(pick.ID); code != 200 || !ex.Repeated {
		t.Fatalf("second approval: %d %+v", code, ex)
	}
}
