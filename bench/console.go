package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// Console renders the board of a full simulated day through HTTP and
// compares it with fetching the same data from the store in the same run,
// then does the same for the search page against the retriever's own
// search. The node runs without an embedding model (its address refuses
// connections), so the index holds full text and exact matches only: the
// search measured is the one staff get while the model is busy or away.
func Console(ctx context.Context, dir string, out io.Writer, departures, rounds int) error {
	load := WatchLoad()
	cfg := node.DefaultConfig()
	cfg.Data = filepath.Join(dir, "console")
	cfg.HTTP = "127.0.0.1:0"
	cfg.NATS.Addr = ""
	cfg.Ollama.URL = "http://127.0.0.1:1" // nothing listens: text-only index, no model work
	cfg.Ollama.Serve = false
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
	if _, err := m.Store.CreateToken(ctx, "bench", app.RoleAgent, app.HashSecret(b.token), time.Now()); err != nil {
		return err
	}
	date := time.Now().In(zone).Format("2006-01-02")
	flights, _ := m.Store.Flights(ctx, app.FlightFilter{Airport: cfg.Hub, Date: date})
	fetchD, renderD, err := interleaved(rounds, func() error { return b.fetch(ctx, date) }, func() error { return b.page("/") })
	if err != nil {
		return err
	}
	fetchQ, renderQ := Summarize(fetchD), Summarize(renderD)
	fmt.Fprintf(out, "apron bench console: board of %d flights at %s (%d KiB of HTML), %d rounds each, interleaved\n\n", len(flights), cfg.Hub, b.size/1024, len(renderD))
	fmt.Fprintf(out, "%-44s %s\n", "store fetch (flights + passenger counts)", fetchQ)
	fmt.Fprintf(out, "%-44s %s\n", "board over HTTP (fetch + render + send)", renderQ)
	fmt.Fprintf(out, "\nrender overhead over the fetch at p50: %.1fx\n", float64(renderQ.P50)/float64(fetchQ.P50))
	if err := b.searchPage(ctx, out, day, rounds); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n", load.Report())
	return nil
}

// searchPage times the console's search page beside the retriever's
// search of the same query (what the page asks for: 50 hits), over
// queries staff type: a flight number, a record locator, a surname and
// words.
func (b *boardRun) searchPage(ctx context.Context, out io.Writer, day *sim.Day, rounds int) error {
	if err := waitIndexed(ctx, b.m); err != nil {
		return err
	}
	queries := searchQueries(day)
	i, j := 0, 0
	storeD, pageD, err := interleaved(rounds, func() error {
		q := queries[i%len(queries)]
		i++
		_, _, err := b.m.Search.Search(ctx, app.SearchQuery{Text: q, K: 50})
		return err
	}, func() error {
		q := queries[j%len(queries)]
		j++
		return b.page("/search?q=" + url.QueryEscape(q))
	})
	if err != nil {
		return err
	}
	storeQ, pageQ := Summarize(storeD), Summarize(pageD)
	fmt.Fprintf(out, "\nsearch page, %d queries in turn (%q ...), full text and exact matches\n", len(queries), queries[0])
	fmt.Fprintf(out, "%-44s %s\n", "retriever search (50 hits)", storeQ)
	fmt.Fprintf(out, "%-44s %s\n", "search page over HTTP (search + render)", pageQ)
	fmt.Fprintf(out, "render overhead over the search at p50: %.1fx\n", float64(pageQ.P50)/float64(storeQ.P50))
	return nil
}

// searchQueries picks queries from the day: flight numbers, record
// locators, surnames, and a few words.
func searchQueries(day *sim.Day) []string {
	qs := []string{"wheelchair", "cancelled", "unaccompanied minor"}
	for _, te := range day.Events {
		if len(qs) >= 12 {
			break
		}
		switch te.Event.Type {
		case app.TypeBookingCreated:
			var bk app.Booking
			if json.Unmarshal(te.Event.Data, &bk) == nil && len(bk.Passengers) > 0 {
				name := strings.Fields(bk.Passengers[0].Name)
				qs = append(qs, bk.Locator, name[len(name)-1])
			}
		case app.TypeFlightStatus:
			var f app.Flight
			if json.Unmarshal(te.Event.Data, &f) == nil {
				qs = append(qs, f.Carrier+" "+f.Number)
			}
		}
	}
	return qs
}

// waitIndexed waits until the index's documents and full text have
// caught up with the log's bookings, flights and passengers.
func waitIndexed(ctx context.Context, m *node.Main) error {
	deadline := time.Now().Add(5 * time.Minute)
	for _, topic := range []string{app.TopicFlights, app.TopicBookings, app.TopicPassengers} {
		for {
			pos, err := m.Store.Position(ctx, app.IndexConsumer, topic)
			if err != nil {
				return err
			}
			ti, err := m.Broker.Topic(ctx, topic)
			if err != nil {
				return err
			}
			if pos >= ti.LastOffset {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the index is at %d of %d on %s after 5 minutes", pos, ti.LastOffset, topic)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
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

// page gets path over HTTP with the bench's token.
func (b *boardRun) page(path string) error {
	req, _ := http.NewRequest("GET", b.m.HTTP.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	b.size, err = io.Copy(io.Discard, resp.Body)
	return err
}

// interleaved times a and b in turns, five blocks of rounds each in
// alternating order, so that both see the same machine noise and neither
// always runs on a cache the other warmed; both come back sorted.
func interleaved(rounds int, a, b func() error) (aD, bD []time.Duration, err error) {
	for i := 0; i < 5; i++ {
		runs := []*[]time.Duration{&aD, &bD}
		fs := []func() error{a, b}
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
	sort.Slice(aD, func(i, j int) bool { return aD[i] < aD[j] })
	sort.Slice(bD, func(i, j int) bool { return bD[i] < bD[j] })
	return aD, bD, nil
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
