package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

type ingestResponse struct {
	Accepted   int                `json:"accepted"`
	Duplicates int                `json:"duplicates"`
	Results    []app.AppendResult `json:"results"`
}

// handleIngest takes one CloudEvent (JSON) or many (NDJSON). The request is
// all or nothing: if any line is refused, nothing is stored and every
// refused line is named. The answer comes only after the log acknowledged.
func (s *Server) handleIngest(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if !app.IsTopic(topic) || topic == app.TopicDeadLetter {
		s.writeError(w, r, app.Errorf(app.ENOTFOUND, "topic %q does not exist or does not take events over HTTP", topic))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != "application/json" && mt != "application/x-ndjson") {
		s.metrics.ingestRefused.WithLabelValues(topic, "media_type").Inc()
		writeJSON(w, http.StatusUnsupportedMediaType, errorBody{Code: app.EINVALID,
			Error: fmt.Sprintf("Content-Type %q is not accepted: send application/json (one event or an array) or application/x-ndjson (one event per line)", r.Header.Get("Content-Type"))})
		return
	}
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes), r.ContentLength, s.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.metrics.ingestRefused.WithLabelValues(topic, "too_large").Inc()
			s.writeError(w, r, app.Errorf(app.ETOOLARGE, "request body exceeds %d bytes; split it into several requests", s.MaxBodyBytes))
			return
		}
		s.writeError(w, r, app.Errorf(app.EINVALID, "read body: %v", err))
		return
	}
	events, lineErrs := app.ParseEvents(s.Validator, topic, body)
	if len(lineErrs) > 0 {
		s.metrics.ingestRefused.WithLabelValues(topic, "invalid").Add(float64(len(lineErrs)))
		msg := fmt.Sprintf("%d of %s refused; nothing was stored", len(lineErrs), plural(len(lineErrs)+len(events), "event", "events"))
		writeJSON(w, http.StatusBadRequest, errorBody{Error: msg, Code: app.EINVALID, Errors: lineErrs})
		return
	}
	if err := s.mayIngest(principalOf(r), topic, events); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := recordRequester(events, principalOf(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	start := time.Now()
	results, err := s.Log.Append(r.Context(), topic, events)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.metrics.ingestSeconds.WithLabelValues(topic).Observe(time.Since(start).Seconds())
	resp := ingestResponse{Results: results}
	for _, res := range results {
		if res.Duplicate {
			resp.Duplicates++
		} else {
			resp.Accepted++
		}
	}
	s.metrics.ingestEvents.WithLabelValues(topic, "accepted").Add(float64(resp.Accepted))
	s.metrics.ingestEvents.WithLabelValues(topic, "duplicate").Add(float64(resp.Duplicates))
	writeJSONCompact(w, http.StatusOK, resp)
}

// readBody reads a request's whole body. A declared length, within the
// limit, sizes the buffer once (batched ingest read its bodies by
// doubling: about 800 bytes of garbage an event of 444), up to
// presizeMax: a declared length with no body behind it yet takes at most
// that, and only from a caller that has already authenticated (require).
func readBody(r io.Reader, declared, limit int64) ([]byte, error) {
	const presizeMax = 8 << 20
	var buf bytes.Buffer
	if declared > 0 && declared <= limit {
		buf.Grow(int(min(declared, presizeMax)) + bytes.MinRead) // ReadFrom wants MinRead free to see the end
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// recordRequester writes the authenticated user into each erasure, so
// the audit record says who asked whatever the event's source claims.
func recordRequester(events []*app.Event, p *app.Principal) error {
	by := "anonymous (authentication off)"
	if p != nil {
		by = p.Name
		if p.TokenID != 0 {
			by = fmt.Sprintf("%s (API token %d)", p.Name, p.TokenID)
		}
	}
	for i, e := range events {
		if e.Type != app.TypePassengerErased {
			continue
		}
		ne, err := app.WithRequestedBy(e, by)
		if err != nil {
			return err
		}
		events[i] = ne
	}
	return nil
}

type topicsResponse struct {
	Topics    []app.TopicInfo `json:"topics"`
	Consumers []app.Freshness `json:"consumers"`
}

func (s *Server) topicsAndLags(ctx context.Context) (topicsResponse, error) {
	topics, err := s.Log.Topics(ctx)
	if err != nil {
		return topicsResponse{}, err
	}
	resp := topicsResponse{Topics: topics, Consumers: []app.Freshness{}}
	if s.Fresh != nil {
		fs, err := s.Fresh.All(ctx)
		if err != nil {
			return topicsResponse{}, err
		}
		resp.Consumers = fs
	}
	return resp, nil
}

func (s *Server) handleTopics(w http.ResponseWriter, r *http.Request) {
	resp, err := s.topicsAndLags(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

var (
	reIATA = regexp.MustCompile(`^[A-Z]{3}$`)
	reDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

func (s *Server) handleFlights(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := app.FlightFilter{Airport: q.Get("airport"), Date: q.Get("date"), Status: q.Get("status"), Limit: 500}
	if f.Airport != "" && !reIATA.MatchString(f.Airport) {
		s.writeError(w, r, app.Errorf(app.EINVALID, "airport: must be a three-letter IATA code, got %q", f.Airport))
		return
	}
	if f.Date != "" {
		if _, err := time.Parse("2006-01-02", f.Date); err != nil || !reDate.MatchString(f.Date) {
			s.writeError(w, r, app.Errorf(app.EINVALID, "date: must be YYYY-MM-DD, got %q", f.Date))
			return
		}
	}
	switch f.Status {
	case "", app.FlightScheduled, app.FlightBoarding, app.FlightDeparted, app.FlightArrived, app.FlightDelayed, app.FlightCancelled, app.FlightDiverted:
	default:
		s.writeError(w, r, app.Errorf(app.EINVALID, "status: unknown flight status %q", f.Status))
		return
	}
	var err error
	if f.Limit, err = pageLimit(q, 500, 5000); err != nil {
		s.writeError(w, r, err)
		return
	}
	if c := q.Get("cursor"); c != "" {
		f.After = &app.FlightCursor{}
		if err := app.DecodeCursor(c, f.After); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	limit := f.Limit
	f.Limit++
	flights, err := s.State.Flights(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	flights, next := pageOf(r, flights, limit, func(f *app.FlightRecord) any { return app.FlightCursorAfter(&f.Flight) })
	body := map[string]any{"flights": flights}
	if next != "" {
		body["next"] = next
	}
	writeJSON(w, http.StatusOK, body)
}

// pageLimit reads ?limit= (def when absent, at most max).
func pageLimit(q url.Values, def, max int) (int, error) {
	l := q.Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > max {
		return 0, app.Errorf(app.EINVALID, "limit: must be between 1 and %d, got %q", max, l)
	}
	return n, nil
}

// pageOf cuts items, read with one more than limit, to limit and returns
// the link to the next page ("" when this is the last), whose cursor is
// the position after the page's last item. A list never stops silently.
func pageOf[T any](r *http.Request, items []T, limit int, cursorAfter func(T) any) ([]T, string) {
	if items == nil {
		items = []T{}
	}
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, nextLink(r, app.EncodeCursor(cursorAfter(items[limit-1])))
}

func (s *Server) handleFlight(w http.ResponseWriter, r *http.Request) {
	f, err := s.State.Flight(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	bookings, err := s.State.BookingsOnFlight(r.Context(), f.Flight.Flight)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pax := 0
	for _, b := range bookings {
		if b.Status == app.BookingActive {
			pax += len(b.Passengers)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"flight": f, "bookings": len(bookings), "passengers": pax})
}

func (s *Server) handleBooking(w http.ResponseWriter, r *http.Request) {
	b, err := s.State.Booking(r.Context(), r.PathValue("locator"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"booking": b})
}

func (s *Server) handlePassenger(w http.ResponseWriter, r *http.Request) {
	p, err := s.State.Passenger(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	bookings, err := s.State.BookingsOfPassenger(r.Context(), p.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	locs := []string{}
	for _, b := range bookings {
		locs = append(locs, b.Locator)
	}
	writeJSON(w, http.StatusOK, map[string]any{"passenger": p, "bookings": locs})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": app.ErrorMessage(err)})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// mayIngest refuses the whole request when it holds events of a type the
// caller's role may not send: those only the node produces (a client that
// could send them would forge an execution or an answer) and erasures.
// The control topic's entries (accounts, proposals, approval commands and
// their outcomes) no caller may send, an admin included: the node seals
// what it appends, so such an entry would be believed as the console's
// or the booking engine's own.
func (s *Server) mayIngest(p *app.Principal, topic string, events []*app.Event) error {
	var control []string
	for _, e := range events {
		if app.TopicOf(e.Type) == app.TopicControl {
			control = append(control, fmt.Sprintf("%q (%s)", e.ID, e.Type))
		}
	}
	if len(control) > 0 {
		s.metrics.ingestRefused.WithLabelValues(topic, "control").Add(float64(len(control)))
		return app.Errorf(app.EFORBIDDEN, "type: these events are the node's own control entries, which no caller may send whatever its role "+
			"(accounts go through the console or apron user/token, approvals through the proposals API): %s; nothing was stored", strings.Join(control, ", "))
	}
	var refused []string
	var need string
	for _, e := range events {
		if role := app.RoleToSend(e.Type); role != "" && (p == nil || !p.Can(role)) {
			refused = append(refused, fmt.Sprintf("%q (%s)", e.ID, e.Type))
			need = role
		}
	}
	if len(refused) == 0 {
		return nil
	}
	s.metrics.ingestRefused.WithLabelValues(topic, "role").Add(float64(len(refused)))
	return app.Errorf(app.EFORBIDDEN, "these events are of types only the node produces or that cannot be undone, which the %s role alone may send: %s; nothing was stored",
		need, strings.Join(refused, ", "))
}
