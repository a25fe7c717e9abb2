package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
	"github.com/twmb/franz-go/pkg/kgo"
)

// erasureFixture ingests a flight, a passenger with a name found nowhere
// else, and bookings naming them, over the ingest API.
type erasureFixture struct {
	name, id, seat, ssr string
	flight              string
	locators            []string
}

func ingestPerson(t *testing.T, m *node.Main, bookings int) erasureFixture {
	t.Helper()
	base := m.HTTP.URL()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	f := erasureFixture{name: "Ottoline Vexquorrin", id: "PAX-OV-7731", seat: "47K", ssr: "WCHC", flight: "LH400-2026-11-25"}
	mustPost := func(topic, raw string) {
		t.Helper()
		if code, body := post(t, base+"/api/v1/topics/"+topic+"/events", raw); code != 200 {
			t.Fatalf("ingest %s: %d %v", topic, code, body)
		}
	}
	mustPost(app.TopicFlights, flightJSON("f1", f.flight, "scheduled", t0))
	p, _ := app.NewEvent("p1", "test", app.TypePassengerUpserted, f.id, t0, app.Passenger{ID: f.id, Name: f.name, Tier: "platinum", SSR: []string{f.ssr}, Language: "nl"})
	mustPost(app.TopicPassengers, string(p.Raw))
	for i := range bookings {
		loc := fmt.Sprintf("OVX%03d", i)
		f.locators = append(f.locators, loc)
		b := app.Booking{Locator: loc, Status: "active",
			Passengers: []app.BookingPassenger{{ID: f.id, Name: f.name, Tier: "platinum", SSR: []string{f.ssr}}},
			Segments:   []app.Segment{{Flight: f.flight, Cabin: "Y", Seat: f.seat}}}
		e, _ := app.NewEvent("b-"+loc, "test", app.TypeBookingCreated, loc, t0.Add(time.Duration(i)*time.Millisecond), b)
		mustPost(app.TopicBookings, string(e.Raw))
	}
	if bookings > 1 {
		// A later version of the first booking, so the log holds history.
		b := app.Booking{Locator: f.locators[0], Status: "active",
			Passengers: []app.BookingPassenger{{ID: f.id, Name: f.name, Tier: "platinum", SSR: []string{f.ssr, "VGML"}}},
			Segments:   []app.Segment{{Flight: f.flight, Cabin: "Y", Seat: f.seat}}}
		e, _ := app.NewEvent("b2-"+f.locators[0], "test", app.TypeBookingChanged, f.locators[0], t0.Add(time.Minute), b)
		mustPost(app.TopicBookings, string(e.Raw))
	}
	checkFor(t, 20*time.Second, func() error {
		code, body := get(t, base+"/api/v1/bookings/"+f.locators[len(f.locators)-1])
		if code != 200 {
			return fmt.Errorf("booking: %d %v", code, body)
		}
		return nil
	})
	return f
}

// eraseOverAPI appends passenger.erased as `apron erase` does, with an
// admin token (the only role that may).
func eraseOverAPI(t *testing.T, m *node.Main, id string) {
	t.Helper()
	e, _ := app.NewEvent("erase-"+id, "apron/erase/test-admin", app.TypePassengerErased, id, time.Now().UTC(), map[string]string{"id": id})
	req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/topics/passengers/events", strings.NewReader(string(e.Raw)))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+tokenFor(t, m, app.RoleAdmin))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("erase: %d %s", resp.StatusCode, body)
	}
}

// waitErasureAudited waits for the audit event of the erasure and returns it.
func waitErasureAudited(t *testing.T, m *node.Main) (app.ErasureReport, time.Duration) {
	t.Helper()
	var rep app.ErasureReport
	d := checkFor(t, 30*time.Second, func() error {
		info, err := m.Broker.Topic(context.Background(), app.TopicAudit)
		if err != nil || info.Messages == 0 {
			return fmt.Errorf("no audit event yet (%v)", err)
		}
		got, err := m.Broker.Get(context.Background(), app.TopicAudit, info.LastOffset)
		if err != nil {
			return err
		}
		ev, err := app.ParseTrusted(got.Data)
		if err != nil {
			return err
		}
		return json.Unmarshal(ev.Data, &rep)
	})
	return rep, d
}

// scanData reads every file under dir and names those holding any needle.
func scanData(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			for _, form := range []string{n, strings.ToLower(n)} {
				if i := bytes.Index(b, []byte(form)); i >= 0 {
					rel, _ := filepath.Rel(dir, path)
					found = append(found, fmt.Sprintf("%q in %s at byte %d", form, rel, i))
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// erasedPerson is the person TestErasureLeavesNothingOnDisk erases: a
// name, a seat and a need found nowhere else.
var erasedPerson = struct{ name, id, seat, ssr string }{"Ottoline Vexquorrin", "PAX-OV-7731", "47K", "WCHC"}

// needlesOf are the byte strings no file may hold after the erasure:
// the name whole and in parts, the seat as JSON and as document text, the
// need as code and as words.
func needlesOf(name, seat, ssr string) []string {
	out := []string{name}
	out = append(out, strings.Fields(name)...)
	return append(out, `"`+seat+`"`, "seat "+seat, ssr, "wheelchair assistance to the seat")
}

// personBooking is a booking of the erased person alone, in seat 47K.
func (s *scenario) personBooking(id, loc string, at time.Time, ssr []string, flights ...string) string {
	p := erasedPerson
	b := app.Booking{Locator: loc, Status: "active", Passengers: []app.BookingPassenger{{ID: p.id, Name: p.name, Tier: "platinum", SSR: ssr}}}
	for _, f := range flights {
		b.Segments = append(b.Segments, app.Segment{Flight: f, Cabin: "Y", Seat: p.seat})
	}
	e, _ := app.NewEvent(id, "central", app.TypeBookingCreated, loc, at, b)
	return string(e.Raw)
}

// askAPI asks a question over POST /api/v1/ask and returns the answer's text.
func askAPI(t *testing.T, m *node.Main, question string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"question": question})
	req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/ask", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans app.AskAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 {
		t.Fatalf("ask %q: %d %v", question, resp.StatusCode, err)
	}
	return ans.Answer
}

// rejectAPI rejects a proposal with a reason.
func (s *scenario) reject(id, reason string) {
	s.t.Helper()
	body, _ := json.Marshal(map[string]string{"reason": reason})
	req, _ := http.NewRequest("POST", s.m.HTTP.URL()+"/api/v1/proposals/"+id+"/reject", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("reject %s: %d", id, resp.StatusCode)
	}
}

// personOnTheRecord sets up the person of the erasure test on s: a
// profile, two bookings on LH400 (one with a later version), LH400
// cancelled, the first booking's proposal approved and the second's
// rejected with a reason that names them, questions about them answered
// over the API and on the assist topic, and a refused event quoting them.
func personOnTheRecord(t *testing.T, s *scenario) (approvedLoc string) {
	p := erasedPerson
	lh400, lh402 := "LH400-2026-11-25", "LH402-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 5))
	pe, _ := app.NewEvent("p1", "central", app.TypePassengerUpserted, p.id, s.day.Add(5*time.Hour), app.Passenger{ID: p.id, Name: p.name, Tier: "platinum", SSR: []string{p.ssr}, Language: "nl"})
	s.ingest("passengers", string(pe.Raw))
	s.ingest("bookings",
		s.personBooking("b1", "OVX000", s.day.Add(5*time.Hour), []string{p.ssr}, lh400),
		s.personBooking("b2", "OVX001", s.day.Add(5*time.Hour), []string{p.ssr}, lh400),
		s.personBooking("b3", "OVX001", s.day.Add(5*time.Hour+time.Minute), []string{p.ssr, "VGML"}, lh400),
		s.booking("OTHER1", "P9", "none", nil, lh400))
	waitCaughtUp(t, s.m, 10*time.Second)
	s.ingest("flights", s.flight("f3", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	byLoc := map[string]*app.Proposal{}
	checkFor(t, 15*time.Second, func() error {
		for _, pr := range s.proposals(app.ProposalPending) {
			byLoc[pr.Locator] = pr
		}
		if byLoc["OVX000"] == nil || byLoc["OVX001"] == nil {
			return fmt.Errorf("proposals: %v", byLoc)
		}
		return nil
	})
	if code, ex := s.approve(byLoc["OVX000"].ID); code != 200 || ex.Outcome != app.ProposalExecuted {
		t.Fatalf("approve: %d %+v", code, ex)
	}
	s.reject(byLoc["OVX001"].ID, "Ms "+p.name+" in seat "+p.seat+" takes the train")
	checkFor(t, 15*time.Second, func() error {
		b, err := s.m.Store.Booking(context.Background(), "OVX000")
		if err != nil || b.Segments[0].Flight != lh402 {
			return fmt.Errorf("the approved rebooking is not in the state yet: %v", err)
		}
		return nil
	})
	if ans := askAPI(t, s.m, "Which passengers are on LH400?"); !strings.Contains(ans, p.name) {
		t.Fatalf("the API answer does not quote the person: %q", ans)
	}
	s.ingest("assist",
		assistRequest(t, "q1", app.AssistRequest{CorrelationID: "c1", Question: "Which passengers are on LH400?"}),
		assistRequest(t, "q2", app.AssistRequest{CorrelationID: "c2", Question: "Where is " + p.name + "?"}))
	if ans := waitAssistAnswer(t, s.m, "c1", 20*time.Second); ans.Answer == nil || !strings.Contains(ans.Answer.Answer, p.name) {
		t.Fatalf("the assist answer does not quote the person: %+v", ans)
	}
	waitAssistAnswer(t, s.m, "c2", 20*time.Second)
	// An event the schema refuses, appended past the ingest API: its dead letter quotes it.
	bad := fmt.Sprintf(`{"specversion":"1.0","id":"bad-1","source":"site-app","type":"passenger.upserted","time":"2026-11-25T06:00:00Z","subject":%q,"data":{"id":%q,"name":%q,"tier":"diamond"}}`, p.id, p.id, p.name)
	if _, err := s.m.Broker.JetStream().Publish(context.Background(), app.LogSubject(app.TopicPassengers, p.id), []byte(bad)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		if ti, _ := s.m.Broker.Topic(context.Background(), app.TopicDeadLetter); ti.Messages == 0 {
			return fmt.Errorf("no dead letter yet")
		}
		return nil
	})
	return "OVX000"
}

func TestErasureLeavesNothingOnDisk(t *testing.T) {
	data := t.TempDir()
	s := newScenario(t, func(c *node.Config) { c.Data = data })
	m, p := s.m, erasedPerson
	approved := personOnTheRecord(t, s)
	needles := needlesOf(p.name, p.seat, p.ssr)
	m.Store.Checkpoint(context.Background())
	before := scanData(t, data, needles...)
	for _, topic := range []string{"rebookings", "assist", "deadletter", "bookings", "state.db"} {
		if !slices.ContainsFunc(before, func(f string) bool { return strings.Contains(f, topic) }) {
			t.Fatalf("before the erasure nothing of the person is in %s, so the scan there proves nothing: %v", topic, before)
		}
	}

	eraseOverAPI(t, m, p.id)
	rep, d := waitErasureAudited(t, m)
	t.Logf("erasure audited after %s: %+v", d.Round(time.Millisecond), rep)
	if rep.BookingsRedacted != 2 || rep.RebookingsRedacted < 1 || rep.AnswersErased < 3 || rep.DeadLettersErased != 1 || rep.ProposalsRedacted < 1 {
		t.Errorf("the audit does not count what went: %+v", rep)
	}
	if !strings.HasPrefix(rep.RequestedBy, "admin-client (API token ") {
		t.Errorf("requested by %q, want the authenticated token's user, not the event's source", rep.RequestedBy)
	}
	audit, _ := m.Broker.Last(context.Background(), app.TopicAudit, app.ErasureRef("erase-" + p.id)[:24])
	for _, n := range append(needles, p.id, approved) {
		if bytes.Contains(audit.Data, []byte(n)) {
			t.Errorf("the audit record holds %q: %s", n, audit.Data)
		}
	}
	// The person's bookings stay, redacted; the other traveller is untouched.
	b, err := m.Store.Booking(context.Background(), approved)
	if err != nil || b.Passengers[0].Name != app.ErasedName || b.Segments[0].Flight != "LH402-2026-11-25" {
		t.Fatalf("redacted booking: %+v %v", b, err)
	}
	if other, err := m.Store.Booking(context.Background(), "OTHER1"); err != nil || other.Passengers[0].Name != "Pax P9" {
		t.Fatalf("another traveller's booking: %+v %v", other, err)
	}
	checkFor(t, 30*time.Second, func() error {
		var n int
		if err := m.Store.DB().QueryRow(`SELECT COUNT(*) FROM index_docs WHERE text LIKE ?`, "%Vexquorrin%").Scan(&n); err != nil || n > 0 {
			return fmt.Errorf("%d documents (%v)", n, err)
		}
		return nil
	})
	if ans := askAPI(t, m, "Which passengers are on LH400?"); strings.Contains(ans, "Vexquorrin") {
		t.Errorf("an answer after the erasure quotes the person: %q", ans)
	}
	// The proposals' history on the control topic was replaced by a
	// restore of the redacted rows: a replay gives the same store.
	waitCaughtUp(t, m, 10*time.Second)
	if diff, err := node.CheckStore(context.Background(), m.Broker, m.Store, t.TempDir()+"/check.db", m.Broker.Trusted); err != nil || len(diff) > 0 {
		t.Errorf("after the erasure the store differs from a rebuild: %v %v", diff, err)
	}
	m.Store.Checkpoint(context.Background())
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if found := scanData(t, data, needles...); len(found) > 0 {
		t.Errorf("after the erasure, on disk: %s", strings.Join(found, "; "))
	}

	bin := buildBinary(t)
	if out, errOut, err := runApron(t, bin, "", "", "rebuild", "--data", data); err != nil {
		t.Fatalf("rebuild: %v\n%s%s", err, out, errOut)
	}
	if found := scanData(t, data, needles...); len(found) > 0 {
		t.Errorf("after a rebuild, on disk: %s", strings.Join(found, "; "))
	}
}

// personBytes sums the log records of the person's profile and bookings.
func personBytes(t *testing.T, m *node.Main, f erasureFixture) int {
	n := 0
	count := func(le app.LogEntry) error { n += len(le.Data); return nil }
	for _, loc := range f.locators {
		if err := m.Broker.Entries(context.Background(), app.TopicBookings, loc, count); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Broker.Entries(context.Background(), app.TopicPassengers, f.id, count); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestErasureOfFiftyBookings erases a person on 50 bookings and reports
// the time and the bytes written to disk for it (write amplification
// against the bytes of the person's records); the figures are in
// decision 0017.
func TestErasureOfFiftyBookings(t *testing.T) {
	m := MustRunMain(t)
	f := ingestPerson(t, m, 50)
	waitCaughtUp(t, m, 20*time.Second)
	m.Store.Checkpoint(context.Background())
	before, _ := m.Broker.Topic(context.Background(), app.TopicBookings)
	records := personBytes(t, m, f)
	w0 := bench.WriteBytes()
	start := time.Now()
	eraseOverAPI(t, m, f.id)
	rep, _ := waitErasureAudited(t, m)
	elapsed := time.Since(start)
	// Until the audit event, the eraser's work on the log; then the state,
	// the index and the checkpoint.
	atAudit := bench.WriteBytes() - w0
	waitCaughtUp(t, m, 20*time.Second)
	m.Store.Checkpoint(context.Background())
	written := bench.WriteBytes() - w0
	after, _ := m.Broker.Topic(context.Background(), app.TopicBookings)
	t.Logf("erasure of a passenger on %d bookings: %s end to end, %d ms in the eraser, %d log entries erased, %d redacted; bookings topic %d -> %d bytes",
		len(f.locators), elapsed.Round(time.Millisecond), rep.DurationMS, rep.LogEntriesErased, rep.BookingsRedacted, before.Bytes, after.Bytes)
	if w0 >= 0 {
		t.Logf("written to disk from the request to the checkpoint after it: %d bytes for %d bytes of the person's records (%.1fx); %d of them by the audit event (the log's part)",
			written, records, float64(written)/float64(records), atAudit)
	}
	if rep.BookingsRedacted != 50 {
		t.Fatalf("audit %+v", rep)
	}
}

// TestEraseCommand runs the real `apron erase --passenger ID` against a
// running `apron serve`: the command appends the erasure with an admin's
// token, waits for its completion and says who asked; the node's API and
// admin page show it completed with the token's user as the requester.
func TestEraseCommand(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	tok := crashToken(t, bin, data, app.RoleAdmin, "site-admin")
	_, base := startServe(t, bin, data)
	testTokens.Store(base, tok)
	p := erasedPerson
	t0 := time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)
	pe, _ := app.NewEvent("p1", "central", app.TypePassengerUpserted, p.id, t0, app.Passenger{ID: p.id, Name: p.name, Tier: "gold"})
	b := app.Booking{Locator: "OVXCMD", Status: "active", Passengers: []app.BookingPassenger{{ID: p.id, Name: p.name, Tier: "gold"}},
		Segments: []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "Y", Seat: p.seat}}}
	be, _ := app.NewEvent("b1", "central", app.TypeBookingCreated, b.Locator, t0, b)
	for topic, raw := range map[string][]byte{app.TopicPassengers: pe.Raw, app.TopicBookings: be.Raw} {
		if code, body := post(t, base+"/api/v1/topics/"+topic+"/events", string(raw)); code != 200 {
			t.Fatalf("ingest %s: %d %v", topic, code, body)
		}
	}
	checkFor(t, 20*time.Second, func() error {
		if code, _ := get(t, base+"/api/v1/bookings/OVXCMD"); code != 200 {
			return fmt.Errorf("booking: %d", code)
		}
		return nil
	})

	if _, errOut, err := runApron(t, bin, "", "", "erase", "--http", strings.TrimPrefix(base, "http://")); err == nil || !strings.Contains(errOut, "passenger") {
		t.Fatalf("erase without --passenger: %v %s", err, errOut)
	}
	out, errOut, err := runApron(t, bin, "", "", "erase", "--passenger", p.id, "--token", tok, "--http", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatalf("apron erase: %v\n%s%s", err, out, errOut)
	}
	t.Logf("apron erase: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "completed: 1 bookings redacted") || !strings.Contains(out, "requested by site-admin (API token 1)") {
		t.Fatalf("apron erase output: %s", out)
	}
	_, body := get(t, base+"/api/v1/bookings/OVXCMD")
	if strings.Contains(fmt.Sprint(body), p.name) {
		t.Fatalf("the booking still names the person: %v", body)
	}
	resp, err := authGet(base + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := bytes.Index(page, []byte(`data-testid="erasures"`))
	if i < 0 || !bytes.Contains(page[i:], []byte("completed")) || !bytes.Contains(page[i:], []byte("site-admin (API token 1)")) || bytes.Contains(page, []byte(p.id)) {
		t.Fatalf("admin page erasures: %s", page[max(i, 0):])
	}
}

// centralRecordsUntil reads every record of topics from Kafka with a
// client of its own (not the node's bridge), from the start, until
// enough(records) is nil or d passed.
func centralRecordsUntil(t *testing.T, addr string, enough func([]*kgo.Record) error, d time.Duration, topics ...string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	checkFor(t, d, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
		return enough(out)
	})
	return out
}

// TestErasureWithTheBridge erases a person whose rebookings central has
// already received, with the bridge on a real Kafka: what the node sends
// after the erasure (a redacted copy of the rejection that named them,
// heartbeats, the audit record) carries nothing of the person, and the
// erasure itself reaches central's <site>.audit topic.
func TestErasureWithTheBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Kafka broker")
	}
	addr := mustRunKafka(t)
	for _, topic := range []string{"flights", "bookings", "passengers", "documents", "fra.rebookings", "fra.heartbeats", "fra.audit"} {
		kcat(t, "", "-b", addr, "-L", "-t", topic) // auto-creates the topic
	}
	s := newScenario(t, func(c *node.Config) { c.Kafka.Brokers = []string{addr} })
	p := erasedPerson
	personOnTheRecord(t, s)
	// Central holds proposed x2, executed and the rejection naming them.
	// (The records may arrive in any number of polls: wait for the one
	// that names the person, else the check below proves nothing.)
	before := centralRecordsUntil(t, addr, func(rs []*kgo.Record) error {
		for _, r := range rs {
			if bytes.Contains(r.Value, []byte(p.name)) && len(rs) >= 4 {
				return nil
			}
		}
		return fmt.Errorf("%d records at central, none names the person yet", len(rs))
	}, 60*time.Second, "fra.rebookings")
	seen := map[string]bool{}
	for _, r := range before {
		seen[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] = true
	}

	eraseOverAPI(t, s.m, p.id)
	rep, _ := waitErasureAudited(t, s.m)
	// Count what came after the erasure; wait for the audit record and
	// the redacted copies themselves (heartbeats come too, at any time).
	var audit, copies int
	count := func(rs []*kgo.Record) {
		audit, copies = 0, 0
		for _, r := range rs {
			if seen[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] {
				continue
			}
			var e map[string]any
			_ = json.Unmarshal(r.Value, &e)
			switch {
			case r.Topic == "fra.audit" && e["type"] == app.TypeErasureCompleted:
				audit++
			case r.Topic == "fra.rebookings" && e[app.RedactedCopyAttr] != nil:
				copies++
			}
		}
	}
	all := centralRecordsUntil(t, addr, func(rs []*kgo.Record) error {
		count(rs)
		if audit < 1 || copies < rep.RebookingsRedacted {
			return fmt.Errorf("central has %d audit records and %d redacted copies of %d after the erasure", audit, copies, rep.RebookingsRedacted)
		}
		return nil
	}, 60*time.Second, "fra.rebookings", "fra.audit", "fra.heartbeats")
	for _, r := range all {
		if seen[fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset)] {
			continue
		}
		for _, n := range append(needlesOf(p.name, p.seat, p.ssr), p.id) {
			if bytes.Contains(r.Value, []byte(n)) {
				t.Errorf("sent to central after the erasure, %s partition %d offset %d holds %q: %s", r.Topic, r.Partition, r.Offset, n, r.Value)
			}
		}
	}
	count(all)
	if audit != 1 || copies != rep.RebookingsRedacted || copies == 0 {
		t.Fatalf("after the erasure central got %d audit records and %d redacted copies (the report says %d): %+v", audit, copies, rep.RebookingsRedacted, rep)
	}
}

// TestErasureIsNotDoneAgainOnANodeThatReplaysIt erases a person, then
// starts the node again without its state, as a node restored from a
// backup made before the erasure (or a new member of the cluster) does,
// after the log's duplicate window has passed: the materialiser meets
// passenger.erased again, and the erasure is not carried out a second
// time (no second audit record, the proposals' history not rewritten
// again), while the new state holds nothing of the person.
func TestErasureIsNotDoneAgainOnANodeThatReplaysIt(t *testing.T) {
	data := t.TempDir()
	window := func(c *node.Config) { c.Data, c.NATS.DuplicateWindow = data, node.Duration(time.Second) }
	s := newScenario(t, window)
	p := erasedPerson
	personOnTheRecord(t, s)
	eraseOverAPI(t, s.m, p.id)
	rep, _ := waitErasureAudited(t, s.m)
	if rep.BookingsRedacted != 2 || rep.ProposalsRedacted < 1 {
		t.Fatalf("the erasure: %+v", rep)
	}
	waitCaughtUp(t, s.m, 10*time.Second)
	ctx := context.Background()
	heads := func(m *node.Main) map[string]uint64 {
		out := map[string]uint64{}
		for _, topic := range []string{app.TopicAudit, app.TopicControl, app.TopicBookings, app.TopicRebookings} {
			ti, err := m.Broker.Topic(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			out[topic] = ti.LastOffset
		}
		return out
	}
	before := heads(s.m)
	if err := s.m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(data, "state.db"+suffix)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // past the duplicate window

	s2 := newScenario(t, window)
	waitCaughtUp(t, s2.m, 20*time.Second)
	ti, err := s2.m.Broker.Topic(ctx, app.TopicPassengers)
	if err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		pos, err := s2.m.Store.Position(ctx, app.StateConsumer, app.TopicPassengers)
		if err != nil || pos < ti.LastOffset {
			return fmt.Errorf("passengers applied up to %d of %d (%v)", pos, ti.LastOffset, err)
		}
		return nil
	})
	// What the node appended since: the eraser's source on none of it.
	// (A fresh planner offers its proposals again and the engine sends
	// its rejections again; the log stores what changes nothing.)
	after := heads(s2.m)
	for topic, off := range before {
		for o := off + 1; o <= after[topic]; o++ {
			le, err := s2.m.Broker.Get(ctx, topic, o)
			if err != nil {
				t.Fatal(err)
			}
			if ev, err := app.ParseTrusted(le.Data); err != nil || ev.Source == app.ErasureSource {
				t.Errorf("%s@%d after the replay, from the eraser: the erasure was done again: %.300s (%v)", topic, o, le.Data, err)
			}
		}
	}
	n := 0
	if err := s2.m.Broker.Entries(ctx, app.TopicAudit, "", func(le app.LogEntry) error {
		if ev, err := app.ParseTrusted(le.Data); err == nil && ev.Type == app.TypeErasureCompleted {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d audit records of the erasure, want 1", n)
	}
	if _, err := s2.m.Store.Passenger(ctx, p.id); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("the person's profile after the replay: %v", err)
	}
	for _, pr := range s2.proposals("") {
		b, _ := json.Marshal(pr)
		for _, needle := range needlesOf(p.name, p.seat, p.ssr) {
			if strings.Contains(string(b), needle) {
				t.Fatalf("proposal %s quotes %q after the replay: %s", pr.ID, needle, b)
			}
		}
	}
}
