package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// apronEnv is the environment of a child apron: no model, no bridge, and
// nothing of the test runner's own APRON_* settings.
func apronEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "APRON_") {
			env = append(env, kv)
		}
	}
	return append(append(env, "APRON_OLLAMA_URL=", "APRON_LOG_LEVEL=warn"), extra...)
}

// runApron runs the binary to its end (at most a minute) in dir (the
// current directory when empty) and returns its output.
func runApron(tb testing.TB, bin, dir, stdin string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, apronEnv(), strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// startServe starts `apron serve` on data and waits until it answers.
func startServe(tb testing.TB, bin, data string) (*exec.Cmd, string) {
	tb.Helper()
	addr := freePort(tb)
	cmd := exec.Command(bin, "serve", "--data", data, "--http", addr, "--nats", freePort(tb))
	cmd.Env, cmd.Stdout, cmd.Stderr = apronEnv(), os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	checkFor(tb, 30*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return cmd, "http://" + addr
}

// TestOneProcessPerDataDirectory starts a node and then, on the same data
// directory, a second node on other ports and the commands that need the
// node stopped: each fails at once, naming the running node's pid, and the
// node keeps serving; `apron check` asks the running node instead, with
// an admin token. Commands given a directory that does not exist fail
// without creating it, also the default ./data.
func TestOneProcessPerDataDirectory(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	first, base := startServe(t, bin, data)
	pid := strconv.Itoa(first.Process.Pid)

	for _, args := range [][]string{
		{"serve", "--data", data, "--http", freePort(t), "--nats", freePort(t)},
		{"demo", "--data", data, "--http", freePort(t), "--nats", ""},
		{"rebuild", "--data", data},
	} {
		start := time.Now()
		_, errOut, err := runApron(t, bin, "", "", args...)
		t.Logf("%s beside the node: %v after %s: %s", args[0], err, time.Since(start).Round(time.Millisecond), strings.TrimSpace(errOut))
		if err == nil || !strings.Contains(errOut, "in use by process "+pid) {
			t.Fatalf("%s beside a running node: %v\n%s", args[0], err, errOut)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("%s took %s to refuse", args[0], time.Since(start))
		}
	}
	// check beside the node asks the node, which needs an admin token.
	if _, errOut, err := runApron(t, bin, "", "", "check", "--data", data); err == nil ||
		!strings.Contains(errOut, "in use by process "+pid) || !strings.Contains(errOut, "token: required") {
		t.Fatalf("check beside a running node without a token: %v\n%s", err, errOut)
	}
	tok := crashToken(t, bin, data, "admin", "checker")
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", data, "--http", strings.TrimPrefix(base, "http://"), "--token", tok); err != nil ||
		!strings.Contains(out, "equals a rebuild from the log up to control@") {
		t.Fatalf("check beside a running node: %v\n%s%s", err, out, errOut)
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the first node after the refusals: %v %v", err, resp)
	}
	if b, err := os.ReadFile(filepath.Join(data, node.LockFile)); err != nil || strings.TrimSpace(string(b)) != pid {
		t.Fatalf("lock file: %q %v, want pid %s", b, err, pid)
	}

	// Stopped, the directory is free again, and check passes.
	_ = first.Process.Signal(os.Interrupt)
	_ = first.Wait()
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", data); err != nil || !strings.Contains(errOut, "data directory "+data) {
		t.Fatalf("check of the stopped node: %v\n%s%s", err, out, errOut)
	}

	cwd := t.TempDir()
	typo := filepath.Join(data, "typo")
	for _, c := range []struct {
		args    []string
		missing string
	}{
		{[]string{"check", "--data", typo}, typo},
		{[]string{"rebuild", "--data", typo}, typo},
		{[]string{"search", "--data", typo, "LH400"}, typo},
		{[]string{"token", "add", "--role", "agent", "--data", typo, "x"}, typo},
		{[]string{"check"}, filepath.Join(cwd, "data")},
		{[]string{"search", "gate"}, filepath.Join(cwd, "data")},
		{[]string{"token", "add", "--role", "agent", "x"}, filepath.Join(cwd, "data")},
	} {
		_, errOut, err := runApron(t, bin, cwd, "", c.args...)
		if err == nil || !strings.Contains(errOut, c.missing) {
			t.Fatalf("%v: %v\n%s", c.args, err, errOut)
		}
		if _, err := os.Stat(c.missing); err == nil {
			t.Fatalf("%v created %s", c.args, c.missing)
		}
	}
	// A directory that exists but holds no apron data is refused too.
	if _, errOut, err := runApron(t, bin, "", "", "check", "--data", cwd); err == nil || !strings.Contains(errOut, "holds no apron data") {
		t.Fatalf("check of an empty directory: %v\n%s", err, errOut)
	}
}

// approveOneRejectOne cancels LH400 with bookings GOLD01 and PLAIN1 on
// it, waits for their proposals onto LH402, approves GOLD01's (executed)
// and rejects PLAIN1's.
func (s *scenario) approveOneRejectOne() {
	s.t.Helper()
	lh400 := "LH400-2026-11-25"
	s.ingest("flights",
		s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
		s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 5),
	)
	s.ingest("bookings", s.booking("GOLD01", "P1", "gold", nil, lh400), s.booking("PLAIN1", "P3", "none", nil, lh400))
	s.ingest("flights", s.flight("f5", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
	checkFor(s.t, 10*time.Second, func() error {
		if ps := s.proposals(app.ProposalPending); len(ps) != 2 {
			return fmt.Errorf("%d pending proposals", len(ps))
		}
		return nil
	})
	pending := s.proposals(app.ProposalPending)
	if pending[0].Locator != "GOLD01" {
		pending[0], pending[1] = pending[1], pending[0]
	}
	if code, ex := s.approve(pending[0].ID); code != 200 || ex.Outcome != app.ProposalExecuted {
		s.t.Fatalf("approve: %d %+v", code, ex)
	}
	s.reject(pending[1].ID, "passenger prefers tomorrow")
}

// TestRebuildKeepsUsersTokensAndProposals builds a node's state with
// proposals (one approved, one rejected), a console user and an API
// token, stops it, runs `apron rebuild`, and starts it again: the token
// authenticates, the user logs in, the proposals are exactly as before
// (recreated from the control topic, not copied), and a check passes.
func TestRebuildKeepsUsersTokensAndProposals(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	s := newScenario(t, func(c *node.Config) { c.Data = data })
	s.approveOneRejectOne()
	addUser(t, s.m, "gate1", app.RoleAgent, "correct horse battery")
	waitCaughtUp(t, s.m, 10*time.Second)
	before := map[string]int{}
	for _, st := range []string{"", app.ProposalPending, app.ProposalExecuted, app.ProposalRejected} {
		before[st] = len(s.proposals(st))
	}
	if before[app.ProposalExecuted] != 1 || before[app.ProposalRejected] != 1 {
		t.Fatalf("proposals before the rebuild: %v", before)
	}
	beforeAll := proposalsJSON(t, s.proposals(""))
	if err := s.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runApron(t, bin, "", "", "rebuild", "--data", data)
	t.Logf("rebuild:\n%s%s", out, errOut)
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	for _, want := range []string{"flights@3", "2 bookings", "1 users", "1 api_tokens", fmt.Sprintf("%d proposals", before[""])} {
		if !strings.Contains(out, want) {
			t.Fatalf("rebuild's summary lacks %q", want)
		}
	}
	if strings.Contains(out, "map[") {
		t.Fatalf("rebuild prints a Go map: %s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "kept:") && strings.Contains(line, "proposals") {
			t.Fatalf("the rebuild copied the proposals instead of replaying them: %s", line)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "state.db.rebuild")); err == nil {
		t.Fatal("rebuild left state.db.rebuild behind")
	}

	// The same node again: its token, its user, its proposals.
	tok := s.tok
	s2 := newScenario(t, func(c *node.Config) { c.Data = data })
	req, _ := http.NewRequest("GET", s2.m.HTTP.URL()+"/api/v1/proposals", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the token from before the rebuild: %d", resp.StatusCode)
	}
	if resp := login(t, browser(t), s2.m.HTTP.URL(), "gate1", "correct horse battery"); resp.StatusCode != 303 {
		t.Fatalf("the user from before the rebuild logs in: %d", resp.StatusCode)
	}
	for st, n := range before {
		if got := len(s2.proposals(st)); got != n {
			t.Fatalf("%q proposals: %d after the rebuild, %d before", st, got, n)
		}
	}
	if after := proposalsJSON(t, s2.proposals("")); after != beforeAll {
		t.Fatalf("proposals differ after the rebuild:\nbefore %s\nafter  %s", beforeAll, after)
	}
	if n, err := s2.m.Store.CountUsers(context.Background()); err != nil || n != 1 {
		t.Fatalf("users after the rebuild: %d %v (a fresh admin?)", n, err)
	}
	waitCaughtUp(t, s2.m, 10*time.Second)
	if err := s2.m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", data); err != nil {
		t.Fatalf("check after the rebuild: %v\n%s%s", err, out, errOut)
	}
}

// TestCheckAndRebuildWithAnInvalidEventInTheLog publishes an event that
// fails validation straight into a topic over NATS; once the node has
// dead-lettered it, `apron check` and `apron rebuild` on the stopped node
// succeed (they panicked) and leave no temporary files.
func TestCheckAndRebuildWithAnInvalidEventInTheLog(t *testing.T) {
	bin := buildBinary(t)
	m := MustRunMain(t)
	data := m.Config.Data
	nc := natsConnect(t, m)
	bad := strings.Replace(flightJSON("n1", "LH7-2026-11-25", "delayed", time.Now()), `"status":"delayed"`, `"status":"lost"`, 1)
	good := flightJSON("n2", "LH8-2026-11-25", "delayed", time.Now())
	for _, msg := range []struct{ subject, data string }{{"flights.LH7-2026-11-25", bad}, {"flights.LH8-2026-11-25", good}} {
		if err := nc.Publish(msg.subject, []byte(msg.data)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	checkFor(t, 5*time.Second, func() error {
		ti, _ := m.Broker.Topic(context.Background(), app.TopicDeadLetter)
		if ti.Messages != 1 {
			return fmt.Errorf("deadletter has %d", ti.Messages)
		}
		return nil
	})
	waitCaughtUp(t, m, 5*time.Second)
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"check", "rebuild", "check"} {
		out, errOut, err := runApron(t, bin, "", "", cmd, "--data", data)
		if err != nil || strings.Contains(errOut, "panic") {
			t.Fatalf("%s with an invalid event in the log: %v\n%s%s", cmd, err, out, errOut)
		}
	}
	for _, name := range []string{"state.db.rebuild", "check.db"} {
		if _, err := os.Stat(filepath.Join(data, name)); err == nil {
			t.Fatalf("%s left behind", name)
		}
	}
}

// TestSearchFindsNewBookingsWhileTheModelIsAway points the node at an
// embedding model that does not answer (a closed port), ingests a booking
// and a flight, and finds both at once by record locator and by flight
// number; the answer says the text index is current and the vectors are
// behind.
func TestSearchFindsNewBookingsWhileTheModelIsAway(t *testing.T) {
	m := MustRunMain(t, func(c *node.Config) {
		c.Ollama.URL, c.Ollama.ChatModel, c.Ollama.Timeout = "http://"+freePort(t), "", node.Duration(2*time.Second)
	})
	base := m.HTTP.URL()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	b := app.Booking{Locator: "ZX9K2P", Status: "active", Passengers: []app.BookingPassenger{{ID: "P77", Name: "Ada Lovelace"}},
		Segments: []app.Segment{{Flight: "LH400-2026-11-25", Cabin: "Y"}}}
	e, _ := app.NewEvent("away-b1", "central", app.TypeBookingCreated, b.Locator, t0, b)
	if code, body := post(t, base+"/api/v1/topics/bookings/events", string(e.Raw)); code != 200 {
		t.Fatalf("booking: %d %v", code, body)
	}
	if code, body := post(t, base+"/api/v1/topics/flights/events", flightJSON("away-f1", "LH400-2026-11-25", "delayed", t0)); code != 200 {
		t.Fatalf("flight: %d %v", code, body)
	}
	for _, c := range []struct{ q, key, topic string }{{"ZX9K2P", "ZX9K2P", app.TopicBookings}, {"LH400", "LH400-2026-11-25", app.TopicFlights}} {
		var body map[string]any
		took := checkFor(t, 10*time.Second, func() error {
			var code int
			code, body = get(t, base+"/api/v1/search?q="+c.q)
			if code != 200 {
				return fmt.Errorf("search %s: %d %v", c.q, code, body)
			}
			hits, _ := body["hits"].([]any)
			for _, h := range hits {
				if h.(map[string]any)["entity_key"] == c.key {
					return nil
				}
			}
			return fmt.Errorf("search %s: %d hits, none of %s", c.q, len(hits), c.key)
		})
		t.Logf("%s found %s after %s with the model away", c.q, c.key, took.Round(time.Millisecond))
		if body["degraded"] != true {
			t.Fatalf("search %s: not marked degraded: %v", c.q, body["degraded"])
		}
		var text, vectors map[string]any
		for _, f := range body["index"].([]any) {
			f := f.(map[string]any)
			if f["topic"] != c.topic {
				continue
			}
			switch f["consumer"] {
			case app.IndexConsumer:
				text = f
			case app.EmbedConsumer:
				vectors = f
			}
		}
		if text == nil || text["messages_behind"].(float64) != 0 || vectors == nil || vectors["messages_behind"].(float64) < 1 {
			t.Fatalf("search %s: freshness of the text %v and of the vectors %v", c.q, text, vectors)
		}
	}
}

// TestHelpShowsFlagsAndRunsNothing: -h on a command or subcommand prints
// its flags with their defaults and exits 0 without doing the work (the
// console benchmark would otherwise take minutes), and the user and token
// lists print tables or JSON.
func TestHelpShowsFlagsAndRunsNothing(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "console", "-h"}, "Usage of bench console"},
		{[]string{"serve", "-h"}, `(default "127.0.0.1:8080")`},
		{[]string{"demo", "-h"}, "(default 60)"},
		{[]string{"user", "add", "-h"}, "-role"},
		{[]string{"user", "list", "-h"}, "-json"},
		{[]string{"token", "revoke", "-h"}, "-data"},
		{[]string{"model", "-h"}, "usage: apron model"},
		{[]string{"backup", "-h"}, "-token"},
		{[]string{"restore", "-h"}, "-data"},
		{[]string{"restore", "-h", filepath.Join(data, "no-backup"), "--data", filepath.Join(data, "new")}, "-data"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, err := run("", tc.args...)
			if err != nil || !strings.Contains(out, tc.want) {
				t.Fatalf("err %v, output %q lacks %q", err, out, tc.want)
			}
		})
	}
	// -h ran nothing: restore created no data directory.
	if _, err := os.Stat(filepath.Join(data, "new")); err == nil {
		t.Fatal("restore -h created the data directory")
	}
	if out, err := run("a long enough password\n", "user", "add", "--role", "agent", "ada", "--data", data); err != nil {
		t.Fatal(err, out)
	}
	if out, err := run("", "token", "add", "--role", "viewer", "ci", "--data", data); err != nil {
		t.Fatal(err, out)
	}
	if out, err := run("", "token", "revoke", "ci", "--data", data); err != nil || !strings.Contains(out, "revoked token 1 (ci)") {
		t.Fatal(err, out)
	}
	out, err := run("", "user", "list", "--data", data)
	if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "ada") {
		t.Fatal(err, out)
	}
	// A misspelt flag is named, not reported as a missing role.
	if out, err := run("", "token", "add", "--rol", "agent", "x", "--data", data); err == nil || !strings.Contains(out, "-rol") {
		t.Fatalf("token add --rol: err %v, output %q does not name the flag", err, out)
	}
	if out, err := run("", "token", "add", "x", "--data", data); err == nil || !strings.Contains(out, "role: missing") {
		t.Fatalf("token add without --role: err %v, output %q", err, out)
	}
	cmd := exec.Command(bin, "token", "list", "--json", "--data", data)
	js, err := cmd.Output()
	var tokens []app.APIToken
	if err != nil || json.Unmarshal(js, &tokens) != nil || len(tokens) != 1 || tokens[0].RevokedAt.IsZero() {
		t.Fatalf("token list --json: %v %s", err, js)
	}
}

// TestHealthAsksTheNode: `apron health`, which the container's
// HEALTHCHECK runs, succeeds only while the node answers: /healthz, or
// /readyz with -ready, also when the node listens on a wildcard address.
func TestHealthAsksTheNode(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	serve, base := startServe(t, bin, data)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	for _, args := range [][]string{
		{"health", "--data", data, "--http", "127.0.0.1:" + port},
		{"health", "--data", data, "--http", "0.0.0.0:" + port},
		{"health", "-ready", "--data", data, "--http", "127.0.0.1:" + port},
	} {
		out, errOut, err := runApron(t, bin, "", "", args...)
		if err != nil || !strings.Contains(out, `"status"`) {
			t.Fatalf("%v against a running node: %v %s %s", args, err, out, errOut)
		}
	}
	_ = serve.Process.Kill()
	_ = serve.Wait()
	_, errOut, err := runApron(t, bin, "", "", "health", "--data", data, "--http", "127.0.0.1:"+port)
	if err == nil || !strings.Contains(errOut, "127.0.0.1:"+port+"/healthz") {
		t.Fatalf("health with the node stopped: %v %s", err, errOut)
	}
}

// proposalsJSON is every field of ps as the API shows them, and the
// control entry that offered each, for an exact comparison.
func proposalsJSON(tb testing.TB, ps []*app.Proposal) string {
	tb.Helper()
	type withOffset struct {
		Proposal      *app.Proposal `json:"proposal"`
		ControlOffset uint64        `json:"control_offset"`
	}
	out := make([]withOffset, len(ps))
	for i, p := range ps {
		out[i] = withOffset{p, p.ControlOffset}
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestProposalsFromBeforeTheLogAreAdopted makes a store look as one made
// before the proposals went onto the log (their control entries gone
// from the log, control_offset 0, no commands), then: a node started on
// it puts them on the log, once, and `apron rebuild` recreates them with
// their executions and seat holds; a rebuild run straight on such a
// store (never started since) recreates them too.
func TestProposalsFromBeforeTheLogAreAdopted(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	s := newScenario(t, func(c *node.Config) { c.Data = data })
	lh402 := "LH402-2026-11-25"
	s.approveOneRejectOne()
	waitCaughtUp(t, s.m, 10*time.Second)
	ctx := context.Background()
	seats := func(st interface {
		SeatsLeft(context.Context, string, string) (int, error)
	}) int {
		n, err := st.SeatsLeft(ctx, lh402, "Y")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	seatsBefore := seats(s.m.Store)
	plain := func(ps []*app.Proposal) string {
		b, err := json.Marshal(ps)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := plain(s.proposals(""))
	if err := s.m.Close(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := node.DefaultConfig()
	cfg.Data, cfg.NATS.Addr = data, ""
	// controlEntries counts the control topic's entries of a booking's
	// proposals; makeOld takes them off the log and marks the rows as
	// made before it.
	controlEntries := func(loc string) int {
		b, err := node.OpenLogOnly(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(ctx)
		n := 0
		if err := b.Entries(ctx, app.TopicControl, "proposal-"+loc, func(app.LogEntry) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	makeOld := func() {
		t.Helper()
		b, err := node.OpenLogOnly(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		for _, loc := range []string{"GOLD01", "PLAIN1"} {
			if _, err := b.EraseKeyBefore(ctx, app.TopicControl, "proposal-"+loc, math.MaxInt64); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, q := range []string{`UPDATE proposals SET control_offset = 0`, `DELETE FROM commands`} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		for _, loc := range []string{"GOLD01", "PLAIN1"} {
			if n := controlEntries(loc); n != 0 {
				t.Fatalf("%d control entries of %s left", n, loc)
			}
		}
	}
	rebuild := func() {
		t.Helper()
		out, errOut, err := runApron(t, bin, "", "", "rebuild", "--data", data)
		if err != nil {
			t.Fatalf("rebuild: %v\n%s%s", err, out, errOut)
		}
	}
	// after starts the node on the store and checks the proposals, the
	// seats they hold and that every one is from the log.
	after := func(when string) {
		t.Helper()
		s2 := newScenario(t, func(c *node.Config) { c.Data = data })
		ps := s2.proposals("")
		if got := plain(ps); got != before {
			t.Fatalf("proposals %s:\n got %s\nwant %s", when, got, before)
		}
		for _, p := range ps {
			if p.ControlOffset == 0 {
				t.Fatalf("proposal %s %s is not from the log", p.ID, when)
			}
		}
		if n := seats(s2.m.Store); n != seatsBefore {
			t.Fatalf("free seats on %s %s: %d, %d before", lh402, when, n, seatsBefore)
		}
		waitCaughtUp(t, s2.m, 10*time.Second)
		if err := s2.m.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}

	makeOld()
	after("after a start on the old store")
	for _, loc := range []string{"GOLD01", "PLAIN1"} {
		if n := controlEntries(loc); n != 1 {
			t.Fatalf("%d control entries of %s after the start, want the one adoption", n, loc)
		}
	}
	rebuild()
	after("after a rebuild of the adopted store")
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", data); err != nil {
		t.Fatalf("check: %v\n%s%s", err, out, errOut)
	}

	makeOld()
	rebuild()
	after("after a rebuild straight on the old store")
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", data); err != nil {
		t.Fatalf("check: %v\n%s%s", err, out, errOut)
	}
}
