package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/node"
)

// postAs posts body with a content type and returns the status and body.
func postAs(tb testing.TB, url, contentType, body string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func lastOffset(tb testing.TB, m *node.Main, topic string) uint64 {
	tb.Helper()
	ti, err := m.Broker.Topic(context.Background(), topic)
	if err != nil {
		tb.Fatal(err)
	}
	return ti.LastOffset
}

// TestIngestRefusesBadInputWhole: through the real node, every kind of bad
// input of issue 13 is refused with the reason and stores nothing.
func TestIngestRefusesBadInputWhole(t *testing.T) {
	m := MustRunMain(t, func(c *node.Config) { c.MaxBody = 32 << 20 })
	base := m.HTTP.URL()
	url := base + "/api/v1/topics/flights/events"
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	ev := func(id string) string { return flightJSON(id, "LH400-2026-11-25", "delayed", t0) }

	t.Run("content type", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded"} {
			before := lastOffset(t, m, "flights")
			code, body := postAs(t, url, ct, ev("ct-1"))
			if code != http.StatusUnsupportedMediaType || !strings.Contains(body, "application/x-ndjson") || !strings.Contains(body, "application/json") {
				t.Fatalf("Content-Type %q: %d %s", ct, code, body)
			}
			if lastOffset(t, m, "flights") != before {
				t.Fatal("stored despite the media type")
			}
		}
		if code, body := postAs(t, url, "application/json; charset=utf-8", ev("ct-2")); code != 200 {
			t.Fatalf("application/json: %d %s", code, body)
		}
	})
	t.Run("one event over the log's limit refuses the request before anything is stored", func(t *testing.T) {
		before := lastOffset(t, m, "flights")
		big := strings.Replace(ev("big-4"), `"gate":"A1"`, `"gate":"A1","x_pad":"`+strings.Repeat("a", broker.MaxEventBytes)+`"`, 1)
		code, body := postAs(t, url, "application/x-ndjson", ev("big-1")+"\n"+ev("big-2")+"\n"+ev("big-3")+"\n"+big)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "event 4 of 4") || !strings.Contains(body, fmt.Sprint(broker.MaxEventBytes)) {
			t.Fatalf("%d %.300s", code, body)
		}
		if after := lastOffset(t, m, "flights"); after != before {
			t.Fatalf("a refused request stored %d events", after-before)
		}
	})
	t.Run("a body over the node's limit, its length declared or not", func(t *testing.T) {
		body := ev("limit-1") + "\n" + strings.Repeat(" ", 32<<20)
		for _, declared := range []bool{true, false} {
			before := lastOffset(t, m, "flights")
			var r io.Reader = strings.NewReader(body)
			if !declared {
				r = io.MultiReader(r) // no length: sent chunked
			}
			req, _ := http.NewRequest("POST", url, r)
			req.Header.Set("Content-Type", "application/x-ndjson")
			authorize(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(out), fmt.Sprintf("exceeds %d bytes", 32<<20)) {
				t.Fatalf("length declared %v: %d %.300s", declared, resp.StatusCode, out)
			}
			if lastOffset(t, m, "flights") != before {
				t.Fatalf("length declared %v: stored part of a body over the limit", declared)
			}
		}
		if code, body := postAs(t, url, "application/x-ndjson", ev("limit-2")+"\n"+strings.Repeat(" ", 9<<20)); code != 200 {
			t.Fatalf("a body under the limit and over the buffer's first size: %d %.300s", code, body)
		}
	})
	t.Run("ids that NATS headers would fold", func(t *testing.T) {
		for _, id := range []string{"ws-collide ", " ", "a\nb", " lead"} {
			raw := strings.Replace(ev("PLACEHOLDER"), `"PLACEHOLDER"`, fmt.Sprintf("%q", id), 1)
			code, body := postAs(t, url, "application/json", raw)
			if code != 400 || !strings.Contains(body, `"field": "id"`) {
				t.Fatalf("id %q: %d %s", id, code, body)
			}
		}
	})
	t.Run("duplicates by source and id", func(t *testing.T) {
		a := ev("dup-42")
		b := strings.Replace(a, `"source":"test"`, `"source":"crew"`, 1)
		code, out := post(t, url, a+"\n"+b+"\n"+a)
		if code != 200 || out["accepted"].(float64) != 2 || out["duplicates"].(float64) != 1 {
			t.Fatalf("%d %v", code, out)
		}
	})
	t.Run("future time", func(t *testing.T) {
		raw := flightJSON("future-1", "LH400-2026-11-25", "delayed", time.Now().Add(time.Hour))
		code, body := postAs(t, url, "application/json", raw)
		if code != 400 || !strings.Contains(body, `"field": "time"`) || !strings.Contains(body, "max_future_skew") {
			t.Fatalf("%d %s", code, body)
		}
		far := strings.Replace(ev("future-2"), fmt.Sprintf(`"time":%q`, t0.Format(time.RFC3339)), `"time":"9999-01-01T00:00:00Z"`, 1)
		if code, body := postAs(t, url, "application/json", far); code != 400 || !strings.Contains(body, "max_future_skew") {
			t.Fatalf("9999: %d %s", code, body)
		}
	})
	t.Run("invalid UTF-8 and NUL", func(t *testing.T) {
		for name, raw := range map[string]string{
			"invalid UTF-8": strings.Replace(ev("utf-1"), `"gate":"A1"`, "\"gate\":\"A\xff1\"", 1),
			"escaped NUL":   strings.Replace(ev("nul-1"), `"gate":"A1"`, `"gate":"A\u00001"`, 1),
		} {
			code, body := postAs(t, url, "application/json", raw)
			if code != 400 || !strings.Contains(body, `"field": "data.gate"`) {
				t.Fatalf("%s: %d %s", name, code, body)
			}
		}
	})
	t.Run("JSON array", func(t *testing.T) {
		code, body := postAs(t, url, "application/json", "["+ev("arr-1")+","+ev("arr-2")+"]")
		var got struct{ Accepted int }
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.Accepted != 2 {
			t.Fatalf("%d %s %v", code, body, err)
		}
	})
}

// TestNodeOnlyEventsNeedTheAdminRole: an agent cannot forge an execution
// or an answer; an admin may, to repair the log.
func TestNodeOnlyEventsNeedTheAdminRole(t *testing.T) {
	m := MustRunMain(t)
	url := m.HTTP.URL() + "/api/v1/topics/rebookings/events"
	e, _ := app.NewEvent("forged-1", "apron/test", app.TypeRebookingExecuted, "ABC123", time.Now().Add(-time.Minute), app.RebookingData{ProposalID: "p1", Locator: "ABC123"})
	useToken(t, m, app.RoleAgent)
	before := lastOffset(t, m, "rebookings")
	code, body := postAs(t, url, "application/json", string(e.Raw))
	if code != http.StatusForbidden || !strings.Contains(body, app.TypeRebookingExecuted) || !strings.Contains(body, "admin") {
		t.Fatalf("agent: %d %s", code, body)
	}
	if lastOffset(t, m, "rebookings") != before {
		t.Fatal("a forged event was stored")
	}
	a, _ := app.NewEvent("forged-2", "apron/test", app.TypeAssistAnswered, "desk-1", time.Now().Add(-time.Minute), map[string]any{"correlation_id": "desk-1", "answer": "x"})
	if code, body := postAs(t, m.HTTP.URL()+"/api/v1/topics/assist/events", "application/json", string(a.Raw)); code != http.StatusForbidden {
		t.Fatalf("agent assist.answered: %d %s", code, body)
	}
	// An erasure cannot be undone: an agent may not send one either.
	x, _ := app.NewEvent("erase-by-agent", "apron/test", app.TypePassengerErased, "P1", time.Now().Add(-time.Minute), map[string]string{"id": "P1"})
	if code, body := postAs(t, m.HTTP.URL()+"/api/v1/topics/passengers/events", "application/json", string(x.Raw)); code != http.StatusForbidden || !strings.Contains(body, app.TypePassengerErased) {
		t.Fatalf("agent passenger.erased: %d %s", code, body)
	}
	useToken(t, m, app.RoleAdmin)
	if code, body := postAs(t, url, "application/json", string(e.Raw)); code != 200 {
		t.Fatalf("admin: %d %s", code, body)
	}
}

// TestControlEntriesAreRefusedToEveryCaller: the node seals what it
// appends, so an approval command, a decided outcome or an account sent
// through the ingest API would be believed as the node's own. No caller
// may send them, an admin neither: 403 naming each event and its type,
// and nothing is stored.
func TestControlEntriesAreRefusedToEveryCaller(t *testing.T) {
	m := MustRunMain(t)
	url := m.HTTP.URL() + "/api/v1/topics/control/events"
	now := time.Now().Add(-time.Minute)
	const key = "proposal-ABC123"
	cmd, _ := app.NewEvent("forged-command", "apron/console", app.TypeProposalCommand, key, now,
		app.ProposalCommand{Kind: app.CommandApprove, ProposalID: "p-1", Locator: "ABC123", Flight: "LH400-2026-11-25", Key: "k-1", Actor: "mallory", At: now})
	out, _ := app.NewEvent("forged-outcome", "apron/proposer", app.TypeProposalChanged, key, now, app.ProposalChange{
		Op: app.OpDecided, ProposalID: "p-1", Locator: "ABC123", Flight: "LH400-2026-11-25", At: now,
		Outcome: &app.Outcome{Command: 1, Basis: 1, Kind: app.CommandApprove, Result: app.ProposalExecuted, Key: "k-1", Actor: "mallory", At: now}})
	user, _ := app.NewEvent("forged-user", "apron/console", app.TypeUserChanged, "mallory", now,
		app.UserData{Name: "mallory", Role: app.RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", CreatedAt: now})
	before := lastOffset(t, m, app.TopicControl)
	for _, e := range []*app.Event{cmd, out, user} {
		code, body := postAs(t, url, "application/json", string(e.Raw))
		if code != http.StatusForbidden || !strings.Contains(body, e.Type) || !strings.Contains(body, e.ID) || !strings.Contains(body, "no caller may send") {
			t.Fatalf("admin sending %s: %d %s, want 403 naming it and its type", e.Type, code, body)
		}
	}
	// Mixed with an event the caller may send: the whole request is refused.
	ok, _ := app.NewEvent("fine-1", "central", app.TypeFlightStatus, "LH400-2026-11-25", now, map[string]any{})
	if code, body := postAs(t, url, "application/x-ndjson", string(ok.Raw)+"\n"+string(cmd.Raw)); code < 400 {
		t.Fatalf("a request mixing a control entry: %d %s", code, body)
	}
	if after := lastOffset(t, m, app.TopicControl); after != before {
		t.Fatalf("control topic moved from %d to %d: a forged entry was stored", before, after)
	}
	if _, _, err := m.Store.UserByName(context.Background(), "mallory"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("the forged admin exists: %v", err)
	}
}

// TestLoginNamesAreBoundedAndCostTheSame: a huge name is refused before it
// is logged or remembered; an unknown name takes as long as a wrong
// password.
func TestLoginNamesAreBoundedAndCostTheSame(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	hash, _ := app.HashPassword("right-password")
	if _, err := m.Accounts.CreateUser(context.Background(), "ada", app.RoleAgent, hash); err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	if resp := login(t, c, base, strings.Repeat("n", 1<<20), "x"); resp.StatusCode != 400 && resp.StatusCode != 413 {
		t.Fatalf("huge name: %d", resp.StatusCode)
	}
	// Two tries per name: four failures stay under the throttle's five.
	fastest := func(name string) time.Duration {
		var ds []time.Duration
		for i := 0; i < 2; i++ {
			start := time.Now()
			req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"name": {name}, "password": {"wrong"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			ds = append(ds, time.Since(start))
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[0]
	}
	wrong, unknown := fastest("ada"), fastest("nobody-by-this-name")
	t.Logf("wrong password %s, unknown name %s", wrong, unknown)
	if unknown < wrong/3 {
		t.Fatalf("an unknown name answers in %s, a wrong password in %s: timing tells names apart", unknown, wrong)
	}
}
