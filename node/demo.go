package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
)

// DemoStateFile is where a demo keeps its simulated day in the data
// directory: which day, its clock and how many of its events are in the
// log, so that a restart resumes it.
const DemoStateFile = "demo.json"

// DemoState is the saved progress of a simulated day.
type DemoState struct {
	Seed       uint64 `json:"seed"`
	Hub        string `json:"hub"`
	Departures int    `json:"departures"`
	Date       string `json:"date"` // the hub's local date of the day
	// First is the date of the run's first day and Day how many days
	// came before this one: when a day is over the next one begins.
	First   string    `json:"first,omitempty"`
	Day     int       `json:"day,omitempty"`
	SimNow  time.Time `json:"sim_now"`  // the simulated clock when saved
	Played  int       `json:"played"`   // the window's events in the log
	Events  int       `json:"events"`   // in the day's window (sim.Window)
	SavedAt time.Time `json:"saved_at"` // real time
}

// Demo is the simulated day a demo node plays into its log, resumable:
// Open reads the saved state, Run plays on from it and saves the clock
// and the events played every second and when it stops.
type Demo struct {
	Config Config
	Logger *slog.Logger
	// Now is real time, for the first start's date (nil: time.Now).
	Now func() time.Time

	// Day is what plays now: the current day's window of the run
	// (sim.Window), its events and the next day's early ones.
	Day     *sim.Day
	Clock   *sim.Clock
	Resumed bool // an earlier run's day goes on

	state           DemoState
	played          atomic.Int64
	prev, cur, next *sim.Day // the run's days around the current one
}

// window sets Day to the current day's window.
func (d *Demo) window() { d.Day = sim.Window(d.prev, d.cur, d.next) }

// ResumedAt is the simulated moment an earlier run stopped at, where
// this run's clock started.
func (d *Demo) ResumedAt() time.Time { return d.state.SimNow }

// Played is how many of the day's events are in the log.
func (d *Demo) Played() int { return int(d.played.Load()) }

func (d *Demo) path() string { return filepath.Join(d.Config.Data, DemoStateFile) }

// Open generates the day: the saved one, its clock where it stopped, or
// a new day starting at 04:00 of today at the hub. Returns EINVALID when
// the data directory holds another simulated day (another seed, hub or
// number of departures): the log would mix two days.
func (d *Demo) Open() error {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	st, err := ReadDemoState(d.Config.Data)
	switch {
	case errors.Is(err, os.ErrNotExist):
		zone, err := time.LoadLocation(d.Config.TimeZone)
		if err != nil {
			return fmt.Errorf("demo: tz: %w", err)
		}
		d.cur = sim.Generate(sim.Config{Seed: d.Config.Demo.Seed, Hub: d.Config.Hub, Departures: d.Config.Demo.Departures, Now: d.Now().In(zone)})
		d.next = d.cur.Next()
		d.window()
		d.Clock = sim.NewClock(d.Day.Start, d.Config.Demo.Speed)
		d.state = DemoState{Seed: d.Config.Demo.Seed, Hub: d.Config.Hub, Departures: d.Config.Demo.Departures, Date: d.Day.Config.Date, First: d.Day.Config.Date,
			SimNow: d.Day.Start, Events: len(d.Day.Events)}
		return nil
	case err != nil:
		return err
	}
	if st.Seed != d.Config.Demo.Seed || st.Hub != d.Config.Hub || st.Departures != d.Config.Demo.Departures {
		return app.Errorf(app.EINVALID, "demo: the data directory %s holds the simulated %s day of %s with seed %d and %d departures; run with --hub %s --seed %d --departures %d to resume it, or use another --data",
			d.Config.AbsData(), st.Hub, st.Date, st.Seed, st.Departures, st.Hub, st.Seed, st.Departures)
	}
	first := st.First
	if first == "" {
		first = st.Date
	}
	d.cur = sim.Generate(sim.Config{Seed: st.Seed, Hub: st.Hub, Departures: st.Departures, Date: first})
	for range st.Day {
		d.prev, d.cur = d.cur, d.cur.Next()
	}
	d.next = d.cur.Next()
	d.window()
	if d.Day.Config.Date != st.Date {
		return app.Errorf(app.EINVALID, "demo: %s: day %d after %s is %s, but %s was saved; use another --data", d.path(), st.Day, first, d.Day.Config.Date, st.Date)
	}
	if len(d.Day.Events) != st.Events {
		return app.Errorf(app.EINVALID, "demo: %s: the day of %s has %d events now but %d were saved (made by another version?); use another --data",
			d.path(), st.Date, len(d.Day.Events), st.Events)
	}
	d.Clock = sim.NewClock(st.SimNow, d.Config.Demo.Speed)
	d.state, d.Resumed = st, true
	d.played.Store(int64(st.Played))
	return nil
}

// ReadDemoState reads the saved demo of the data directory (an error
// wrapping os.ErrNotExist when there is none).
func ReadDemoState(dataDir string) (DemoState, error) {
	var st DemoState
	b, err := os.ReadFile(filepath.Join(dataDir, DemoStateFile))
	if err != nil {
		return st, fmt.Errorf("demo state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, app.Errorf(app.EINVALID, "demo state %s: %v (remove it to start a new day)", filepath.Join(dataDir, DemoStateFile), err)
	}
	return st, nil
}

// Run plays the day into log until ctx ends, saving its progress every
// second, and once more when it stops. The next day begins at its own
// 04:00 while the current one's last events are still to come (see
// sim.Window), and goes on when they are, so that a demo left running
// always has a day going on.
func (d *Demo) Run(ctx context.Context, log app.Log) error {
	play := func() chan error {
		done := make(chan error, 1)
		day, from := d.Day, int(d.played.Load())
		go func() {
			done <- sim.PlayFrom(ctx, log, day, d.Clock, from, func(n int) { d.played.Store(int64(n)) }, d.Logger.With("subsystem", "simulator"))
		}()
		return done
	}
	done := play()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			// The day is over, or the log refused it.
			done = nil
			if err != nil && ctx.Err() == nil {
				_ = d.save()
				return err
			}
			if ctx.Err() == nil {
				// The next day began in this window; the rest of it follows.
				d.prev, d.cur, d.next = d.cur, d.next, d.next.Next()
				d.window()
				d.Logger.Info("simulated day over, the next goes on", "date", d.Day.Config.Date, "events", len(d.Day.Events))
				d.state.Date, d.state.Day, d.state.Events = d.Day.Config.Date, d.state.Day+1, len(d.Day.Events)
				d.played.Store(0)
				if err := d.save(); err != nil {
					d.Logger.Error("save demo state", "err", err)
				}
				done = play()
			}
		case <-tick.C:
			if err := d.save(); err != nil {
				d.Logger.Error("save demo state", "err", err)
			}
		case <-ctx.Done():
			if done != nil {
				<-done // the events played are final
			}
			return d.save()
		}
	}
}

// save writes the state beside the log, atomically: a crash leaves the
// previous state or the new one.
func (d *Demo) save() error {
	st := d.state
	st.SimNow, st.Played, st.SavedAt = d.Clock.Now().UTC(), int(d.played.Load()), d.Now().UTC()
	b, _ := json.MarshalIndent(st, "", "  ")
	tmp := d.path() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("save demo state: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save demo state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("save demo state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save demo state: %w", err)
	}
	if err := os.Rename(tmp, d.path()); err != nil {
		return fmt.Errorf("save demo state: %w", err)
	}
	return nil
}
