package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// artifactDir is where browser tests leave their screenshots.
func artifactDir(tb testing.TB) string {
	dir := os.Getenv("APRON_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// MustRunBrowser starts headless Chromium with the flags this machine
// needs (no background networking: outside traffic is refused here).
func MustRunBrowser(tb testing.TB) context.Context {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if path, err = exec.LookPath("chromium-browser"); err != nil {
			tb.Fatal("chromium not found: run scripts/setup.sh (it installs Debian's chromium)")
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(desktopW, desktopH),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// The sizes pages are shot at: a desktop (the browser's window) and a
// tablet held upright.
const (
	desktopW, desktopH = 1280, 900
	tabletW, tabletH   = 820, 1180
)

// screenshot writes the page as it is to artifacts/NAME.png at desktop
// size and NAME-tablet.png at tablet size, and leaves the desktop size.
func screenshot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	shoot(tb, ctx, name)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(tabletW, tabletH)); err != nil {
		tb.Fatal(err)
	}
	shoot(tb, ctx, name+"-tablet")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopW, desktopH)); err != nil {
		tb.Fatal(err)
	}
}

// shoot writes the whole page at the current size to artifacts/NAME.png.
func shoot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(tb), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func TestBrowserBoardFollowsTheLog(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	addUser(t, m, "gate7", app.RoleAgent, "gate seven password")
	zone, _ := time.LoadLocation(m.Config.TimeZone)
	now := time.Now().In(zone)
	date := now.Format("2006-01-02")
	key := "LH400-" + date
	dep := time.Date(now.Year(), now.Month(), now.Day(), 23, 30, 0, 0, zone)
	flight := func(id, status string, at time.Time) string {
		f := app.Flight{Flight: key, Carrier: "LH", Number: "400", Date: date, Origin: "FRA", Destination: "JFK",
			ScheduledDeparture: dep, ScheduledArrival: dep.Add(9 * time.Hour), Status: status, Gate: "Z52", Capacity: map[string]int{"J": 30, "Y": 250}}
		e, _ := app.NewEvent(id, "test", app.TypeFlightStatus, key, at, f)
		return string(e.Raw)
	}
	hostile := app.Booking{Locator: "XSS001", Status: "active", Segments: []app.Segment{{Flight: key, Cabin: "Y", Seat: "30A"}},
		Passengers: []app.BookingPassenger{{ID: "P666", Name: `<script>document.title="pwned"</script><img src=x onerror="document.title='pwned'">`}}}
	be, _ := app.NewEvent("x1", "test", app.TypeBookingCreated, "XSS001", now, hostile)
	if code, body := post(t, base+"/api/v1/topics/flights/events", flight("f1", "scheduled", now)); code != 200 {
		t.Fatal(code, body)
	}
	// An alternative for tomorrow morning, with seats.
	tomorrow := now.AddDate(0, 0, 1)
	alt := app.Flight{Flight: "LH402-" + tomorrow.Format("2006-01-02"), Carrier: "LH", Number: "402", Date: tomorrow.Format("2006-01-02"), Origin: "FRA", Destination: "JFK",
		ScheduledDeparture: time.Date(tomorrow.Year(), tomorrow.Month(), tomorrow.Day(), 9, 0, 0, 0, zone), Status: "scheduled", Capacity: map[string]int{"Y": 100}}
	alt.ScheduledArrival = alt.ScheduledDeparture.Add(9 * time.Hour)
	ae, _ := app.NewEvent("f-alt", "test", app.TypeFlightScheduled, alt.Flight, now, alt)
	if code, body := post(t, base+"/api/v1/topics/flights/events", string(ae.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	if code, body := post(t, base+"/api/v1/topics/bookings/events", string(be.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	waitCaughtUp(t, m, 10*time.Second)

	ctx := MustRunBrowser(t)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	row := chromedp.CSS(fmt.Sprintf(`#f-%s [data-testid="status"]`, key))
	err := chromedp.Do(tctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "gate7"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "gate seven password"),
		chromedp.Submit(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="board-meta"]`)),
	)
	if err != nil {
		t.Fatalf("log in and open the board: %v", err)
	}
	who, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="who"]`)))
	if err != nil {
		t.Fatal(err)
	}
	status, err := chromedp.Run(tctx, chromedp.Text(row))
	if err != nil {
		t.Fatal(err)
	}
	if status != "scheduled" || !strings.Contains(who, "gate7") {
		t.Fatalf("board: status %q, who %q", status, who)
	}
	screenshot(t, tctx, "board-before")

	// Cancel the flight in the log; the open board follows without a reload.
	if code, body := post(t, base+"/api/v1/topics/flights/events", flight("f2", "cancelled", now.Add(time.Minute))); code != 200 {
		t.Fatal(code, body)
	}
	if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#f-%s.status-cancelled`, key)))); err != nil {
		t.Fatalf("board did not follow the cancellation: %v", err)
	}
	screenshot(t, tctx, "board-cancelled")

	// The flight page lists the booking; the hostile name stays text.
	err = chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#f-%s a`, key))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="bookings"]`)),
	)
	if err != nil {
		t.Fatalf("flight page: %v", err)
	}
	people, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="bookings"]`)))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(tctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, tctx, "flight-page")
	if strings.Contains(title, "pwned") || !strings.Contains(people, "<script>") {
		t.Fatalf("hostile data was not rendered inert: title %q, text %q", title, people)
	}

	// The cancellation produced a proposal: open it from the queue and
	// approve it; the outcome is shown.
	err = chromedp.Do(tctx,
		chromedp.Navigate(base+"/proposals"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="proposal-row"] a`)),
	)
	if err != nil {
		t.Fatalf("proposal queue: %v", err)
	}
	screenshot(t, tctx, "proposals")
	err = chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(`[data-testid="proposal-row"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="options"]`)),
	)
	if err != nil {
		t.Fatalf("open proposal: %v", err)
	}
	screenshot(t, tctx, "proposal")
	err = chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(`[data-testid="approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="proposal-message"]`)),
	)
	if err != nil {
		t.Fatalf("approve: %v", err)
	}
	msg, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="proposal-message"]`)))
	if err != nil {
		t.Fatal(err)
	}
	status, err = chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="proposal-status"]`)))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, tctx, "proposal-approved")
	if !strings.HasPrefix(msg, "Executed") || status != app.ProposalExecuted {
		t.Fatalf("after approval: %q, status %q", msg, status)
	}
	checkFor(t, 10*time.Second, func() error {
		b, err := m.Store.Booking(context.Background(), "XSS001")
		if err != nil || b.Segments[0].Flight != alt.Flight {
			return fmt.Errorf("booking not moved: %+v %v", b, err)
		}
		return nil
	})
}

// TestBrowserAsk asks a question in the console and sees the answer with
// its sources and freshness stamp, streamed from the real models.
func TestBrowserAsk(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	m := MustRunMain(t, func(c *node.Config) {
		c.Ollama.URL = ollamaTestURL()
		c.Ollama.Timeout = node.Duration(3 * time.Minute)
		c.Ollama.AskTimeout = node.Duration(3 * time.Minute)
	})
	addUser(t, m, "desk1", app.RoleAgent, "desk one password")
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/documents/events", policyEvent(t, "policy-care", "Care and assistance", "If a cancellation forces an overnight stay, provide a hotel room and transport.")); code != 200 {
		t.Fatal(code, body)
	}
	checkFor(t, 2*time.Minute, func() error {
		ti, _ := m.Broker.Topic(context.Background(), app.TopicDocuments)
		pos, _ := m.Store.Position(context.Background(), app.IndexConsumer, app.TopicDocuments)
		if pos < ti.LastOffset {
			return fmt.Errorf("not indexed yet")
		}
		return nil
	})
	ctx := MustRunBrowser(t)
	tctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	err := chromedp.Do(tctx,
		chromedp.Navigate(m.HTTP.URL()+"/ask"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "desk1"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "desk one password"),
		chromedp.Submit(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="ask-question"]`), "Do we give a hotel room after an overnight cancellation?"),
		chromedp.Click(chromedp.CSS(`[data-testid="ask-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-sources"] li`)),
	)
	if err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		t.Fatalf("ask in the console: %v; the page shows %q", err, shown)
	}
	meta, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="ask-meta"]`)))
	if err != nil {
		t.Fatal(err)
	}
	answer, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="ask-answer"]`)))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, tctx, "ask")
	if !strings.Contains(meta, "as of state documents@") || !strings.Contains(answer, "provide a hotel room and transport") || !strings.Contains(answer, "[policy-care@") {
		t.Fatalf("answer %q, meta %q", answer, meta)
	}
}

// TestBrowserApprovesTheSecondOption: an agent asks which proposals wait,
// opens this one from the answer's citation, sees the
// passengers, seats and connection times, and approves the second option
// rather than the proposed one; the booking moves to it and the record
// says it was not the proposed one.
func TestBrowserApprovesTheSecondOption(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	s := newScenario(t)
	lh400, lh402, lh404, aa100 := "LH400-2026-11-25", "LH402-2026-11-25", "LH404-2026-11-25", "AA100-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 3),
		s.flight("f3", "LH", "404", "FRA", "BOS", 12, 8, app.FlightScheduled, 3),
		s.flight("f4", "AA", "100", "BOS", "JFK", 22, 1.5, app.FlightScheduled, 3),
	)
	s.ingest("bookings", s.booking("PICK01", "P1", "gold", []string{"WCHR"}, lh400))
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f5", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	p := s.pendingFor("PICK01")
	if len(p.Options) != 2 || p.Options[0].Flights[0] != lh402 || p.Options[1].Flights[0] != lh404 {
		t.Fatalf("options %+v", p.Options)
	}
	addUser(t, s.m, "desk3", app.RoleAgent, "desk three password")
	base := s.m.HTTP.URL()
	ctx := MustRunBrowser(t)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The agent finds it by asking, and opens it from its citation.
	err := chromedp.Do(tctx,
		chromedp.Navigate(base+"/ask"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "desk3"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "desk three password"),
		chromedp.Submit(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="ask-question"]`), "which proposals are waiting for approval?"),
		chromedp.Click(chromedp.CSS(`[data-testid="ask-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-answer"] a[href="/proposals/`+p.ID+`"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="ask-answer"] a[href="/proposals/`+p.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="options"]`)),
	)
	if err != nil {
		shown, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		t.Fatalf("log in, ask for the open proposals and open this one: %v; the page shows %q", err, shown)
	}
	screenshot(t, tctx, "proposal-options")
	people, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="passengers"]`)))
	if err != nil {
		t.Fatal(err)
	}
	second, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-option="opt-2"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(people, "Pax P1") || !strings.Contains(people, "WCHR") || !strings.Contains(people, "gold") ||
		!strings.Contains(second, "BOS 2h00 (min 1h30)") {
		t.Fatalf("proposal page: passengers %q, second option %q", people, second)
	}
	err = chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(`[data-option="opt-2"] [data-testid="approve-option"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="proposal-message"]`)),
	)
	if err != nil {
		t.Fatalf("approve the second option: %v", err)
	}
	msg, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="proposal-message"]`)))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, tctx, "proposal-second-approved")
	if !strings.HasPrefix(msg, "Executed") || !strings.Contains(msg, "not the proposed opt-1") {
		t.Fatalf("after approval: %q", msg)
	}
	checkFor(t, 10*time.Second, func() error {
		b, err := s.m.Store.Booking(context.Background(), "PICK01")
		if err != nil {
			return err
		}
		if len(b.Segments) != 2 || b.Segments[0].Flight != lh404 || b.Segments[1].Flight != aa100 {
			return fmt.Errorf("segments %+v", b.Segments)
		}
		return nil
	})
	if got, _ := s.m.Store.Proposal(context.Background(), p.ID); got.ApprovedOption != "opt-2" || got.Proposed {
		t.Fatalf("record: approved %q proposed %v", got.ApprovedOption, got.Proposed)
	}
}

// TestBrowserDutyManagerMidDay follows a duty manager at 13:00 on the
// node's clock: the board opens at now (what went more than an hour ago is
// folded away), a cancellation arriving highlights its row and updates the
// counts, and search finds a passenger by part of the name and opens their
// page.
func TestBrowserDutyManagerMidDay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	zone, _ := time.LoadLocation(node.DefaultConfig().TimeZone)
	today := time.Now().In(zone)
	at := func(h, m int) time.Time { return time.Date(today.Year(), today.Month(), today.Day(), h, m, 0, 0, zone) }
	start, t0 := at(13, 0), time.Now()
	m := mustRunMainOn(t, func() time.Time { return start.Add(time.Since(t0)) })
	base := m.HTTP.URL()
	addUser(t, m, "duty1", app.RoleAgent, "duty one password")
	date := start.Format("2006-01-02")
	n := 0
	flight := func(number string, dep time.Time, status string) string {
		n++
		key := "LH" + number + "-" + date
		f := app.Flight{Flight: key, Carrier: "LH", Number: number, Date: date, Origin: "FRA", Destination: "JFK",
			ScheduledDeparture: dep, ScheduledArrival: dep.Add(9 * time.Hour), Status: status, Gate: "A12", Capacity: map[string]int{"Y": 100}}
		e, _ := app.NewEvent(fmt.Sprintf("mid-%d", n), "test", app.TypeFlightStatus, key, time.Now().Add(time.Duration(n)*time.Millisecond), f)
		return string(e.Raw)
	}
	for _, ev := range []string{flight("100", at(10, 0), app.FlightDeparted), flight("200", at(12, 30), app.FlightDeparted),
		flight("300", at(14, 0), app.FlightScheduled), flight("302", at(15, 0), app.FlightScheduled)} {
		if code, body := post(t, base+"/api/v1/topics/flights/events", ev); code != 200 {
			t.Fatal(code, body)
		}
	}
	b := app.Booking{Locator: "HOP001", Status: "active", Segments: []app.Segment{{Flight: "LH300-" + date, Cabin: "Y", Seat: "12C"}},
		Passengers: []app.BookingPassenger{{ID: "P-GH", Name: "Grace Hopperfield", Tier: "gold", SSR: []string{"WCHR"}}}}
	be, _ := app.NewEvent("mid-b1", "test", app.TypeBookingCreated, b.Locator, time.Now(), b)
	if code, body := post(t, base+"/api/v1/topics/bookings/events", string(be.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	pe, _ := app.NewEvent("mid-p1", "test", app.TypePassengerUpserted, "P-GH", time.Now(),
		app.Passenger{ID: "P-GH", Name: "Grace Hopperfield", Tier: "gold", SSR: []string{"WCHR"}})
	if code, body := post(t, base+"/api/v1/topics/passengers/events", string(pe.Raw)); code != 200 {
		t.Fatal(code, body)
	}
	waitCaughtUp(t, m, 10*time.Second)

	ctx := MustRunBrowser(t)
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err := chromedp.Do(tctx,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "duty1"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "duty one password"),
		chromedp.Submit(chromedp.CSS(`[data-testid="login-form"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#f-LH300-`+date)),
	)
	if err != nil {
		t.Fatalf("log in and open the board: %v", err)
	}
	shown := func(key string) bool {
		v, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("f-`+key+`")).display !== "none"`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	earlierShown, lastHourShown := shown("LH100-"+date), shown("LH200-"+date)
	folded, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="folded"]`)))
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, tctx, "board-midday")
	if earlierShown || !lastHourShown || !strings.Contains(folded, "Show the 1 flight that") {
		t.Fatalf("board at 13:00: 10:00 shown %v, 12:30 shown %v, folded %q", earlierShown, lastHourShown, folded)
	}
	counts := func() (string, string) {
		d, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="disrupted-count"]`)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="cancelled-count"]`)))
		if err != nil {
			t.Fatal(err)
		}
		return d, c
	}
	if d, c := counts(); d != "0" || c != "0" {
		t.Fatalf("before: %s disrupted, %s cancelled", d, c)
	}

	if code, body := post(t, base+"/api/v1/topics/flights/events", flight("300", at(14, 0), app.FlightCancelled)); code != 200 {
		t.Fatal(code, body)
	}
	if err := chromedp.Do(tctx, chromedp.WaitVisible(chromedp.CSS(`#f-LH300-`+date+`.just-cancelled`))); err != nil {
		t.Fatalf("the cancellation was not highlighted: %v", err)
	}
	screenshot(t, tctx, "board-cancellation-highlighted")
	if d, c := counts(); d != "1" || c != "1" {
		t.Fatalf("after the cancellation: %s disrupted, %s cancelled", d, c)
	}

	boardByKeyboard(t, tctx, date)
	boardOnATablet(t, tctx, base, date)

	err = chromedp.Do(tctx,
		chromedp.Navigate(base+"/search"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="search-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="search-q"]`), "Hopp"),
		chromedp.Click(chromedp.CSS(`[data-testid="search-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="search-hit"][data-kind="passenger"] a`)),
	)
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		t.Fatalf("search by part of the name: %v; the page shows %q", err, page)
	}
	screenshot(t, tctx, "search")
	err = chromedp.Do(tctx,
		chromedp.Click(chromedp.CSS(`[data-testid="search-hit"][data-kind="passenger"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="passenger-meta"]`)),
	)
	if err != nil {
		t.Fatalf("open the passenger page: %v", err)
	}
	meta, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="passenger-meta"]`)))
	ssr, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS(`[data-testid="ssr"]`)))
	screenshot(t, tctx, "passenger")
	if !strings.Contains(meta, "P-GH") || !strings.Contains(ssr, "WCHR") {
		t.Fatalf("passenger page: %q, %q", meta, ssr)
	}
	askAndSeeTheHistory(t, tctx, base)
}

// focused is the id of the element that has the keyboard focus.
func focused(t *testing.T, ctx context.Context) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// boardByKeyboard walks the mid-day board's departures with j, k and the
// arrow keys and opens a flight with Enter. The 10:00 departure is folded
// away, so the first row is 12:30's.
func boardByKeyboard(t *testing.T, ctx context.Context, date string) {
	t.Helper()
	steps := []struct{ key, want string }{
		{"j", "f-LH200-" + date},
		{"j", "f-LH300-" + date},
		{kb.ArrowDown, "f-LH302-" + date},
		{"j", "f-LH302-" + date}, // the last row stays
		{"k", "f-LH300-" + date},
		{kb.ArrowUp, "f-LH200-" + date},
		{"j", "f-LH300-" + date},
	}
	for i, s := range steps {
		if err := chromedp.Do(ctx, chromedp.KeyEvent(s.key)); err != nil {
			t.Fatal(err)
		}
		if got := focused(t, ctx); got != s.want {
			t.Fatalf("key %d (%q): focus on %q, want %q", i+1, s.key, got, s.want)
		}
	}
	screenshot(t, ctx, "board-keyboard")
	err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS(`[data-testid="flight"]`)))
	if err != nil {
		t.Fatalf("Enter did not open the focused flight: %v", err)
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.HasSuffix(loc, "/flights/LH300-"+date) {
		t.Fatalf("Enter opened %q, want the LH300 page (%v)", loc, err)
	}
	screenshot(t, ctx, "flight")
}

// boardOnATablet opens the board on a tablet held upright: departures
// and arrivals are tabs, one shows at a time, the page does not scroll
// sideways, and the arrow keys switch tabs.
func boardOnATablet(t *testing.T, ctx context.Context, base, date string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.EmulateViewport(tabletW, tabletH), chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`.board-tabs`)), chromedp.WaitVisible(chromedp.CSS(`#f-LH300-`+date)))
	if err != nil {
		t.Fatalf("tablet tabs: %v", err)
	}
	layout := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[getComputedStyle(document.getElementById("departures")).display, getComputedStyle(document.getElementById("arrivals")).display,
			document.documentElement.scrollWidth <= window.innerWidth ? "fits" : "scrolls sideways " + document.documentElement.scrollWidth].join(" ")`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got := layout(); got != "block none fits" {
		t.Fatalf("tablet board: departures, arrivals, width: %q, want %q", got, "block none fits")
	}
	shoot(t, ctx, "board-tablet")
	if err := chromedp.Do(ctx, chromedp.KeyEvent("j"), chromedp.KeyEvent(kb.ArrowRight)); err != nil {
		t.Fatal(err)
	}
	if got := layout(); got != "none block fits" {
		t.Fatalf("after the right arrow key: %q, want the arrivals tab", got)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(desktopW, desktopH)); err != nil {
		t.Fatal(err)
	}
}

// askAndSeeTheHistory asks a facts question on the Ask page, sees it on
// top of the person's history once answered, without loading the page
// again, and finds it, answered, when the page is opened again.
func askAndSeeTheHistory(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/ask"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-form"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="ask-question"]`), "What is the status of LH300?"),
		chromedp.Click(chromedp.CSS(`[data-testid="ask-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-sources"] li`)),
	)
	if err != nil {
		t.Fatalf("ask: %v", err)
	}
	checkFor(t, 30*time.Second, func() error {
		list, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="ask-history"]`)))
		if err != nil {
			return err
		}
		if !strings.Contains(list, "What is the status of LH300?") {
			return fmt.Errorf("the page's history does not show the question just answered: %q", list)
		}
		return nil
	})
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/ask"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="ask-history-item"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="ask-history-item"] summary`)),
	)
	if err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main`)))
		t.Fatalf("ask and reopen the page: %v; it shows %q", err, page)
	}
	item, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`[data-testid="ask-history-item"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(item, "What is the status of LH300?") || !strings.Contains(item, "cancelled") || !strings.Contains(item, "as of") {
		t.Fatalf("the history shows %q", item)
	}
	screenshot(t, ctx, "ask-history")
}
