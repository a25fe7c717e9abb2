package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// Console renders the board of a full simulated day through HTTP and
// compares it with fetching the same data from the store in the same run.
func Console(ctx context.Context, dir string, out io.Writer, departures, rounds int) error {
	load := WatchLoad()
	cfg := node.DefaultConfig()
	cfg.Data = filepath.Join(dir, "console")
	cfg.HTTP = "127.0.0.1:0"
	cfg.NATS.Addr = ""
	cfg.Ollama.URL = "" // measure the board, not the model
	zone, _ := time.LoadLocation(cfg.TimeZone)
	day := sim.Generate(sim.Config{Seed: 5, Departures: departures, Now: time.Now().In(zone)})
	m := node.NewMain(cfg, slog.New(slog.DiscardHandler))
	m.Demo = true // no first-start password on stdout
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer func() { _ = m.Close(context.Background()) }()
	if err := playAndSettle(ctx, m, day); err != nil {
		return err
	}
	b := &boardRun{m: m, hub: cfg.Hub, zone: zone, client: &http.Client{}}
	b.token = app.NewSecret("apron_")
	if _, err := m.Store.CreateToken(ctx, "bench", app.RoleViewer, app.HashSecret(b.token), time.Now()); err != nil {
		return err
	}
	date := time.Now().In(zone).Format("2006-01-02")
	flights, _ := m.Store.Flights(ctx, app.FlightFilter{Airport: cfg.Hub, Date: date})
	fetchD, renderD, err := b.measureInterleaved(ctx, date, rounds)
	if err != nil {
		return err
	}
	fetchQ, renderQ := Summarize(fetchD), Summarize(renderD)
	fmt.Fprintf(out, "apron bench console: board of %d flights at %s (%d KiB of HTML), %d rounds each, interleaved\n\n", len(flights), cfg.Hub, b.size/1024, len(renderD))
	fmt.Fprintf(out, "%-44s %s\n", "store fetch (flights + passenger counts)", fetchQ)
	fmt.Fprintf(out, "%-44s %s\n", "board over HTTP (fetch + render + send)", renderQ)
	fmt.Fprintf(out, "\nrender overhead over the fetch at p50: %.1fx\n%s\n", float64(renderQ.P50)/float64(fetchQ.P50), load.Report())
	return nil
}

// playAndSettle plays day into m and waits until the state of flights
// and bookings has caught up with the log.
func playAndSettle(ctx context.Context, m *node.Main, day *sim.Day) error {
	if err := sim.Play(ctx, m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		return err
	}
	for {
		pos, err := m.Store.Position(ctx, app.StateConsumer, app.TopicFlights)
		if err != nil {
			return err
		}
		ti, _ := m.Broker.Topic(ctx, app.TopicFlights)
		bpos, _ := m.Store.Position(ctx, app.StateConsumer, app.TopicBookings)
		bti, _ := m.Broker.Topic(ctx, app.TopicBookings)
		if pos >= ti.LastOffset && bpos >= bti.LastOffset {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// boardRun fetches the board's data from the store and renders the board
// over HTTP; size is the length of the last page rendered.
type boardRun struct {
	m      *node.Main
	hub    string
	zone   *time.Location
	token  string
	client *http.Client
	size   int64
}

func (b *boardRun) fetch(ctx context.Context, date string) error {
	fs, err := b.m.Store.Flights(ctx, app.FlightFilter{Airport: b.hub, Date: date})
	if err != nil {
		return err
	}
	prev, err := b.m.Store.Flights(ctx, app.FlightFilter{Airport: b.hub, Date: time.Now().In(b.zone).AddDate(0, 0, -1).Format("2006-01-02")})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(fs)+len(prev))
	for _, f := range append(fs, prev...) {
		keys = append(keys, f.Flight.Flight)
	}
	_, err = b.m.Store.FlightLoad(ctx, keys)
	return err
}

func (b *boardRun) render() error {
	req, _ := http.NewRequest("GET", b.m.HTTP.URL()+"/", nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("board: %s", resp.Status)
	}
	b.size, err = io.Copy(io.Discard, resp.Body)
	return err
}

// measureInterleaved times fetch and render in turns, so that both see
// the same machine noise, and returns both sorted.
func (b *boardRun) measureInterleaved(ctx context.Context, date string, rounds int) (fetchD, renderD []time.Duration, err error) {
	// Five blocks of each, in alternating order, so that neither side
	// always runs on a cache the other warmed.
	for i := 0; i < 5; i++ {
		runs := []*[]time.Duration{&fetchD, &renderD}
		fs := []func() error{func() error { return b.fetch(ctx, date) }, b.render}
		if i%2 == 1 {
			runs[0], runs[1], fs[0], fs[1] = runs[1], runs[0], fs[1], fs[0]
		}
		for k := range fs {
			d, err := measureRounds(rounds, fs[k])
			if err != nil {
				return nil, nil, err
			}
			*runs[k] = append(*runs[k], d...)
		}
	}
	sort.Slice(fetchD, func(i, j int) bool { return fetchD[i] < fetchD[j] })
	sort.Slice(renderD, func(i, j int) bool { return renderD[i] < renderD[j] })
	return fetchD, renderD, nil
}

// measureRounds times rounds calls of f after one warm-up call.
func measureRounds(rounds int, f func() error) ([]time.Duration, error) {
	_ = f() // warm up
	var d []time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		d = append(d, time.Since(start))
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d, nil
}
