package e2e

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
)

// onlineCheck asks the node at base to check its state against a rebuild
// from its log, as `apron check` beside a running node does.
func onlineCheck(t *testing.T, base string) (int, checkAnswer) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/admin/check", nil)
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out checkAnswer
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("check answer: %v", err)
	}
	return resp.StatusCode, out
}

type checkAnswer struct {
	Equal bool `json:"equal"`
	app.CheckReport
	Error string `json:"error"`
}

// TestOnlineCheckNamesATamperedTable checks a running node that has
// applied a simulated day: its state equals a rebuild up to the positions
// it reports. A flight's row changed behind the node's back then makes
// the same check name the flights table, and only it.
func TestOnlineCheckNamesATamperedTable(t *testing.T) {
	m := MustRunMain(t)
	day := sim.Generate(sim.Config{Seed: 3, Date: "2026-11-25", Departures: 8})
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, m, 30*time.Second)
	base := m.HTTP.URL()

	code, ans := onlineCheck(t, base)
	if code != 200 || !ans.Equal || len(ans.Differs) != 0 {
		t.Fatalf("check of an untouched node: %d %+v", code, ans)
	}
	flights, _ := m.Store.Counts(context.Background())
	if ans.Upto[app.TopicFlights] == 0 || ans.Upto[app.TopicControl] == 0 || flights["flights"] == 0 {
		t.Fatalf("the check compared nothing: up to %v, %d flights", ans.Upto, flights["flights"])
	}

	res, err := m.Store.DB().Exec(`UPDATE flights SET data = json_set(data, '$.gate', 'Z99') WHERE key = (SELECT key FROM flights ORDER BY key LIMIT 1)`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampered with %d rows, want 1", n)
	}
	code, ans = onlineCheck(t, base)
	if code != 200 || ans.Equal || len(ans.Differs) != 1 || ans.Differs[0].Table != "flights" {
		t.Fatalf("check of a tampered flight: %d %+v, want flights named", code, ans)
	}
	if ans.Differs[0].Live == ans.Differs[0].Rebuild {
		t.Fatalf("the differing table shows equal checksums: %+v", ans.Differs[0])
	}
	t.Logf("tampered store: %v (check took %d ms)", ans.Tables(), ans.TookMS)
}
