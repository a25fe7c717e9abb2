package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
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

// eraseOverAPI appends passenger.erased as `apron erase` does.
func eraseOverAPI(t *testing.T, m *node.Main, id string) {
	t.Helper()
	e, _ := app.NewEvent("erase-"+id, "apron/erase/test-admin", app.TypePassengerErased, id, time.Now().UTC(), map[string]string{"id": id})
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/passengers/events", string(e.Raw)); code != 200 {
		t.Fatalf("erase: %d %v", code, body)
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

func TestErasureLeavesNothingOnDisk(t *testing.T) {
	data := t.TempDir()
	m := MustRunMain(t, func(c *node.Config) { c.Data = data })
	f := ingestPerson(t, m, 2)
	needles := []string{f.name, "Vexquorrin", "Ottoline", f.seat + `"`, f.ssr}

	// A question whose answer quotes them.
	body, _ := json.Marshal(map[string]string{"question": "Which passengers are on LH400?"})
	req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/ask", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	authorize(req)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		var ans app.AskAnswer
		_ = json.NewDecoder(resp.Body).Decode(&ans)
		resp.Body.Close()
		t.Logf("answer before the erasure quotes the name: %v", strings.Contains(fmt.Sprint(ans), f.name))
	}
	if len(scanData(t, data, f.name)) == 0 {
		t.Fatal("the name is not on disk before the erasure; the scan proves nothing")
	}

	eraseOverAPI(t, m, f.id)
	rep, d := waitErasureAudited(t, m)
	t.Logf("erasure audited after %s: %+v", d.Round(time.Millisecond), rep)
	if rep.BookingsRedacted != 2 || rep.RequestedBy != "apron/erase/test-admin" {
		t.Fatalf("audit %+v", rep)
	}
	if strings.Contains(fmt.Sprint(rep), f.id) {
		t.Fatalf("the audit names the person: %+v", rep)
	}
	// The index catches up: no document carries the person.
	checkFor(t, 30*time.Second, func() error {
		var n int
		if err := m.Store.DB().QueryRow(`SELECT COUNT(*) FROM index_docs WHERE text LIKE ?`, "%Vexquorrin%").Scan(&n); err != nil || n > 0 {
			return fmt.Errorf("%d documents (%v)", n, err)
		}
		return nil
	})
	// The redacted booking is the log's only version of it.
	le, err := m.Broker.Last(context.Background(), app.TopicBookings, f.locators[0])
	if err != nil || bytes.Contains(le.Data, []byte(f.name)) || !bytes.Contains(le.Data, []byte(app.ErasedName)) {
		t.Fatalf("latest booking version: %v %s", err, le.Data)
	}
	if _, err := m.Broker.Get(context.Background(), app.TopicBookings, 1); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("the original booking.created is still in the log: %v", err)
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

func TestErasureOfFiftyBookings(t *testing.T) {
	m := MustRunMain(t)
	f := ingestPerson(t, m, 50)
	before, _ := m.Broker.Topic(context.Background(), app.TopicBookings)
	start := time.Now()
	eraseOverAPI(t, m, f.id)
	rep, _ := waitErasureAudited(t, m)
	elapsed := time.Since(start)
	after, _ := m.Broker.Topic(context.Background(), app.TopicBookings)
	t.Logf("erasure of a passenger on %d bookings: %s end to end, %d ms in the eraser, %d log entries erased, %d redacted; bookings topic %d -> %d bytes",
		len(f.locators), elapsed.Round(time.Millisecond), rep.DurationMS, rep.LogEntriesErased, rep.BookingsRedacted, before.Bytes, after.Bytes)
	if rep.BookingsRedacted != 50 {
		t.Fatalf("audit %+v", rep)
	}
}
