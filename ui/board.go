package ui

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
)

//go:embed static
var staticFS embed.FS

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.FileServer(http.FS(sub))
}

// BoardQuery is what the board shows: a day, and filters.
type BoardQuery struct {
	Date      string // YYYY-MM-DD at the hub; empty: today
	Disrupted bool   // only cancelled, diverted or late flights
	Carrier   string // two-character carrier code
	Gate      string // gate or gate area prefix, e.g. "A" or "A1"
	Earlier   bool   // show the whole day, not from an hour ago
}

// parseBoardQuery reads the board's query string; app.EINVALID for a bad
// date or carrier.
func parseBoardQuery(r *http.Request) (BoardQuery, error) {
	qv := r.URL.Query()
	q := BoardQuery{Date: qv.Get("date"), Disrupted: qv.Get("disrupted") != "", Carrier: strings.ToUpper(strings.TrimSpace(qv.Get("carrier"))),
		Gate: strings.ToUpper(strings.TrimSpace(qv.Get("gate"))), Earlier: qv.Get("earlier") != ""}
	if q.Date != "" {
		if _, err := time.Parse("2006-01-02", q.Date); err != nil {
			return q, app.Errorf(app.EINVALID, "date: must be YYYY-MM-DD, got %q", q.Date)
		}
	}
	if q.Carrier != "" && !reCarrier.MatchString(q.Carrier) {
		return q, app.Errorf(app.EINVALID, "carrier: two letters or digits, got %q", q.Carrier)
	}
	if len(q.Gate) > 8 {
		return q, app.Errorf(app.EINVALID, "gate: at most 8 characters")
	}
	return q, nil
}

var reCarrier = regexp.MustCompile(`^[A-Z0-9]{2}$`)

// boardWindow is how far back the board of today reaches when it opens.
const boardWindow = time.Hour

// boardView builds the board of one local day at the hub: today unless
// q names another. Today's board starts an hour before now; the rows
// before are there but folded away (Earlier unfolds them).
func (s *Server) boardView(ctx context.Context, q BoardQuery) (BoardView, error) {
	now := s.Now().In(s.Zone)
	today := now.Format("2006-01-02")
	if q.Date == "" {
		q.Date = today
	}
	day, _ := time.ParseInLocation("2006-01-02", q.Date, s.Zone)
	v := BoardView{Chrome: s.chrome(ctx, principalFromContext(ctx)), Hub: s.Hub, Date: q.Date, Zone: zoneName(s.Zone, now), AsOf: now.Format("15:04:05"),
		Query: q, Today: q.Date == today, Prev: day.AddDate(0, 0, -1).Format("2006-01-02"), Next: day.AddDate(0, 0, 1).Format("2006-01-02"),
		DayStart: day.Unix(), DayEnd: day.AddDate(0, 0, 1).Unix()}
	if v.Today && !q.Earlier {
		v.Since = now.Add(-boardWindow).Unix()
	}
	flights, err := s.State.Flights(ctx, app.FlightFilter{Airport: s.Hub, Date: v.Date})
	if err != nil {
		return v, err
	}
	// Arrivals carry the departure date of their origin; include
	// yesterday's flights that arrive today.
	prev, err := s.State.Flights(ctx, app.FlightFilter{Airport: s.Hub, Date: v.Prev})
	if err != nil {
		return v, err
	}
	keys := make([]string, 0, len(flights)+len(prev))
	for _, f := range append(flights, prev...) {
		keys = append(keys, f.Flight.Flight)
	}
	load, err := s.State.FlightLoad(ctx, keys)
	if err != nil {
		return v, err
	}
	pending := s.pendingCounts(ctx)
	keep := func(r BoardRow) bool {
		return (!q.Disrupted || r.Disrupted) && (q.Carrier == "" || r.Carrier == q.Carrier) && (q.Gate == "" || strings.HasPrefix(r.Gate, q.Gate))
	}
	for _, f := range flights {
		if r := s.row(&f.Flight, load, pending, true); f.Origin == s.Hub && keep(r) {
			v.Departures = append(v.Departures, r)
		}
	}
	for _, f := range append(flights, prev...) {
		if f.Destination != s.Hub || f.Arrival().In(s.Zone).Format("2006-01-02") != v.Date {
			continue
		}
		if r := s.row(&f.Flight, load, pending, false); keep(r) {
			v.Arrivals = append(v.Arrivals, r)
		}
	}
	sort.SliceStable(v.Arrivals, func(i, j int) bool { return v.Arrivals[i].At < v.Arrivals[j].At })
	for _, rows := range [][]BoardRow{v.Departures, v.Arrivals} {
		for i := range rows {
			if rows[i].Disrupted {
				v.Disrupted++
			}
			if rows[i].Status == app.FlightCancelled {
				v.Cancelled++
			}
			if rows[i].Until < v.Since {
				rows[i].Earlier = true
				v.Folded++
			}
		}
	}
	return v, nil
}

func zoneName(loc *time.Location, t time.Time) string {
	name, off := t.In(loc).Zone()
	if name == "" || name == "hub" {
		return fmt.Sprintf("UTC%+03d:%02d", off/3600, (off%3600)/60)
	}
	return name
}

func (s *Server) row(f *app.Flight, load, pending map[string]int, departure bool) BoardRow {
	sched, est := f.ScheduledDeparture, f.Departure()
	route := "to " + f.Destination
	if !departure {
		sched, est = f.ScheduledArrival, f.Arrival()
		route = "from " + f.Origin
	}
	r := BoardRow{
		Key: app.SubjectKey(f.Flight), FlightKey: f.Flight, Time: sched.In(s.Zone).Format("15:04"), Flight: f.Carrier + " " + f.Number,
		Route: route, Status: f.Status, Gate: f.Gate, DelayMin: f.DelayMinutes(), Passengers: load[f.Flight], Pending: pending[f.Flight],
		Carrier: f.Carrier, At: sched.Unix(), Departure: departure,
	}
	// A late flight stays on today's board until an hour after it goes.
	r.Until = max(sched.Unix(), est.Unix())
	if !est.Equal(sched) {
		r.Estimated = est.In(s.Zone).Format("15:04")
	}
	if f.Status == app.FlightDiverted && f.DivertedTo != "" {
		r.Status = app.FlightDiverted
		r.Route += " → " + f.DivertedTo
	}
	r.Disrupted = f.Status == app.FlightCancelled || f.Status == app.FlightDiverted || r.DelayMin >= 15
	return r
}

func (s *Server) handleBoard(w http.ResponseWriter, r *http.Request) {
	q, err := parseBoardQuery(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v, err := s.boardView(r.Context(), q)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, BoardPage(v))
}

// FlightsChanged pushes re-rendered board rows of the given flights to
// every open console.
func (s *Server) FlightsChanged(ctx context.Context, flights []*app.Flight) {
	if !s.opened.Load() || s.Updates == nil || s.Updates.Len() == 0 || len(flights) == 0 {
		return
	}
	keys := make([]string, len(flights))
	for i, f := range flights {
		keys[i] = f.Flight
	}
	load, err := s.State.FlightLoad(ctx, keys)
	if err != nil {
		s.Logger.Warn("board update", "err", err)
		return
	}
	pending := s.pendingCounts(ctx)
	for _, f := range flights {
		var buf bytes.Buffer
		if err := boardRow(s.row(f, load, pending, f.Origin == s.Hub)).Render(ctx, &buf); err != nil {
			continue
		}
		s.Updates.Publish(Update{Event: "row", Data: buf.String()})
	}
	s.Updates.Publish(s.clockUpdate())
}

// clockUpdate tells open boards the server's time, so that "as of", the
// folding of past rows and the change of day follow the node's clock
// (the simulated one in a demo), not the browser's.
func (s *Server) clockUpdate() Update {
	now := s.Now().In(s.Zone)
	return Update{Event: "clock", Data: fmt.Sprintf(`{"now":%d,"asof":%q,"date":%q}`, now.Unix(), now.Format("15:04:05"), now.Format("2006-01-02"))}
}

func (s *Server) handleBoardLive(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	ch, cancel := s.Updates.Subscribe()
	defer cancel()
	fmt.Fprint(w, ": connected\n\n")
	u := s.clockUpdate()
	writeSSE(w, u.Event, u.Data)
	fl.Flush()
	// The clock doubles as the keep-alive.
	ping := time.NewTicker(10 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case u, ok := <-ch:
			if !ok {
				return
			}
			writeSSE(w, u.Event, u.Data)
			fl.Flush()
		case <-ping.C:
			u := s.clockUpdate()
			writeSSE(w, u.Event, u.Data)
			fl.Flush()
		}
	}
}

// Update is one server-sent event.
type Update struct {
	Event string
	Data  string
}

// Hub fans updates out to subscribers; a slow subscriber misses updates
// rather than slowing the pipeline down.
type Hub struct {
	mu     sync.Mutex
	subs   map[chan Update]struct{}
	closed bool
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan Update]struct{}{}} }

// Subscribe returns a channel of updates and a function to stop.
func (h *Hub) Subscribe() (<-chan Update, func()) {
	ch := make(chan Update, 256)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// Publish sends u to every subscriber that has room.
func (h *Hub) Publish(u Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- u:
		default:
		}
	}
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close ends every subscription.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
		delete(h.subs, ch)
	}
}

// PendingCounter counts pending proposals per flight.
type PendingCounter interface {
	PendingCounts(ctx context.Context) (map[string]int, error)
}

func (s *Server) pendingCounts(ctx context.Context) map[string]int {
	pc, ok := s.State.(PendingCounter)
	if !ok {
		return nil
	}
	m, err := pc.PendingCounts(ctx)
	if err != nil {
		s.Logger.Warn("pending proposals", "err", err)
	}
	return m
}

// StateApplied pushes the board rows of the flights in a committed batch
// of state changes (app.StateListener); other changes do not show on the
// board.
//
// Rows show the flight as the state holds it after the batch, not as the
// change carried it: a late event the state ignored changes nothing.
func (s *Server) StateApplied(_ string, _ uint64, changes []app.StateChange) {
	if !s.opened.Load() || s.Updates == nil || s.Updates.Len() == 0 {
		return
	}
	ctx := context.Background()
	var flights []*app.Flight
	seen := map[string]bool{}
	for _, ch := range changes {
		if ch.Flight == nil || seen[ch.Flight.Flight] {
			continue
		}
		seen[ch.Flight.Flight] = true
		if cur, err := s.State.Flight(ctx, ch.Flight.Flight); err == nil {
			flights = append(flights, &cur.Flight)
		}
	}
	s.FlightsChanged(ctx, flights)
}

// ProposalsChanged re-renders the board rows of a flight whose proposals
// changed (app.ProposalListener).
func (s *Server) ProposalsChanged(ctx context.Context, flightKey string) {
	if !s.opened.Load() {
		return // no console can be open yet
	}
	f, err := s.State.Flight(ctx, flightKey)
	if err != nil {
		return
	}
	s.FlightsChanged(ctx, []*app.Flight{&f.Flight})
}
