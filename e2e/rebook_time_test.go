package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// call sends an API request with token tok and decodes the JSON answer.
func (s *scenario) call(method, path, tok, body string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.m.HTTP.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// page fetches a console page with token tok.
func (s *scenario) page(path, tok string) string {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.m.HTTP.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// pendingFor waits for the pending proposal of a booking.
func (s *scenario) pendingFor(loc string) *app.Proposal {
	s.t.Helper()
	var got *app.Proposal
	checkFor(s.t, 10*time.Second, func() error {
		for _, p := range s.proposals(app.ProposalPending) {
			if p.Locator == loc {
				got = p
				return nil
			}
		}
		return fmt.Errorf("no pending proposal for %s", loc)
	})
	return got
}

// TestCancelledFirstLegRejoinsTheOnwardFlights: a CDG-CPH-HEL-OUL booking
// whose first leg is cancelled is rebooked onto a later CDG-CPH that
// still makes the booked CPH-HEL at Copenhagen's own minimum connection
// time (45 minutes, from the configuration), keeping both onward flights,
// ahead of a new journey that would arrive earlier.
func TestCancelledFirstLegRejoinsTheOnwardFlights(t *testing.T) {
	s := newScenario(t, func(c *node.Config) {
		c.Rebooking.MCTByAirport = map[string]node.Duration{"CPH": node.Duration(45 * time.Minute)}
	})
	sk1, sk2, ay3, af5 := "SK1-2026-11-25", "SK2-2026-11-25", "AY3-2026-11-25", "AF5-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "SK", "1", "CDG", "CPH", 9, 2, app.FlightScheduled, 3),
		s.flight("f2", "SK", "2", "CPH", "HEL", 13, 1.5, app.FlightScheduled, 3),
		s.flight("f3", "AY", "3", "HEL", "OUL", 16, 1, app.FlightScheduled, 3),
		s.flight("f4", "AF", "5", "CDG", "CPH", 10, 2.2, app.FlightScheduled, 3), // arrives 12:12: 48 minutes before SK2
		s.flight("f5", "AF", "7", "CDG", "HEL", 9.5, 3, app.FlightScheduled, 3),
		s.flight("f6", "AY", "9", "HEL", "OUL", 14, 1, app.FlightScheduled, 3), // with AF7: at OUL at 15:00, two hours earlier
	)
	s.ingest("bookings", s.booking("THREE1", "P1", "gold", nil, sk1, sk2, ay3))
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f7", "SK", "1", "CDG", "CPH", 9, 2, app.FlightCancelled, 3))
	p := s.pendingFor("THREE1")
	o := p.ChosenOption()
	if o == nil || strings.Join(o.Flights, ",") != af5 || strings.Join(o.Keeps, ",") != sk2+","+ay3 || o.Rejoin != "CPH" {
		t.Fatalf("chosen option %+v of %+v", o, p.Options)
	}
	if c := o.Connections; len(c) != 1 || c[0].Airport != "CPH" || c[0].Minutes != 48 || c[0].MinMinutes != 45 || !c[0].Kept {
		t.Fatalf("connections %+v", c)
	}
	// Then AF7 into the booked AY3 at Helsinki (keeps one flight), then
	// the new journey that arrives two hours earlier but keeps nothing.
	if len(p.Options) != 3 || strings.Join(p.Options[1].Keeps, ",") != ay3 || len(p.Options[2].Keeps) != 0 || !p.Options[2].Arrive.Before(o.Arrive) {
		t.Fatalf("order of preference: %+v", p.Options)
	}
	if p.RulesVersion != s.m.Config.RebookRules().Version() {
		t.Fatalf("rules version %q", p.RulesVersion)
	}
	// The API's need speaks snake_case, lists included.
	_, body := s.call("GET", "/api/v1/proposals/"+p.ID, s.tok, "")
	need, _ := body["proposal"].(map[string]any)["need"].(map[string]any)
	if need["pax"] != 1.0 || need["wchr"] != false || need["replace"] == nil || need["Pax"] != nil {
		t.Fatalf("need as JSON: %v", need)
	}
	if code, ex := s.approve(p.ID); code != 200 || ex.Outcome != app.ProposalExecuted || ex.Option != o.ID || !ex.Proposed {
		t.Fatalf("approve: %d %+v", code, ex)
	}
	checkFor(t, 10*time.Second, func() error {
		b, err := s.m.Store.Booking(context.Background(), "THREE1")
		if err != nil {
			return err
		}
		var got []string
		for _, sg := range b.Segments {
			got = append(got, sg.Flight)
		}
		if strings.Join(got, ",") != af5+","+sk2+","+ay3 {
			return fmt.Errorf("segments %v", got)
		}
		return nil
	})
}

// TestOptionGoneBeforeApproval: an approval after the option's boarding
// closed is refused with the flight and the reason, the proposal is
// planned again onto the next flight; when that one closes too with
// nothing after it, the proposal expires and the console says why.
func TestOptionGoneBeforeApproval(t *testing.T) {
	s := newScenario(t)
	lh400, lh402, lh406 := "LH400-2026-11-25", "LH402-2026-11-25", "LH406-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 3),
		s.flight("f3", "LH", "406", "FRA", "JFK", 16, 9, app.FlightScheduled, 3),
	)
	s.ingest("bookings", s.booking("LATE01", "P1", "none", []string{"UMNR"}, lh400))
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f4", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	first := s.pendingFor("LATE01")
	if o := first.ChosenOption(); o == nil || o.Flights[0] != lh402 {
		t.Fatalf("first proposal: %+v", first.Options)
	}
	// 12:45: LH402's boarding closed at 12:40 (20 minutes before).
	s.at(12.75)
	code, body := s.call("POST", "/api/v1/proposals/"+first.ID+"/approve", s.tok, "")
	msg, _ := body["error"].(string)
	if code != 409 || body["code"] != app.ECONFLICT || !strings.Contains(msg, "LH402") || !strings.Contains(msg, "boarding of LH402 closed at 12:40") {
		t.Fatalf("late approval: %d %v", code, body)
	}
	old, _ := s.m.Store.Proposal(context.Background(), first.ID)
	if old.Status != app.ProposalSuperseded || old.ReplacedBy == "" || !strings.Contains(msg, old.ReplacedBy) {
		t.Fatalf("after the refusal: %s replaced by %q; message %q", old.Status, old.ReplacedBy, msg)
	}
	second, _ := s.m.Store.Proposal(context.Background(), old.ReplacedBy)
	if o := second.ChosenOption(); second.Status != app.ProposalPending || o == nil || o.Flights[0] != lh406 || len(second.Options) != 1 {
		t.Fatalf("re-planned proposal: %+v", second)
	}
	if b, _ := s.m.Store.Booking(context.Background(), "LATE01"); b.Segments[0].Flight != lh400 {
		t.Fatal("a refused approval changed the booking")
	}
	// 15:50: LH406 closes too and nothing is left: the sweep expires it.
	s.at(15.84)
	if err := s.m.Proposer.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	expired, _ := s.m.Store.Proposal(context.Background(), second.ID)
	if expired.Status != app.ProposalExpired || !strings.Contains(expired.DecisionReason, "boarding of LH406 closed") {
		t.Fatalf("after the sweep: %s %q", expired.Status, expired.DecisionReason)
	}
	if ps := s.proposals(app.ProposalPending); len(ps) != 0 {
		t.Fatalf("still pending: %+v", ps)
	}
	page := s.page("/proposals/"+second.ID, s.tok)
	if !strings.Contains(page, `data-testid="expired"`) || !strings.Contains(page, "boarding of LH406 closed") || strings.Contains(page, `data-testid="approve`) {
		t.Fatalf("the console does not say why it expired, or offers to approve:\n%s", page)
	}
	_, body = s.call("GET", "/api/v1/proposals?status=expired", s.tok, "")
	if ps, _ := body["proposals"].([]any); len(ps) != 1 {
		t.Fatalf("expired proposals in the API: %v", body)
	}
}

// TestBulkApprovalExecutesEachOnce: two supervisors approve all proposals
// of one cancelled flight at the same time while an agent approves one
// of them: every booking moves exactly once.
func TestBulkApprovalExecutesEachOnce(t *testing.T) {
	s := newScenario(t)
	lh400, lh402 := "LH400-2026-11-25", "LH402-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 9),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 9),
	)
	var locs []string
	for i := range 6 {
		loc := fmt.Sprintf("BULK%02d", i)
		locs = append(locs, loc)
		s.ingest("bookings", s.booking(loc, "P"+loc, "none", nil, lh400))
	}
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f3", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 9))
	checkFor(t, 10*time.Second, func() error {
		if n := len(s.proposals(app.ProposalPending)); n != len(locs) {
			return fmt.Errorf("%d pending", n)
		}
		return nil
	})
	one := s.pendingFor(locs[3])
	var toks []string
	for _, name := range []string{"sup-a", "sup-b"} {
		tok := app.NewSecret("apron_")
		if _, err := s.m.Accounts.CreateToken(context.Background(), name, app.RoleSupervisor, app.HashSecret(tok), time.Now()); err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	// An agent may not approve a whole flight.
	if code, _ := s.call("POST", "/api/v1/flights/"+lh400+"/proposals/approve", s.tok, ""); code != 403 {
		t.Fatalf("agent bulk approval: %d", code)
	}
	var wg sync.WaitGroup
	executed := make([]float64, len(toks))
	for i, tok := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := s.call("POST", "/api/v1/flights/"+lh400+"/proposals/approve", tok, "")
			if code != 200 {
				t.Errorf("bulk approval %d: %d %v", i, code, body)
			}
			executed[i], _ = body["executed"].(float64)
		}()
	}
	wg.Add(1)
	var single app.Execution
	go func() {
		defer wg.Done()
		_, single = s.approve(one.ID)
	}()
	wg.Wait()
	n := int(executed[0] + executed[1])
	if single.Outcome == app.ProposalExecuted && !single.Repeated {
		n++
	}
	if n != len(locs) {
		t.Fatalf("%d executions (%v, single %+v), want one per booking (%d)", n, executed, single, len(locs))
	}
	checkFor(t, 10*time.Second, func() error {
		for _, loc := range locs {
			b, err := s.m.Store.Booking(context.Background(), loc)
			if err != nil || len(b.Segments) != 1 || b.Segments[0].Flight != lh402 {
				return fmt.Errorf("%s: %+v %v", loc, b, err)
			}
		}
		if left, _ := s.m.Store.SeatsLeft(context.Background(), lh402, "Y"); left != 9-len(locs) {
			return fmt.Errorf("%d seats left on LH402", left)
		}
		return nil
	})
	// One rebooking.executed per booking on the log.
	s.m.Proposer.Flush()
	checkFor(t, 10*time.Second, func() error {
		ti, _ := s.m.Broker.Topic(context.Background(), app.TopicRebookings)
		count := map[string]int{}
		for off := ti.FirstOffset; off <= ti.LastOffset && off > 0; off++ {
			le, err := s.m.Broker.Get(context.Background(), app.TopicRebookings, off)
			if err != nil {
				continue
			}
			var e struct {
				Type string            `json:"type"`
				Data app.RebookingData `json:"data"`
			}
			if json.Unmarshal(le.Data, &e) == nil && e.Type == app.TypeRebookingExecuted {
				count[e.Data.Locator]++
			}
		}
		for _, loc := range locs {
			if count[loc] != 1 {
				return fmt.Errorf("%s executed %d times on the log (%v)", loc, count[loc], count)
			}
		}
		return nil
	})
}

// TestApprovalWithoutABookingEngineSaysSo: with the booking engine
// stopped (in a cluster: no node holds the lease) an approval is put on
// the log but nobody decides it; the request ends with 503 saying so, and
// the engine decides the approval once it runs again.
func TestApprovalWithoutABookingEngineSaysSo(t *testing.T) {
	s := newScenario(t)
	s.cancelLH400("WAIT01")
	p := s.pendingFor("WAIT01")
	if err := s.m.Proposer.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	code, body := s.call("POST", "/api/v1/proposals/"+p.ID+"/approve", s.tok, "")
	msg, _ := body["error"].(string)
	if code != 503 || body["code"] != app.EUNAVAILABLE || !strings.Contains(msg, "no booking engine decided it") {
		t.Fatalf("approval without an engine: %d %v", code, body)
	}
	if got, _ := s.m.Store.Proposal(context.Background(), p.ID); got.Status != app.ProposalPending {
		t.Fatalf("undecided approval changed the proposal: %s", got.Status)
	}
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if got, _ := s.m.Store.Proposal(context.Background(), p.ID); got.Status != app.ProposalExecuted {
			return fmt.Errorf("proposal %s", got.Status)
		}
		return nil
	})
	// Asked again, the same approval is the one already decided.
	if code, ex := s.approve(p.ID); code != 200 || !ex.Repeated || ex.Outcome != app.ProposalExecuted {
		t.Fatalf("approval again: %d %+v", code, ex)
	}
}

// TestEnginePublishesAnOutcomesEventsAgain: the lease holder died after
// its outcome reached the log and before the booking change did (the
// outcome is appended here by hand, as that engine left it). The next
// booking engine to start publishes booking.changed and
// rebooking.executed, and the passenger moves.
func TestEnginePublishesAnOutcomesEventsAgain(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	lh400, lh402 := "LH400-2026-11-25", "LH402-2026-11-25"
	s.cancelLH400("LOST01")
	p := s.pendingFor("LOST01")
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	now := s.m.Clock()
	key := "proposal-LOST01" // the control topic's key of the booking's proposals
	cmd, _ := app.NewEvent("approve-by-hand", "apron/console", app.TypeProposalCommand, key, now,
		app.ProposalCommand{Kind: app.CommandApprove, ProposalID: p.ID, Locator: "LOST01", Flight: lh400, Key: "k-lost", Actor: "gate1", At: now})
	res, err := s.m.Broker.Append(ctx, app.TopicControl, []*app.Event{cmd})
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Millisecond)
	out, _ := app.NewEvent("outcome-by-hand", "apron/proposer", app.TypeProposalChanged, key, now, app.ProposalChange{
		Op: app.OpDecided, ProposalID: p.ID, Locator: "LOST01", Flight: lh400, At: now,
		Outcome: &app.Outcome{Command: res[0].Offset, Basis: res[0].Offset, Kind: app.CommandApprove, Result: app.ProposalExecuted, Detail: "moved 1 passenger(s) to " + lh402,
			Option: p.Chosen, Proposed: true, Key: "k-lost", Actor: "gate1", At: now, Holds: []app.SeatHold{{Flight: lh402, Cabin: "Y", Seats: 1, EventTime: at}}}})
	if _, err := s.m.Broker.Append(ctx, app.TopicControl, []*app.Event{out}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if got, _ := s.m.Store.Proposal(ctx, p.ID); got.Status != app.ProposalExecuted {
			return fmt.Errorf("proposal %s", got.Status)
		}
		return nil
	})
	if b, _ := s.m.Store.Booking(ctx, "LOST01"); b.Segments[0].Flight != lh400 {
		t.Fatalf("the booking moved without its event: %+v", b.Segments)
	}
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		b, err := s.m.Store.Booking(ctx, "LOST01")
		if err != nil || b.Segments[0].Flight != lh402 {
			return fmt.Errorf("booking %+v %v", b, err)
		}
		return nil
	})
	// The rebooking event goes on the log before the booking's change;
	// the planner, stopped above in the middle of its work, may send the
	// proposal's rebooking.proposed after it. The executed event must be
	// on the log once.
	checkFor(t, 10*time.Second, func() error {
		n := 0
		for _, le := range readAll(t, s.m, app.TopicRebookings) {
			if le.Key == "LOST01" && strings.Contains(string(le.Data), `"type":"`+app.TypeRebookingExecuted+`"`) {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%d rebooking.executed events of LOST01 on the log, want 1", n)
		}
		return nil
	})
}

// refusingLog is the node's log with appends to one topic refused the
// first n times: EUNAVAILABLE, as a topic whose leader is being elected
// refuses them, unless code says otherwise.
type refusingLog struct {
	app.Log
	topic string
	code  string
	typ   string // only appends with an event of this type ("" any)
	mu    sync.Mutex
	n     int
}

func (l *refusingLog) Append(ctx context.Context, topic string, events []*app.Event) ([]app.AppendResult, error) {
	l.mu.Lock()
	refuse := topic == l.topic && l.n > 0 && (l.typ == "" || slices.ContainsFunc(events, func(e *app.Event) bool { return e.Type == l.typ }))
	if refuse {
		l.n--
	}
	l.mu.Unlock()
	if refuse && l.code != "" {
		return nil, app.Errorf(l.code, "append to %s: refused by the test", topic)
	}
	if refuse {
		return nil, app.Errorf(app.EUNAVAILABLE, "append to %s: no leader elected yet", topic)
	}
	return l.Log.Append(ctx, topic, events)
}

func (l *refusingLog) left() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// TestEngineOutlastsARefusedPublish: the booking engine's outcome is on
// the log and believed, and then the rebookings topic refuses the
// outcome's rebooking.executed: for a while (its leader died with a
// node), or once with an error the engine does not retry in place. The
// engine keeps the decided outcome's events until the log takes them, or
// sends them again on its next round: the approval answers once,
// rebooking.executed is on the log once and the passenger moves. Before,
// the events were dropped with the error and nothing sent them later.
func TestEngineOutlastsARefusedPublish(t *testing.T) {
	for _, c := range []struct {
		name string
		log  *refusingLog
	}{
		{"unavailable three times", &refusingLog{topic: app.TopicRebookings, typ: app.TypeRebookingExecuted, n: 3}},
		// An error the engine does not retry in place ends the decision;
		// the engine's next round publishes what the state shows unsent.
		{"an internal error once", &refusingLog{topic: app.TopicRebookings, typ: app.TypeRebookingExecuted, n: 1, code: app.EINTERNAL}},
	} {
		t.Run(c.name, func(t *testing.T) { engineOutlastsARefusedPublish(t, c.log) })
	}
}

func engineOutlastsARefusedPublish(t *testing.T, refusing *refusingLog) {
	s := newScenario(t)
	ctx := context.Background()
	lh402 := "LH402-2026-11-25"
	s.cancelLH400("HOLD01")
	p := s.pendingFor("HOLD01")
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	refusing.Log = s.m.Proposer.Log
	s.m.Proposer.Log = refusing
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	if code, ex := s.approve(p.ID); code != 200 || ex.Outcome != app.ProposalExecuted {
		t.Fatalf("approval: %d %+v", code, ex)
	}
	checkFor(t, 20*time.Second, func() error {
		n := 0
		for _, le := range readAll(t, s.m, app.TopicRebookings) {
			if le.Key == "HOLD01" && strings.Contains(string(le.Data), `"type":"`+app.TypeRebookingExecuted+`"`) {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%d rebooking.executed events of HOLD01 on the log, want 1 (%d refusals left)", n, refusing.left())
		}
		b, err := s.m.Store.Booking(ctx, "HOLD01")
		if err != nil || b.Segments[0].Flight != lh402 {
			return fmt.Errorf("booking %+v %v", b, err)
		}
		return nil
	})
	if refusing.left() != 0 {
		t.Fatalf("the log refused %d appends fewer than it was set to: the test proved nothing", refusing.left())
	}
}

// TestPlannerPlansAgainAfterARefusedAppend: the control topic refuses the
// planner's proposals for a while (its leader died with a node). The
// planner plans the flight again after a backoff, and the booking gets
// its proposal; before, the disruption stayed unplanned until the flight
// changed again.
func TestPlannerPlansAgainAfterARefusedAppend(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	refusing := &refusingLog{Log: s.m.Proposer.Log, topic: app.TopicControl, typ: app.TypeProposalChanged, n: 2}
	s.m.Proposer.Log = refusing
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	s.cancelLH400("LATER1")
	p := s.pendingFor("LATER1")
	if refusing.left() != 0 {
		t.Fatalf("the control topic refused %d appends fewer than it was set to: the test proved nothing", refusing.left())
	}
	if len(p.Options) == 0 || p.Options[0].Flights[0] != "LH402-2026-11-25" {
		t.Fatalf("proposal after the refusals: %+v", p.Options)
	}
}

// TestPlannerPublishesAProposalAgain: the planner stored a proposal and
// then could not publish its rebooking.proposed (the append refused with
// an error it does not retry), as a planner that loses its lease between
// the two leaves it. The next planner to start (a lease move) plans the
// disruption again (the proposal's planned entry is stored again) and
// publishes the event under its first id: central gets it, once.
func TestPlannerPublishesAProposalAgain(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	refusing := &refusingLog{Log: s.m.Proposer.Log, topic: app.TopicRebookings, typ: app.TypeRebookingProposed, n: 1, code: app.EINTERNAL}
	s.m.Proposer.Log = refusing
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	s.cancelLH400("UNSENT")
	p := s.pendingFor("UNSENT")
	proposed := func() int {
		n := 0
		for _, le := range readAll(t, s.m, app.TopicRebookings) {
			if e, err := app.ParseTrusted(le.Data); err == nil && e.ID == "rebooking-proposed-"+p.ID {
				n++
			}
		}
		return n
	}
	checkFor(t, 10*time.Second, func() error {
		if refusing.left() != 0 {
			return fmt.Errorf("the planner has not tried to publish yet")
		}
		return nil
	})
	if n := proposed(); n != 0 {
		t.Fatalf("rebooking.proposed is %d times on the log after its append was refused", n)
	}
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if n := proposed(); n != 1 {
			return fmt.Errorf("rebooking.proposed of %s is %d times on the log, want 1", p.ID, n)
		}
		return nil
	})
	// A third planner stores nothing twice.
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.m.Proposer.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := proposed(); n != 1 {
		t.Fatalf("after another start rebooking.proposed of %s is %d times on the log", p.ID, n)
	}
}

// TestEnginePublishesFailuresAndRejectionsAgain: the lease holder died
// after a failed approval's and a rejection's outcomes reached the log
// and before their rebooking.failed and rebooking.rejected did (the
// outcomes are appended here by hand, as that engine left them). The
// next booking engine to start publishes both, under the ids the first
// engine would have used; one starting after it stores nothing twice.
func TestEnginePublishesFailuresAndRejectionsAgain(t *testing.T) {
	s := newScenario(t)
	ctx := context.Background()
	lh400, lh402 := "LH400-2026-11-25", "LH402-2026-11-25"
	s.cancelLH400("FAIL01", "REJE01")
	failed, rejected := s.pendingFor("FAIL01"), s.pendingFor("REJE01")
	if err := s.m.Proposer.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	now := s.m.Clock()
	decided := func(p *app.Proposal, cmd app.ProposalCommand, out app.Outcome) {
		t.Helper()
		key := "proposal-" + p.Locator
		ce, _ := app.NewEvent("command-by-hand-"+p.Locator, "apron/console", app.TypeProposalCommand, key, now, cmd)
		res, err := s.m.Broker.Append(ctx, app.TopicControl, []*app.Event{ce})
		if err != nil {
			t.Fatal(err)
		}
		out.Command, out.Basis, out.Kind, out.Actor, out.At = res[0].Offset, res[0].Offset, cmd.Kind, cmd.Actor, now
		oe, _ := app.NewEvent("outcome-by-hand-"+p.Locator, "apron/proposer", app.TypeProposalChanged, key, now, app.ProposalChange{
			Op: app.OpDecided, ProposalID: p.ID, Locator: p.Locator, Flight: lh400, At: now, Outcome: &out})
		if _, err := s.m.Broker.Append(ctx, app.TopicControl, []*app.Event{oe}); err != nil {
			t.Fatal(err)
		}
	}
	why := "only 0 seat(s) left in Y on " + lh402 + " for 1 passenger(s)"
	decided(failed, app.ProposalCommand{Kind: app.CommandApprove, ProposalID: failed.ID, Locator: "FAIL01", Flight: lh400, Key: "k-fail", Actor: "gate1", At: now},
		app.Outcome{Result: app.ProposalFailed, Detail: why, Option: failed.Chosen, Proposed: true, Key: "k-fail"})
	decided(rejected, app.ProposalCommand{Kind: app.CommandReject, ProposalID: rejected.ID, Locator: "REJE01", Flight: lh400, Reason: "the passenger stays in Frankfurt", Actor: "gate2", At: now},
		app.Outcome{Result: app.ProposalRejected, Reason: "the passenger stays in Frankfurt"})
	checkFor(t, 10*time.Second, func() error {
		for p, status := range map[*app.Proposal]string{failed: app.ProposalFailed, rejected: app.ProposalRejected} {
			if got, _ := s.m.Store.Proposal(ctx, p.ID); got.Status != status {
				return fmt.Errorf("proposal %s is %s, want %s", p.ID, got.Status, status)
			}
		}
		return nil
	})
	want := map[string]string{"rebooking-failed-" + failed.ID: app.TypeRebookingFailed, "rebooking-rejected-" + rejected.ID: app.TypeRebookingRejected}
	rebookings := func() map[string]int {
		counts := map[string]int{}
		for _, le := range readAll(t, s.m, app.TopicRebookings) {
			e, err := app.ParseTrusted(le.Data)
			if err == nil && want[e.ID] == e.Type {
				counts[e.ID]++
			}
		}
		return counts
	}
	if got := rebookings(); len(got) != 0 {
		t.Fatalf("before an engine started again the log holds %v", got)
	}
	for round := 1; round <= 2; round++ {
		if err := s.m.Proposer.Start(); err != nil {
			t.Fatal(err)
		}
		checkFor(t, 10*time.Second, func() error {
			if got := rebookings(); len(got) != len(want) {
				return fmt.Errorf("start %d: the log holds %v of %v", round, got, want)
			}
			return nil
		})
		if err := s.m.Proposer.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for id, n := range rebookings() {
		if n != 1 {
			t.Fatalf("%s is %d times on the log after two engines started", id, n)
		}
	}
	for _, le := range readAll(t, s.m, app.TopicRebookings) {
		if e, err := app.ParseTrusted(le.Data); err == nil && e.ID == "rebooking-failed-"+failed.ID && !strings.Contains(string(le.Data), why) {
			t.Fatalf("rebooking.failed of FAIL01 does not say why: %s", le.Data)
		}
	}
}

// cancelLH400 sets up LH400 and LH402 FRA→JFK with three seats each, a
// booking of one passenger on LH400 for each locator, and cancels LH400:
// the planner proposes LH402 for each.
func (s *scenario) cancelLH400(locators ...string) {
	s.t.Helper()
	lh400 := "LH400-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 3),
	)
	var bookings []string
	for i, l := range locators {
		bookings = append(bookings, s.booking(l, fmt.Sprintf("P%d", i+1), "none", nil, lh400))
	}
	s.ingest("bookings", bookings...)
	waitCaughtUp(s.t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f3", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
}
