package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats.go"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it at cleanup. It skips the test, saying why, when the test
// does not run as root or the mount is refused (a container without
// CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk needs a small file system of its own: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// diskRequest is one ingest request of padded flight events.
type diskRequest struct {
	ids  []string
	body []byte
}

// paddedFlights makes n flight events padded with pad bytes, for flights
// of date (a day no booking of the simulator uses, so they make no
// proposals).
func paddedFlights(t *testing.T, prefix, date string, n, pad int) diskRequest {
	t.Helper()
	var r diskRequest
	var buf bytes.Buffer
	now := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		key := fmt.Sprintf("LH%d-%s", 400+i%7, date)
		f := app.Flight{Flight: key, Carrier: "LH", Number: fmt.Sprint(400 + i%7), Date: date, Origin: "FRA", Destination: "JFK",
			ScheduledDeparture: now.Add(time.Hour), ScheduledArrival: now.Add(9 * time.Hour), Status: "delayed"}
		raw, _ := json.Marshal(f)
		var data map[string]any
		_ = json.Unmarshal(raw, &data)
		data["x_pad"] = strings.Repeat("p", pad)
		e, err := app.NewEvent(id, "disk-test", app.TypeFlightStatus, key, now, data)
		if err != nil {
			t.Fatal(err)
		}
		r.ids = append(r.ids, id)
		buf.Write(e.Raw)
		buf.WriteByte('\n')
	}
	r.body = buf.Bytes()
	return r
}

// diskClient posts to a node and keeps count of what it was told.
type diskClient struct {
	t        *testing.T
	url      string
	token    string
	http     *http.Client
	acked    map[string]bool
	refused  map[string]bool
	slowest  time.Duration // the slowest 507
	statuses map[int]int
	// uncertain are requests in flight when the store failed: the node
	// answered 503, stored or not, and they are sent again later.
	uncertain []diskRequest
}

// post sends r and returns the status. The client gives up after 10 s,
// as a site application would: a hanging node fails the test.
func (c *diskClient) post(r diskRequest) int {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.url+"/api/v1/topics/flights/events", bytes.NewReader(r.body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+c.token)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("ingest of %d events: %v (after %s)", len(r.ids), err, time.Since(start).Round(time.Millisecond))
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.statuses[resp.StatusCode]++
	switch resp.StatusCode {
	case http.StatusOK:
		var out struct{ Results []app.AppendResult }
		if err := json.Unmarshal(body, &out); err != nil || len(out.Results) != len(r.ids) {
			c.t.Fatalf("200 without a result per event: %v %s", err, body)
		}
		for _, id := range r.ids {
			c.acked[id] = true
		}
	case http.StatusInsufficientStorage:
		c.slowest = max(c.slowest, time.Since(start))
		for _, id := range r.ids {
			c.refused[id] = true
		}
	case http.StatusServiceUnavailable:
		if !strings.Contains(string(body), "may or may not be stored") {
			c.t.Fatalf("ingest: %d %s", resp.StatusCode, body)
		}
		c.uncertain = append(c.uncertain, r)
	default:
		c.t.Fatalf("ingest: %d %s", resp.StatusCode, body)
	}
	return resp.StatusCode
}

func readyz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFullDiskRefusesAndRecovers runs the binary on a 48 MiB tmpfs and
// fills it with events, in requests of 1, 40 and 1,200 events (more than
// one group commit). Filled, ingest answers 507 at once and /readyz 503;
// once a ballast file is removed, ingest works again without a restart,
// and the node stops quickly. Then the log holds every acknowledged event
// once and no event of a refused request. Two ways to fill the disk: the
// node's own free-space check (nats.min_free), and with that check off the
// server's store failing to write (ENOSPC), which nats-server keeps until
// its streams are reopened.
func TestFullDiskRefusesAndRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary on a file system it fills")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		name    string
		minFree int64
	}{
		{"free-space check", 6 << 20},
		{"store write error", 0},
	} {
		t.Run(tc.name, func(t *testing.T) { fillAndRecover(t, bin, tc.minFree) })
	}
}

func fillAndRecover(t *testing.T, bin string, minFree int64) {
	mnt := mountTmpfs(t, 48<<20)
	data := filepath.Join(mnt, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "apron.json")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, `{"nats": {"min_free": %d}}`, minFree), 0o600); err != nil {
		t.Fatal(err)
	}
	// The token goes on the log too, so the command needs the same free
	// space setting as the node.
	token := crashToken(t, bin, data, "agent", "disk-test", "--config", cfgFile)
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 10<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	n := startCrashNode(t, bin, data, addr, "--config", cfgFile, "--log-level", "warn")
	base := "http://" + addr
	checkFor(t, 30*time.Second, func() error {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	c := &diskClient{t: t, url: base, token: token, http: &http.Client{Timeout: 10 * time.Second},
		acked: map[string]bool{}, refused: map[string]bool{}, statuses: map[int]int{}}

	sizes := []int{1, 40, 1200}
	full := -1
	for i := 0; i < 400 && full < 0; i++ {
		// A large request may not fit while small ones still do: the
		// disk is full once a single event is refused.
		if c.post(paddedFlights(t, fmt.Sprintf("fill%d", i), "2026-11-25", sizes[i%3], 2048)) != http.StatusOK && sizes[i%3] == 1 {
			full = i
		}
	}
	if full < 0 {
		t.Fatal("the disk never filled; the test proved nothing")
	}
	// Full: every size is refused at once, and the node says it is not ready.
	for i, size := range sizes {
		if st := c.post(paddedFlights(t, fmt.Sprintf("full%d", i), "2026-11-25", size, 2048)); st != http.StatusInsufficientStorage {
			t.Fatalf("a request of %d events on a full disk: %d, want 507", size, st)
		}
	}
	st, body := readyz(t, base)
	t.Logf("full after %d requests (%d events acknowledged); /readyz: %d %s", full, len(c.acked), st, body)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "cannot write") {
		t.Fatalf("/readyz on a full disk: %d %s", st, body)
	}

	// Space returns: ingest works again, without a restart.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	took := checkFor(t, 60*time.Second, func() error {
		if st := c.post(paddedFlights(t, fmt.Sprintf("back%d", time.Now().UnixNano()), "2026-11-25", 40, 2048)); st != http.StatusOK {
			return fmt.Errorf("ingest after the ballast was removed: %d", st)
		}
		return nil
	})
	// What the node could not say it stored is sent again, as a client
	// would: stored once either way.
	for _, r := range c.uncertain {
		if st := c.post(r); st != http.StatusOK {
			t.Fatalf("a request sent again after recovery: %d", st)
		}
	}
	checkFor(t, 30*time.Second, func() error {
		if st, body := readyz(t, base); st != http.StatusOK {
			return fmt.Errorf("/readyz after recovery: %d %s", st, body)
		}
		return nil
	})
	start := time.Now()
	if err := n.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("ingest again %s after the space returned; slowest 507 %s; shutdown %s; statuses %v; %d requests sent again",
		took.Round(time.Millisecond), c.slowest.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), c.statuses, len(c.uncertain))
	checkLogHolds(t, data, c)
}

// checkLogHolds opens the stopped node's log and checks that every
// acknowledged event is there once and no refused one at all.
func checkLogHolds(t *testing.T, data string, c *diskClient) {
	t.Helper()
	b := openCrashLog(t, data)
	stored := map[string]int{}
	countLogged(t, b, app.TopicFlights, func(e app.LogEntry) string { return firstHeader(e.Headers, nats.MsgIdHdr) }, stored)
	lost, twice, leaked := 0, 0, 0
	for id := range c.acked {
		switch stored[app.UniqueID("disk-test", id)] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	for id := range c.refused {
		if stored[app.UniqueID("disk-test", id)] > 0 {
			leaked++
		}
	}
	t.Logf("acknowledged %d, refused %d, in the log %d; lost %d, stored twice %d, refused but stored %d",
		len(c.acked), len(c.refused), len(stored), lost, twice, leaked)
	if lost+twice+leaked > 0 {
		t.Fatal("the log does not hold exactly the acknowledged events")
	}
	ctx := context.Background()
	ti, err := b.Topic(ctx, app.TopicFlights)
	if err != nil || ti.Messages != uint64(len(c.acked)) {
		t.Fatalf("flights holds %d entries, %d acknowledged: %v", ti.Messages, len(c.acked), err)
	}
}
