package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// TestWhatChangedRecently asks a node on the real clock what changed: the
// flights whose newest event is within the time asked for, the latest
// first, narrowed by status; older changes are left out.
func TestWhatChangedRecently(t *testing.T) {
	m := mustRunMainOn(t, nil, func(c *node.Config) { c.Hub, c.TimeZone = "ATH", "Europe/Athens" })
	zone, _ := time.LoadLocation("Europe/Athens")
	now := time.Now().In(zone)
	date := now.Format(time.DateOnly)
	flight := func(id, number, status string, at time.Time, dep time.Time) string {
		e := map[string]any{"specversion": "1.0", "id": id, "source": "ops.ath", "type": "flight.status", "time": at.UTC().Format(time.RFC3339),
			"subject": "A3" + number + "-" + date, "data": map[string]any{"flight": "A3" + number + "-" + date, "carrier": "A3", "number": number,
				"date": date, "origin": "ATH", "destination": "SKG", "scheduled_departure": dep.Format(time.RFC3339),
				"scheduled_arrival": dep.Add(55 * time.Minute).Format(time.RFC3339), "status": status, "gate": "B4", "capacity": map[string]int{"Y": 150}}}
		b, _ := json.Marshal(e)
		return string(b)
	}
	dep := time.Date(now.Year(), now.Month(), now.Day(), 23, 0, 0, 0, zone)
	body := strings.Join([]string{
		flight("ath-1", "100", "scheduled", now.Add(-3*time.Hour), dep),
		flight("ath-2", "200", "scheduled", now.Add(-4*time.Hour), dep.Add(-time.Minute)),
		flight("ath-3", "200", "delayed", now.Add(-40*time.Minute), dep.Add(-time.Minute)),
		flight("ath-4", "300", "cancelled", now.Add(-10*time.Minute), dep.Add(-2*time.Minute)),
	}, "\n")
	if code, out := post(t, m.HTTP.URL()+"/api/v1/topics/flights/events", body); code != 200 || out["accepted"] != float64(4) {
		t.Fatalf("ingest: %d %v", code, out)
	}
	waitCaughtUp(t, m, 20*time.Second)
	tok := useToken(t, m, app.RoleAgent)
	key := func(n string) string { return "A3" + n + "-" + date }
	for _, c := range []struct {
		question  string
		want, not []string
	}{
		{"what changed in the last hour?", []string{key("300"), key("200")}, []string{key("100")}},
		{"any cancellations in the past 30 minutes", []string{key("300")}, []string{key("100"), key("200")}},
		{"anything new in the last 5 hours", []string{key("100"), key("200"), key("300")}, nil},
	} {
		ans := askFacts(t, m, tok, c.question, c.want, c.not)
		if c.question == "what changed in the last hour?" {
			first := strings.Index(ans.Answer, "A3300 ")
			if first < 0 || first > strings.Index(ans.Answer, "A3200 ") || !strings.Contains(ans.Answer, "2 flights changed since") {
				t.Errorf("not the newest change first: %q", ans.Answer)
			}
		}
	}
}
