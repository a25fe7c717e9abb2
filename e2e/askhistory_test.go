package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// askAs posts a question with the API token tok and returns the answer.
func askAs(t *testing.T, m *node.Main, tok, question string) app.AskAnswer {
	t.Helper()
	req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/ask", strings.NewReader(fmt.Sprintf(`{"question": %q}`, question)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans app.AskAnswer
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&ans) != nil {
		t.Fatalf("ask %q: %d", question, resp.StatusCode)
	}
	return ans
}

type historyPage struct {
	Questions []app.AskRecord `json:"questions"`
	Next      string          `json:"next"`
	Error     string          `json:"error"`
}

// historyAs reads a page of the question history with the token tok.
func historyAs(t *testing.T, m *node.Main, tok, path string) (int, historyPage) {
	t.Helper()
	req, _ := http.NewRequest("GET", m.HTTP.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page historyPage
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode, page
}

// TestAskHistoryThroughTheAPI asks a node fed a simulated day as two
// machine clients and a person in the console, and reads the history
// back: each sees their own questions with the answer, its sources and
// freshness; an admin sees everyone's, page by page along the next links.
func TestAskHistoryThroughTheAPI(t *testing.T) {
	day := sim.Generate(sim.Config{Seed: 3, Date: "2026-11-25", Departures: 4, Bookings: 10})
	clock := sim.NewClock(day.Start.Add(6*time.Hour), 0)
	m := mustRunMainOn(t, clock.Now, func(c *node.Config) { c.Hub = "FRA" })
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var flight *app.Flight
	for _, f := range day.Flights {
		if flight == nil || f.Flight < flight.Flight {
			flight = f
		}
	}
	checkFor(t, time.Minute, func() error {
		_, err := m.Store.Flight(context.Background(), flight.Flight)
		return err
	})
	desk, wall, admin := namedToken(t, m, "desk-3", app.RoleAgent), namedToken(t, m, "wallboard", app.RoleAgent), namedToken(t, m, "ops", app.RoleAdmin)
	question := "what is the status of " + flight.Carrier + flight.Number + "?"
	ans := askAs(t, m, desk, question)
	if ans.Kind != app.AnswerFacts || len(ans.Sources) == 0 || ans.Freshness == "" {
		t.Fatalf("a facts answer with sources and freshness expected: %+v", ans)
	}
	askAs(t, m, wall, "which flights are cancelled today?")
	askAs(t, m, desk, "gate of "+flight.Carrier+flight.Number)

	// A person in the console: the same API, with a session.
	addUser(t, m, "maria", app.RoleAgent, "correct horse battery")
	c := browser(t)
	login(t, c, m.HTTP.URL(), "maria", "correct horse battery")
	req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/ask", strings.NewReader(`{"question": "hotel vouchers after a cancellation?"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", m.HTTP.URL())
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ask in the console: %v %v", resp, err)
	}
	resp.Body.Close()
	// The Ask page fetches its history section alone after an answer.
	frag, err := c.Get(m.HTTP.URL() + "/ask?part=history")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(frag.Body)
	frag.Body.Close()
	if html := strings.TrimSpace(string(b)); frag.StatusCode != 200 || !strings.HasPrefix(html, `<section class="card" data-testid="ask-history">`) ||
		strings.Contains(html, "<html") || !strings.Contains(html, "hotel vouchers after a cancellation?") {
		t.Fatalf("the history section: %d %s", frag.StatusCode, b)
	}
	if bad, err := c.Get(m.HTTP.URL() + "/ask?part=answers"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(bad.Body)
		bad.Body.Close()
		if bad.StatusCode != 400 || !strings.Contains(string(b), "part: want") {
			t.Fatalf("an unknown part of the page: %d %s", bad.StatusCode, b)
		}
	}

	code, own := historyAs(t, m, desk, "/api/v1/ask/history")
	if code != 200 || len(own.Questions) != 2 || own.Next != "" {
		t.Fatalf("desk-3's history: %d %+v", code, own)
	}
	first := own.Questions[1]
	if first.AskedBy != "token:desk-3" || first.Via != app.AskedByAPI || first.Question != question || first.Kind != app.AnswerFacts ||
		first.Answer != ans.Answer || first.Freshness != ans.Freshness || len(first.Sources) != len(ans.Sources) || first.Sources[0].ID != ans.Sources[0].ID {
		t.Fatalf("the record is not what was answered:\n got %+v\nwant %+v", first, ans)
	}
	if want := clock.Now(); !first.AskedAt.Equal(want) {
		t.Fatalf("asked_at %s, want the node's clock %s", first.AskedAt, want)
	}
	if code, page := historyAs(t, m, desk, "/api/v1/ask/history?user=token:wallboard"); code != 403 || !strings.Contains(page.Error, "only an admin") {
		t.Fatalf("an agent reads another's questions: %d %+v", code, page)
	}
	if code, page := historyAs(t, m, desk, "/api/v1/ask/history?cursor=nonsense"); code != 400 || !strings.HasPrefix(page.Error, "cursor:") {
		t.Fatalf("a bad cursor: %d %+v", code, page)
	}

	// The admin pages through everyone's, two at a time.
	var askers []string
	path := "/api/v1/ask/history?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("the next links do not end")
		}
		code, page := historyAs(t, m, admin, path)
		if code != 200 {
			t.Fatalf("GET %s: %d %+v", path, code, page)
		}
		for _, q := range page.Questions {
			askers = append(askers, q.AskedBy+"/"+q.Via)
		}
		path = page.Next
	}
	want := "maria/console token:desk-3/api token:wallboard/api token:desk-3/api"
	if got := strings.Join(askers, " "); got != want {
		t.Fatalf("admin's history, newest first:\n got %s\nwant %s", got, want)
	}
	if code, page := historyAs(t, m, admin, "/api/v1/ask/history?user=maria"); code != 200 || len(page.Questions) != 1 || page.Questions[0].Question != "hotel vouchers after a cancellation?" {
		t.Fatalf("admin reads maria's: %d %+v", code, page)
	}
}

// TestListAPIsPageWithANextLink walks /api/v1/flights of a simulated day
// along its next links and finds every flight once, in the order of the
// whole list; the last page has no next link.
func TestListAPIsPageWithANextLink(t *testing.T) {
	m := MustRunMain(t)
	day := sim.Generate(sim.Config{Seed: 5, Date: "2026-11-25", Departures: 6, Bookings: 6})
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, time.Minute, func() error {
		if fs, _ := m.Store.Flights(context.Background(), app.FlightFilter{}); len(fs) < len(day.Flights) {
			return fmt.Errorf("%d of %d flights in the state", len(fs), len(day.Flights))
		}
		return nil
	})
	keys := func(body map[string]any) []string {
		var out []string
		fs, _ := body["flights"].([]any)
		for _, f := range fs {
			out = append(out, f.(map[string]any)["flight"].(string))
		}
		return out
	}
	code, whole := get(t, m.HTTP.URL()+"/api/v1/flights?airport=FRA")
	if code != 200 || whole["next"] != nil || len(keys(whole)) != len(day.Flights) {
		t.Fatalf("whole list: %d, %d flights of %d, next %v", code, len(keys(whole)), len(day.Flights), whole["next"])
	}
	var walked []string
	path := "/api/v1/flights?airport=FRA&limit=5"
	for pages := 0; path != ""; pages++ {
		if pages > len(day.Flights) {
			t.Fatal("the next links do not end")
		}
		code, body := get(t, m.HTTP.URL()+path)
		if code != 200 {
			t.Fatalf("GET %s: %d %v", path, code, body)
		}
		walked = append(walked, keys(body)...)
		path, _ = body["next"].(string)
		if path != "" && !strings.Contains(path, "airport=FRA") {
			t.Fatalf("the next link loses the filter: %s", path)
		}
	}
	if got, want := strings.Join(walked, " "), strings.Join(keys(whole), " "); got != want {
		t.Fatalf("pages of 5 gave\n %s\nthe whole list is\n %s", got, want)
	}
	if code, body := get(t, m.HTTP.URL()+"/api/v1/flights?cursor=%21%21"); code != 400 || !strings.HasPrefix(body["error"].(string), "cursor:") {
		t.Fatalf("a bad cursor: %d %v", code, body)
	}
	if code, body := get(t, m.HTTP.URL()+"/api/v1/proposals?limit=0"); code != 400 || !strings.HasPrefix(body["error"].(string), "limit:") {
		t.Fatalf("a bad limit: %d %v", code, body)
	}
}
