package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
)

// lastSeat is two bookings whose flights were cancelled, both offered
// the one seat of the same flight, set up on a cluster of processes as
// TestClusterSellsTheLastSeatOnce does in one.
type lastSeat struct {
	flight  string   // the flight with one seat
	flights int      // flight events it posted
	locs    []string // the two bookings
}

// postOn posts NDJSON lines to pn's topic until acknowledged (the
// cluster may be electing a topic's leader; the same ids are stored once).
func postOn(t *testing.T, pn *procNode, topic string, lines ...string) {
	t.Helper()
	checkFor(t, 2*time.Minute, func() error {
		if code, body := post(t, "http://"+pn.http+"/api/v1/topics/"+topic+"/events", strings.Join(lines, "\n")); code != 200 {
			return fmt.Errorf("ingest %s on %s: %d %v", topic, pn.name, code, body)
		}
		return nil
	})
}

// proposalsOn returns the proposals pn shows (status "" for all).
func proposalsOn(t *testing.T, pn *procNode, status string) ([]*app.Proposal, error) {
	t.Helper()
	resp, err := authGet("http://" + pn.http + "/api/v1/proposals?limit=5000&status=" + status)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pn.name, err)
	}
	defer resp.Body.Close()
	var body struct {
		Proposals []*app.Proposal `json:"proposals"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: proposals: %d %v", pn.name, resp.StatusCode, err)
	}
	return body.Proposals, nil
}

// pendingOn waits until pn shows a pending proposal of booking loc.
func pendingOn(t *testing.T, pn *procNode, loc string) *app.Proposal {
	t.Helper()
	var got *app.Proposal
	checkFor(t, 2*time.Minute, func() error {
		ps, err := proposalsOn(t, pn, app.ProposalPending)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Locator == loc && p.ChosenOption() != nil {
				got = p
				return nil
			}
		}
		return fmt.Errorf("%s shows no pending proposal of %s", pn.name, loc)
	})
	return got
}

// setUpLastSeat posts the flights and bookings through the nodes and
// waits until the planner has offered both bookings the last seat.
func setUpLastSeat(t *testing.T, c *procCluster) *lastSeat {
	t.Helper()
	now := time.Now()
	lh400, f1 := clusterFlight(t, "s1", "400", now.Add(3*time.Hour), app.FlightScheduled, 3)
	// LH404 is full with BBBBBB, so it is no option for AAAAAA.
	lh404, f2 := clusterFlight(t, "s2", "404", now.Add(3*time.Hour+30*time.Minute), app.FlightScheduled, 1)
	lh402, f3 := clusterFlight(t, "s3", "402", now.Add(6*time.Hour), app.FlightScheduled, 1)
	ls := &lastSeat{flight: lh402, flights: 5, locs: []string{"AAAAAA", "BBBBBB"}}
	postOn(t, c.nodes[0], app.TopicFlights, f1, f2, f3)
	postOn(t, c.nodes[1], app.TopicBookings, clusterBooking(t, "AAAAAA", lh400), clusterBooking(t, "BBBBBB", lh404))
	for _, pn := range c.nodes {
		checkFor(t, 2*time.Minute, func() error {
			resp, err := authGet("http://" + pn.http + "/api/v1/bookings/BBBBBB")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s: booking BBBBBB: %d", pn.name, resp.StatusCode)
			}
			return nil
		})
	}
	// One cancellation after the other: each booking is offered LH402's
	// one seat while nobody holds it yet.
	_, c1 := clusterFlight(t, "s4", "400", now.Add(3*time.Hour), app.FlightCancelled, 3)
	postOn(t, c.nodes[2], app.TopicFlights, c1)
	pendingOn(t, c.nodes[0], "AAAAAA")
	_, c2 := clusterFlight(t, "s5", "404", now.Add(3*time.Hour+30*time.Minute), app.FlightCancelled, 1)
	postOn(t, c.nodes[2], app.TopicFlights, c2)
	pendingOn(t, c.nodes[1], "BBBBBB")
	for i, loc := range ls.locs {
		if o := pendingOn(t, c.nodes[i], loc).ChosenOption(); o.Flights[0] != lh402 {
			t.Fatalf("%s is offered %v, want %s", loc, o.Flights, lh402)
		}
	}
	return ls
}

type approvalAnswer struct {
	node        string
	code        int
	body        map[string]any
	took        time.Duration
	tries       int
	unavailable string // the first 503's reason
}

// approveAtOnce approves the two bookings' proposals at the same moment,
// one through each node of via, and requires that exactly one executes
// (200) and the other fails for want of the seat (409 with the reason:
// the engine's failure, or the proposal's expiry when the planner saw
// the seat sold first).
// An answer of 503 (the command is on the log, no engine decided it in
// time) is sent again with the same idempotency key, as a client would.
// It returns the executed proposal's id.
func (ls *lastSeat) approveAtOnce(t *testing.T, via []*procNode) string {
	t.Helper()
	ps := []*app.Proposal{pendingOn(t, via[0], ls.locs[0]), pendingOn(t, via[1], ls.locs[1])}
	answers := make([]approvalAnswer, 2)
	var wg sync.WaitGroup
	for i := range via {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			an := approvalAnswer{node: via[i].name}
			for {
				an.tries++
				an.code, an.body = post(t, "http://"+via[i].http+"/api/v1/proposals/"+ps[i].ID+"/approve", "")
				if an.code != 503 || time.Since(start) > 2*time.Minute {
					break
				}
				if an.unavailable == "" {
					an.unavailable = fmt.Sprint(an.body["error"])
				}
				time.Sleep(500 * time.Millisecond)
			}
			an.took = time.Since(start)
			answers[i] = an
		}()
	}
	wg.Wait()
	var winner string
	lost := 0
	for _, an := range answers {
		t.Logf("approval through %s answered %d after %s (%d tries; first 503: %q)", an.node, an.code, an.took.Round(time.Millisecond), an.tries, an.unavailable)
		ex, _ := an.body["execution"].(map[string]any)
		switch {
		case an.code == 200 && ex["outcome"] == app.ProposalExecuted && winner == "":
			winner = fmt.Sprint(ex["proposal_id"])
		case an.code == 409 && ex["outcome"] == app.ProposalFailed && strings.Contains(fmt.Sprint(ex["detail"]), "seat(s) left"):
			lost++
			t.Logf("the approval through %s lost: %v", an.node, ex["detail"])
		case an.code == 409 && strings.Contains(fmt.Sprint(an.body["error"]), "is expired") && strings.Contains(fmt.Sprint(an.body["error"]), "no seats left"):
			// The planner (a new holder's, planning the disruption again)
			// saw the seat sold first and expired the other proposal.
			lost++
			t.Logf("the approval through %s lost: %v", an.node, an.body["error"])
		default:
			t.Fatalf("approval through %s: %d %v (answers %+v)", an.node, an.code, an.body, answers)
		}
	}
	if winner == "" || lost != 1 {
		t.Fatalf("want one approval executed and one failed: %+v", answers)
	}
	return winner
}

// requireOneExecution waits until every node shows the winner's proposal
// executed, one booking on the flight with the seat, and no other
// proposal of the two bookings executed.
func (ls *lastSeat) requireOneExecution(t *testing.T, nodes []*procNode, winner string) {
	t.Helper()
	for _, pn := range nodes {
		checkFor(t, 2*time.Minute, func() error {
			ps, err := proposalsOn(t, pn, "")
			if err != nil {
				return err
			}
			var executed []string
			for _, p := range ps {
				if p.Status == app.ProposalExecuted {
					executed = append(executed, p.ID)
				}
			}
			if len(executed) != 1 || executed[0] != winner {
				return fmt.Errorf("%s shows executed proposals %v, want only %s", pn.name, executed, winner)
			}
			moved := 0
			for _, loc := range ls.locs {
				var body struct {
					Booking app.Booking `json:"booking"`
				}
				code, err := getJSON("http://"+pn.http+"/api/v1/bookings/"+loc, &body)
				if err != nil || code != 200 {
					return fmt.Errorf("%s: booking %s: %d %v", pn.name, loc, code, err)
				}
				if len(body.Booking.Segments) > 0 && body.Booking.Segments[0].Flight == ls.flight {
					moved++
				}
			}
			if moved != 1 {
				return fmt.Errorf("%s: %d bookings on %s, want 1", pn.name, moved, ls.flight)
			}
			return nil
		})
	}
}

// getJSON decodes the answer of an authorised GET into v.
func getJSON(url string, v any) (int, error) {
	resp, err := authGet(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}
