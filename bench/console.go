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
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	token := app.NewSecret("apron_")
	if _, err := m.Store.CreateToken(ctx, "bench", app.RoleViewer, app.HashSecret(token), time.Now()); err != nil {
		return err
	}
	date := time.Now().In(zone).Format("2006-01-02")
	flights, _ := m.Store.Flights(ctx, app.FlightFilter{Airport: cfg.Hub, Date: date})

	fetch := func() error {
		fs, err := m.Store.Flights(ctx, app.FlightFilter{Airport: cfg.Hub, Date: date})
		if err != nil {
			return err
		}
		prev, err := m.Store.Flights(ctx, app.FlightFilter{Airport: cfg.Hub, Date: time.Now().In(zone).AddDate(0, 0, -1).Format("2006-01-02")})
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(fs)+len(prev))
		for _, f := range append(fs, prev...) {
			keys = append(keys, f.Flight.Flight)
		}
		_, err = m.Store.FlightLoad(ctx, keys)
		return err
	}
	client := &http.Client{}
	var size int64
	render := func() error {
		req, _ := http.NewRequest("GET", m.HTTP.URL()+"/", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("board: %s", resp.Status)
		}
		size, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	measure := func(f func() error) ([]time.Duration, error) {
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
	// Interleave the two so that both see the same machine noise.
	var fetchD, renderD []time.Duration
	for i := 0; i < 5; i++ {
		f, err := measure(fetch)
		if err != nil {
			return err
		}
		r, err := measure(render)
		if err != nil {
			return err
		}
		fetchD, renderD = append(fetchD, f...), append(renderD, r...)
	}
	sort.Slice(fetchD, func(i, j int) bool { return fetchD[i] < fetchD[j] })
	sort.Slice(renderD, func(i, j int) bool { return renderD[i] < renderD[j] })
	fmt.Fprintf(out, "apron bench console: board of %d flights at %s (%d KiB of HTML), %d rounds each\n\n", len(flights), cfg.Hub, size/1024, len(renderD))
	fmt.Fprintf(out, "%-44s %10s %10s\n", "", "p50", "p99")
	fmt.Fprintf(out, "%-44s %10s %10s\n", "store fetch (flights + passenger counts)", pct(fetchD, 50), pct(fetchD, 99))
	fmt.Fprintf(out, "%-44s %10s %10s\n", "board over HTTP (fetch + render + send)", pct(renderD, 50), pct(renderD, 99))
	fmt.Fprintf(out, "\nrender overhead over the fetch at p50: %.1fx\n", float64(pct(renderD, 50))/float64(pct(fetchD, 50)))
	return nil
}
