package e2e

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// demoRun is `apron demo` running as a child process.
type demoRun struct {
	cmd   *exec.Cmd
	base  string
	lines chan string // standard output, line by line
}

func startDemo(t *testing.T, bin, data string, extra ...string) *demoRun {
	t.Helper()
	addr := freePort(t)
	args := append([]string{"demo", "--data", data, "--http", addr, "--nats", "", "--departures", "6", "--speed", "600"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = apronEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &demoRun{cmd: cmd, base: "http://" + addr, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return d
}

// untilLogin reads standard output up to the line that says how to log in.
func (d *demoRun) untilLogin(t *testing.T) []string {
	t.Helper()
	var got []string
	timeout := time.After(time.Minute)
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("demo exited; it printed %q", got)
			}
			got = append(got, l)
			if strings.HasPrefix(l, "apron demo: log in as") {
				return got
			}
		case <-timeout:
			t.Fatalf("no login line after a minute; printed %q", got)
		}
	}
}

// stop ends the demo as Ctrl-C does and waits for it.
func (d *demoRun) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range d.lines {
	}
	if err := d.cmd.Wait(); err != nil {
		t.Fatalf("demo did not stop cleanly: %v", err)
	}
}

// loggedEvents counts the events of the simulated day's topics in the
// log of a stopped node.
func loggedEvents(t *testing.T, data string, day *sim.Day) int {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.Data, cfg.NATS.Addr = data, ""
	b, err := node.OpenLogOnly(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	topics := map[string]bool{}
	for _, e := range day.Events {
		topics[e.Event.Topic()] = true
	}
	n := 0
	for topic := range topics {
		ti, err := b.Topic(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		n += int(ti.Messages)
	}
	return n
}

// TestDemoResumesWhereItStopped runs the demo binary, stops it and starts
// it again on the same data directory: the simulated clock goes on from
// where it stopped, the day's events are in the log once, and the admin
// keeps the password printed at the first start.
func TestDemoResumesWhereItStopped(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	first := startDemo(t, bin, data)
	lines := first.untilLogin(t)
	password, ok := strings.CutPrefix(lines[len(lines)-1], `apron demo: log in as "admin" with password `)
	if !ok || len(password) < 12 {
		t.Fatalf("first start prints no password: %q", lines)
	}
	var st1 node.DemoState
	checkFor(t, time.Minute, func() error {
		st, err := node.ReadDemoState(data)
		if err != nil {
			return err
		}
		if st.Played == 0 {
			return fmt.Errorf("nothing played yet: %+v", st)
		}
		st1 = st
		return nil
	})
	if resp := login(t, browser(t), first.base, "admin", password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", resp.StatusCode)
	}
	first.stop(t)
	st1, err := node.ReadDemoState(data)
	if err != nil {
		t.Fatal(err)
	}
	firstDay := sim.Generate(sim.Config{Seed: st1.Seed, Hub: st1.Hub, Departures: st1.Departures, Date: st1.Date})
	day := sim.Window(nil, firstDay, firstDay.Next()) // the first day and the early part of the next
	if st1.Events != len(day.Events) || st1.Played == 0 || !st1.SimNow.After(day.Start) {
		t.Fatalf("saved state: %+v (day of %d events from %s)", st1, len(day.Events), day.Start)
	}
	if n := loggedEvents(t, data, day); n != st1.Played {
		t.Fatalf("the log holds %d of the day's events, the demo says %d were played", n, st1.Played)
	}

	second := startDemo(t, bin, data)
	lines = second.untilLogin(t)
	out := strings.Join(lines, "\n")
	resumed := fmt.Sprintf("resuming the simulated day of %s at %s, %d of its %d events played", st1.Date, st1.SimNow.In(mustZone(t)).Format("15:04:05 MST"), st1.Played, st1.Events)
	if !strings.Contains(out, resumed) || strings.Contains(out, "with password ") || !strings.Contains(out, "the password printed when this data directory was first used") {
		t.Fatalf("resumed demo printed:\n%s\nwant a line with %q and no new password", out, resumed)
	}
	if resp := login(t, browser(t), second.base, "admin", password); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the first start's password no longer works after a resume: %d", resp.StatusCode)
	}
	checkFor(t, time.Minute, func() error {
		st, err := node.ReadDemoState(data)
		if err != nil || !st.SavedAt.After(st1.SavedAt) {
			return fmt.Errorf("not saved since the restart: %+v %v", st, err)
		}
		return nil
	})
	second.stop(t)
	st2, err := node.ReadDemoState(data)
	if err != nil {
		t.Fatal(err)
	}
	// The clock went on from where it stopped; a restart at the start of
	// the day would put it before.
	if st2.SimNow.Before(st1.SimNow) || st2.Played < st1.Played {
		t.Fatalf("the clock went back: first run stopped at %s (%d played), second at %s (%d played)", st1.SimNow, st1.Played, st2.SimNow, st2.Played)
	}
	if n := loggedEvents(t, data, day); n != st2.Played {
		t.Fatalf("after the resume the log holds %d of the day's events, the demo says %d were played", n, st2.Played)
	}

	// Another day on the same data directory is refused, naming the flags.
	cmd := exec.Command(bin, "demo", "--data", data, "--http", freePort(t), "--nats", "", "--departures", "7")
	cmd.Env = apronEnv()
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "--departures 6") {
		t.Fatalf("another day on the same data: %v\n%s", err, b)
	}
}

func mustZone(t *testing.T) *time.Location {
	z, err := time.LoadLocation(node.DefaultConfig().TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// TestDemoGoesOnToTheNextDay runs the demo fast enough for its day to
// end: the next day follows on the next date with its own flights and
// people, the log holds every day's events once, and a restart resumes
// the day it stopped in.
func TestDemoGoesOnToTheNextDay(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	run := startDemo(t, bin, data, "--speed", "5000")
	run.untilLogin(t)
	checkFor(t, 2*time.Minute, func() error {
		st, err := node.ReadDemoState(data)
		if err != nil {
			return err
		}
		if st.Day < 1 || st.Played == 0 {
			return fmt.Errorf("still on the first day: %+v", st)
		}
		return nil
	})
	run.stop(t)
	st, err := node.ReadDemoState(data)
	if err != nil {
		t.Fatal(err)
	}
	days := []*sim.Day{sim.Generate(sim.Config{Seed: st.Seed, Hub: st.Hub, Departures: st.Departures, Date: st.First})}
	for range st.Day + 1 {
		days = append(days, days[len(days)-1].Next())
	}
	want := st.Played // the windows before whole, and what was played of this one
	var window *sim.Day
	for k := 0; k <= st.Day; k++ {
		var prev *sim.Day
		if k > 0 {
			prev = days[k-1]
		}
		window = sim.Window(prev, days[k], days[k+1])
		if k < st.Day {
			want += len(window.Events)
		}
	}
	if st.Date != window.Config.Date || st.Events != len(window.Events) || st.First >= st.Date {
		t.Fatalf("saved state %+v, want day %d after %s: %s with %d events", st, st.Day, st.First, window.Config.Date, len(window.Events))
	}
	if n := loggedEvents(t, data, days[0]); n != want {
		t.Fatalf("the log holds %d events, want %d: every earlier window whole and %d of day %d's", n, want, st.Played, st.Day)
	}

	second := startDemo(t, bin, data, "--speed", "1")
	out := strings.Join(second.untilLogin(t), "\n")
	if !strings.Contains(out, "resuming the simulated day of "+st.Date) {
		t.Fatalf("the restart does not resume day %d (%s):\n%s", st.Day, st.Date, out)
	}
	second.stop(t)
}
