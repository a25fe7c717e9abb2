package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/apron-edge/apron/app"
)

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.Logger.Warn("render", "path", r.URL.Path, "err", err)
	}
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, p *app.Principal, status int, title, msg string) {
	s.render(w, r, status, ErrorPage(s.chrome(r.Context(), p), title, msg))
}

// pageError shows an application error as a page; internal details are
// logged, not shown.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	code := app.ErrorCode(err)
	if code == app.EINTERNAL {
		s.Logger.Error("page failed", "path", r.URL.Path, "err", err)
	}
	title := map[string]string{app.ENOTFOUND: "Not found", app.EINVALID: "Check the input", app.EUNAVAILABLE: "Temporarily unavailable"}[code]
	if title == "" {
		title = "Something went wrong"
	}
	s.renderError(w, r, principalOf(r), errorStatus(code), title, app.ErrorMessage(err))
}

// chrome builds the frame of a page: who is signed in and the banners.
func (s *Server) chrome(ctx context.Context, p *app.Principal) Chrome {
	var c Chrome
	if p != nil {
		c.User, c.Role, c.IsAgent, c.IsAdmin = p.Name, p.Role, p.Can(app.RoleAgent), p.Can(app.RoleAdmin)
	}
	if b := s.linkBanner(ctx); b != nil {
		c.Banners = append(c.Banners, *b)
	}
	if b := s.freshnessBanner(ctx); b != nil {
		c.Banners = append(c.Banners, *b)
	}
	return c
}

// consumerEffects says, per consumer, what its lag means to staff.
var consumerEffects = map[string]string{
	app.StateConsumer:  "the board, flights and bookings may not show the last changes",
	app.IndexConsumer:  "search and answers may miss the last changes",
	app.EmbedConsumer:  "search by meaning may miss the last changes; exact and keyword matches are current",
	app.AssistConsumer: "questions sent over the log wait",
}

// freshnessBanner is the one status line about the pipeline: the worst
// lagging consumer, what it affects, and how many others lag; nil when
// none lags beyond the bound.
func (s *Server) freshnessBanner(ctx context.Context) *Banner {
	if s.Fresh == nil {
		return nil
	}
	fs, err := s.Fresh.All(ctx)
	if err != nil {
		return &Banner{Level: "warn", Text: "The pipeline's state cannot be read: " + app.ErrorMessage(err)}
	}
	var worst *app.Freshness
	n := 0
	for i, f := range fs {
		if f.Behind == 0 || !f.Lagging { // lagging by the meter's bound
			continue
		}
		n++
		if worst == nil || !f.Known || f.Age() > worst.Age() {
			worst = &fs[i]
		}
	}
	if worst == nil {
		return nil
	}
	name := map[string]string{app.StateConsumer: "The state store", app.IndexConsumer: "Search", app.EmbedConsumer: "Search by meaning", app.AssistConsumer: "The assist stage"}[worst.Consumer]
	if name == "" {
		name = worst.Consumer
	}
	age := "for an unknown time"
	if worst.Known {
		age = worst.Age().Round(time.Second).String()
	}
	text := fmt.Sprintf("%s is %s behind on %s (%s): %s.", name, age, worst.Topic, plural(int(worst.Behind), "entry", "entries"), consumerEffects[worst.Consumer])
	if n > 1 {
		text += " " + plural(n-1, "more part lags", "more parts lag") + "; see Admin."
	}
	return &Banner{Level: "warn", Text: text}
}

// local is t on the site's clock, for times that happen at the site
// (a proposal's deadline, a token's last use).
func (s *Server) local(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.Zone).Format("Mon 15:04")
}

// localAt is a flight's time where it happens: in the offset the event
// carried for that airport, labelled with it when it is not the site's
// ("Thu 22:14 UTC+2" for an arrival in Athens seen from Frankfurt), so a
// time abroad is never read as the site's.
func (s *Server) localAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	_, off := t.Zone()
	if _, site := t.In(s.Zone).Zone(); off == site {
		return t.In(s.Zone).Format("Mon 15:04")
	}
	return t.Format("Mon 15:04") + " " + utcOffset(off)
}

// utcOffset names an offset east of UTC in seconds: "UTC", "UTC+2",
// "UTC-5", "UTC+5:30".
func utcOffset(off int) string {
	if off == 0 {
		return "UTC"
	}
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	h, m := off/3600, off%3600/60
	if m != 0 {
		return fmt.Sprintf("UTC%s%d:%02d", sign, h, m)
	}
	return fmt.Sprintf("UTC%s%d", sign, h)
}

func (s *Server) asOf(v app.Version) string {
	age := max(s.Now().Sub(v.EventTime).Round(time.Second), 0)
	return fmt.Sprintf("as of log offset %d, event time %s (%s ago)", v.Offset, v.EventTime.In(s.Zone).Format("15:04:05"), age)
}

func (s *Server) handleFlightPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := s.State.Flight(ctx, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	bookings, err := s.State.BookingsOnFlight(ctx, f.Flight.Flight)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	load, _ := s.State.FlightLoad(ctx, []string{f.Flight.Flight})
	var caps []string
	for cabin, n := range f.Capacity {
		caps = append(caps, fmt.Sprintf("%s %d", cabin, n))
	}
	sort.Strings(caps)
	v := FlightView{
		Chrome: s.chrome(ctx, principalOf(r)), Row: s.row(&f.Flight, load, s.pendingCounts(ctx), f.Origin == s.Hub),
		Origin: f.Origin, Dest: f.Destination, Departure: s.localAt(f.Departure()), Arrival: s.localAt(f.Arrival()),
		Aircraft: f.Aircraft, Capacity: strings.Join(caps, ", "), AsOf: s.asOf(f.Version), Passengers: load[f.Flight.Flight],
	}
	for _, b := range bookings {
		v.Bookings = append(v.Bookings, bookingRow(&b.Booking))
	}
	if s.Proposals != nil && v.Chrome.IsAgent {
		v.Proposals = "/proposals?status=pending&flight=" + url.QueryEscape(f.Flight.Flight)
	}
	s.render(w, r, http.StatusOK, FlightPage(v))
}

func bookingRow(b *app.Booking) BookingRow {
	var names, needs, legs []string
	for _, p := range b.Passengers {
		n := p.Name
		if p.Tier != "" && p.Tier != "none" {
			n += " (" + p.Tier + ")"
		}
		names = append(names, n)
		needs = append(needs, p.SSR...)
	}
	for _, sg := range b.Segments {
		legs = append(legs, strings.SplitN(sg.Flight, "-", 2)[0]+" "+sg.Cabin)
	}
	return BookingRow{Locator: b.Locator, Status: b.Status, Passengers: strings.Join(names, ", "), Itinerary: strings.Join(legs, " → "), Needs: strings.Join(needs, " ")}
}

func (s *Server) handleBookingPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	b, err := s.State.Booking(ctx, strings.ToUpper(r.PathValue("locator")))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := BookingView{Chrome: s.chrome(ctx, principalOf(r)), Locator: b.Locator, Status: b.Status, AsOf: s.asOf(b.Version)}
	for _, p := range b.Passengers {
		v.People = append(v.People, PersonRow{ID: p.ID, Name: p.Name, Tier: p.Tier, SSR: strings.Join(p.SSR, " ")})
	}
	for _, sg := range b.Segments {
		row := SegmentRow{FlightKey: sg.Flight, Flight: strings.SplitN(sg.Flight, "-", 2)[0], Cabin: sg.Cabin, Seat: sg.Seat, Status: "unknown"}
		if f, err := s.State.Flight(ctx, sg.Flight); err == nil {
			row.Route, row.Departure, row.Status = f.Origin+" → "+f.Destination, s.localAt(f.Departure()), f.Status
		}
		v.Segments = append(v.Segments, row)
	}
	s.render(w, r, http.StatusOK, BookingPage(v))
}

var (
	reLocator = regexp.MustCompile(`^[A-Z0-9]{6}$`)
	reFlight  = regexp.MustCompile(`^([A-Z0-9]{2})\s?([0-9]{1,4}[A-Z]?)$`)
)

// plural is a count with its noun: "1 flight", "3 flights", "0 flights".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
