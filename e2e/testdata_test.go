package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// The sample site in testdata/site-vie is a morning at Vienna written by
// hand, not by the simulator: other carriers, other airports, another
// day. testdata/refused holds requests the ingest API must refuse; each
// NAME.ndjson is posted to the topic its name starts with, and NAME.want
// lists what the refusal must say, one "LINE FIELD REASON" per line
// (REASON a part of the reason).
const sampleSite = "testdata/site-vie" // tests run from the repository root

// TestSampleSiteThroughTheNode posts the sample site through the ingest
// API of a real node and reads it back as staff would: the state shows
// the morning's delays, the cancellation and the gate change; questions
// in several wordings answer with the right flights and passengers,
// cited, and with "Not in the data" where nothing answers; the cancellation is planned onto a later flight of the same
// route; and every refused request fails with its line, field and
// reason, storing nothing.
func TestSampleSiteThroughTheNode(t *testing.T) {
	clock := func() time.Time { return time.Date(2026, 12, 3, 5, 30, 0, 0, time.UTC) }
	m := mustRunMainOn(t, clock, func(c *node.Config) { c.Hub, c.TimeZone = "VIE", "Europe/Vienna" })
	base := m.HTTP.URL()
	for _, topic := range []string{app.TopicFlights, app.TopicPassengers, app.TopicBookings, app.TopicDocuments} {
		body, err := os.ReadFile(filepath.Join(sampleSite, topic+".ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(strings.TrimSpace(string(body)), "\n") + 1
		code, out := post(t, base+"/api/v1/topics/"+topic+"/events", string(body))
		if code != 200 || out["accepted"] != float64(lines) {
			t.Fatalf("%s: %d %v, want all %d accepted", topic, code, out, lines)
		}
	}
	waitCaughtUp(t, m, 20*time.Second)

	for key, want := range map[string]string{"OS451-2026-12-03": "delayed", "OS411-2026-12-03": "cancelled", "OS87-2026-12-03": "delayed", "OS455-2026-12-03": "scheduled"} {
		code, body := get(t, base+"/api/v1/flights/"+key)
		f, _ := body["flight"].(map[string]any)
		if code != 200 || f["status"] != want {
			t.Fatalf("flight %s: %d %v, want %s", key, code, body, want)
		}
		if key == "OS87-2026-12-03" && f["gate"] != "G36" {
			t.Fatalf("OS87 kept gate %v after its gate change", f["gate"])
		}
	}

	tok := useToken(t, m, app.RoleAgent)
	asks := []struct {
		question  string
		want, not []string // citations the answer must and must not have
	}{
		{"which flights are running late at the moment?", []string{"OS451-2026-12-03", "OS87-2026-12-03"}, []string{"OS455-2026-12-03", "OS411-2026-12-03"}},
		{"any delays on 2026-12-03", []string{"OS451-2026-12-03", "OS87-2026-12-03"}, []string{"OS459-2026-12-03"}},
		{"how many cancellations today?", []string{"OS411-2026-12-03"}, []string{"OS451-2026-12-03"}},
		{"who is booked on OS411 today", []string{"VQ7K2M", "VN4P8R"}, []string{"VB2X9T"}},
		{"status of booking VC5H3L", []string{"VC5H3L"}, []string{"VQ7K2M"}},
		{"departures to LHR today", []string{"OS451-2026-12-03", "OS455-2026-12-03", "OS459-2026-12-03", "BA697-2026-12-03"}, []string{"OS411-2026-12-03", "OS87-2026-12-03"}},
		{"how many passengers on flights to CDG today", []string{"OS411-2026-12-03", "OS417-2026-12-03"}, []string{"OS451-2026-12-03"}},
		{"how many passengers need wheelchairs today", []string{"OS411-2026-12-03"}, []string{"OS451-2026-12-03", "OS87-2026-12-03"}},
		// Cities for the codes.
		{"flights to Paris today", []string{"OS411-2026-12-03", "OS417-2026-12-03"}, []string{"OS451-2026-12-03", "BA697-2026-12-03"}},
		{"when is the next flight to Paris?", []string{"OS417-2026-12-03"}, []string{"OS411-2026-12-03"}}, // OS411 is cancelled
		{"how many flights today", []string{"OS411-2026-12-03", "OS87-2026-12-03", "BA697-2026-12-03"}, nil},
		{"which departures to london are delayed today", []string{"OS451-2026-12-03"}, []string{"OS455-2026-12-03", "OS411-2026-12-03", "OS87-2026-12-03"}},
		// 06:30 in Vienna: OS411 (07:10 UTC) is the one departure of the
		// next two hours; after 12:00 local (11:00 UTC) come OS87 (now
		// 11:30), BA697, OS417 and OS459.
		{"departures in the next 2 hours", []string{"OS411-2026-12-03"}, []string{"OS451-2026-12-03", "OS455-2026-12-03"}},
		{"what leaves after 12:00", []string{"OS87-2026-12-03", "BA697-2026-12-03", "OS417-2026-12-03", "OS459-2026-12-03"}, []string{"OS455-2026-12-03", "OS451-2026-12-03"}},
		{"who is tomas novak booked on", []string{"VP2", "VN4P8R", "OS411-2026-12-03"}, []string{"VQ7K2M"}},
		{"gold and silver passengers today", []string{"OS411-2026-12-03", "VQ7K2M", "OS451-2026-12-03", "VB2X9T"}, []string{"VN4P8R", "OS87-2026-12-03"}},
		// A surname alone, a day's departures and its bookings.
		{"bookings for Novak", []string{"VP2", "VN4P8R"}, []string{"VQ7K2M"}},
		{"departures today", []string{"OS451-2026-12-03", "OS411-2026-12-03", "BA697-2026-12-03"}, nil},
		{"how many bookings today", []string{"flights:2026-12-03", "OS411-2026-12-03"}, nil},
		{"which flights are full today", []string{"flights:2026-12-03"}, []string{"OS411-2026-12-03", "OS451-2026-12-03"}}, // none: 4 bookings in 162 seats a flight
		{"flights to France today", []string{"OS411-2026-12-03", "OS417-2026-12-03"}, []string{"OS451-2026-12-03", "BA697-2026-12-03"}},
		{"status of the 08:10 to Paris", []string{"OS411-2026-12-03"}, []string{"OS417-2026-12-03"}}, // cancelled, and still the one asked for
		// A seat and who holds it, or that no booking does.
		{"who is in seat 14C on OS451 today", []string{"VB2X9T", "OS451-2026-12-03"}, []string{"VQ7K2M"}},
		{"who sits in 3A on OS411", []string{"OS411-2026-12-03"}, []string{"VQ7K2M", "VN4P8R"}},
		// A delay beyond a bound (OS451 is 90 minutes late, OS87 45), and
		// a part of the day.
		{"flights delayed by more than an hour today", []string{"OS451-2026-12-03"}, []string{"OS87-2026-12-03"}},
		{"departures this afternoon", []string{"OS87-2026-12-03"}, []string{"OS451-2026-12-03", "OS455-2026-12-03"}},
	}
	for _, a := range asks {
		askFacts(t, m, tok, a.question, a.want, a.not)
	}
	// A procedure question stays one, in this site's own documents.
	if ans := askAs(t, m, tok, "who gets rebooked first after a cancellation in Vienna"); ans.Kind != app.AnswerPolicy || !slices.Contains(ans.Citations, "vie-cancellation-care") {
		t.Fatalf("the rebooking order answered %s: %q %v", ans.Kind, ans.Answer, ans.Citations)
	}
	// An airport with no flight that day, and flights that do not come
	// from where the question says, are not in the data.
	for _, q := range []string{"flights to XYZ today", "arrivals from LHR today", "list flights to Narnia"} {
		if ans := askAs(t, m, tok, q); !ans.NotInData || len(ans.Citations) != 0 {
			t.Fatalf("%q answered %s: %q %v, want not in the data", q, ans.Kind, ans.Answer, ans.Citations)
		}
	}
	ans := askAs(t, m, tok, "who is on OS411 today")
	for _, name := range []string{"Lena Hofer", "Tomas Novak", "Claire Dubois"} {
		if !strings.Contains(ans.Answer, name) {
			t.Fatalf("the passengers of OS411 leave out %s: %q", name, ans.Answer)
		}
	}

	// The cancelled OS411 is planned: both its bookings onto OS417, the
	// later flight of the same route, and nothing onto a flight that
	// does not go to Paris.
	var family *app.Proposal // VN4P8R: two passengers
	checkFor(t, 20*time.Second, func() error {
		code, body := get(t, base+"/api/v1/proposals?status=pending&flight=OS411-2026-12-03")
		if code != 200 {
			return fmt.Errorf("proposals: %d %v", code, body)
		}
		raw, _ := json.Marshal(body["proposals"])
		var ps []*app.Proposal
		if err := json.Unmarshal(raw, &ps); err != nil {
			return err
		}
		got := map[string]bool{}
		for _, p := range ps {
			for _, o := range p.Options {
				if !slices.Contains(o.Flights, "OS417-2026-12-03") {
					return fmt.Errorf("proposal %s for %s offers %v", p.ID, p.Locator, o.Flights)
				}
			}
			got[p.Locator] = len(p.Options) > 0
			if p.Locator == "VN4P8R" {
				family = p
			}
		}
		if !got["VQ7K2M"] || !got["VN4P8R"] {
			return fmt.Errorf("pending proposals with options for OS411: %v, want VQ7K2M and VN4P8R", got)
		}
		return nil
	})

	// Approved, the family's rebooking takes two seats of OS417, and the
	// assistant counts them.
	seatsOf := func() string {
		return askAs(t, m, tok, "is OS417 full?").Answer
	}
	if a := seatsOf(); !strings.Contains(a, "OS417 seats free by cabin: C 12 of 12, Y 140 of 140") {
		t.Fatalf("seats of OS417 before the approval: %q", a)
	}
	if code, body := post(t, base+"/api/v1/proposals/"+family.ID+"/approve", ""); code != 200 {
		t.Fatalf("approve %s: %d %v", family.ID, code, body)
	}
	checkFor(t, 20*time.Second, func() error {
		if a := seatsOf(); !strings.Contains(a, "Y 138 of 140") {
			return fmt.Errorf("seats of OS417 after the approval: %q", a)
		}
		// The booking's change is the engine's last event: once the
		// state shows it, nothing more is on its way to the log.
		code, body := get(t, base+"/api/v1/bookings/VN4P8R")
		if raw, _ := json.Marshal(body); code != 200 || !strings.Contains(string(raw), "OS417-2026-12-03") {
			return fmt.Errorf("booking VN4P8R after the approval: %d %s", code, raw)
		}
		return nil
	})

	refused, err := filepath.Glob("testdata/refused/*.ndjson")
	if err != nil || len(refused) == 0 {
		t.Fatalf("no refused samples: %v", err)
	}
	for _, path := range refused {
		name := strings.TrimSuffix(filepath.Base(path), ".ndjson")
		topic, _, _ := strings.Cut(name, ".")
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(strings.TrimSuffix(path, ".ndjson") + ".want")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		before := topicHead(t, m, topic)
		code, out := post(t, base+"/api/v1/topics/"+topic+"/events", string(body))
		if code != 400 || out["code"] != app.EINVALID {
			t.Fatalf("%s: %d %v, want 400 invalid", name, code, out)
		}
		said := refusalLines(out)
		for _, w := range strings.Split(strings.TrimSpace(string(want)), "\n") {
			f := strings.SplitN(w, " ", 3)
			if len(f) != 3 {
				t.Fatalf("%s.want: %q is not \"LINE FIELD REASON\"", name, w)
			}
			if !slices.ContainsFunc(said, func(s string) bool {
				return strings.HasPrefix(s, f[0]+" "+f[1]+" ") && strings.Contains(s, f[2])
			}) {
				t.Fatalf("%s: the refusal does not say %q; it says %q", name, w, said)
			}
		}
		if after := topicHead(t, m, topic); after != before {
			t.Fatalf("%s: the refused request stored %d event(s)", name, after-before)
		}
	}
}

// refusalLines flattens a 400's errors to "LINE FIELD REASON" strings.
func refusalLines(out map[string]any) []string {
	var said []string
	lines, _ := out["errors"].([]any)
	for _, l := range lines {
		lm, _ := l.(map[string]any)
		errs, _ := lm["errors"].([]any)
		for _, e := range errs {
			em, _ := e.(map[string]any)
			said = append(said, fmt.Sprintf("%v %v %v", lm["line"], em["field"], em["reason"]))
		}
	}
	return said
}

func topicHead(t *testing.T, m *node.Main, topic string) uint64 {
	t.Helper()
	ti, err := m.Broker.Topic(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return ti.LastOffset
}

// askFacts asks question and wants an answer from the facts that cites
// every record of want and none of not.
func askFacts(t *testing.T, m *node.Main, tok, question string, want, not []string) app.AskAnswer {
	t.Helper()
	ans := askAs(t, m, tok, question)
	if ans.Kind != app.AnswerFacts || ans.NotInData {
		t.Fatalf("%q answered %s: %q", question, ans.Kind, ans.Answer)
	}
	for _, id := range want {
		if !slices.Contains(ans.Citations, id) {
			t.Fatalf("%q: the answer does not cite %s: %q %v", question, id, ans.Answer, ans.Citations)
		}
	}
	for _, id := range not {
		if slices.Contains(ans.Citations, id) {
			t.Fatalf("%q: the answer cites %s, which it does not ask for: %q", question, id, ans.Answer)
		}
	}
	return ans
}
