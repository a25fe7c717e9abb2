package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
)

// TestAdminPageUsesTheNodesClock runs a node on a simulated clock stopped
// at 13:00 of a demo day: a token made and used on the admin page is
// stamped 13:00, not the real time.
func TestAdminPageUsesTheNodesClock(t *testing.T) {
	zone, _ := time.LoadLocation("Europe/Berlin")
	noon := time.Date(2026, 11, 25, 13, 0, 0, 0, zone)
	clock := sim.NewClock(noon, 0)
	m := mustRunMainOn(t, clock.Now)
	base := m.HTTP.URL()
	addUser(t, m, "boss", app.RoleAdmin, "a long admin password")
	c := browser(t)
	login(t, c, base, "boss", "a long admin password")
	req, _ := http.NewRequest("POST", base+"/admin/tokens", strings.NewReader(url.Values{"name": {"wallboard"}, "role": {"viewer"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	i := strings.Index(page, "<td>wallboard</td>")
	if resp.StatusCode != 200 || i < 0 {
		t.Fatalf("token not created: %d", resp.StatusCode)
	}
	row := page[i:min(len(page), i+200)]
	if !strings.Contains(row, "<td>Wed 13:00</td><td>never</td>") {
		t.Fatalf("token row is not stamped with the node's clock (Wed 13:00):\n%s", row)
	}
}
