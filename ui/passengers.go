package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/apron-edge/apron/app"
)

// PassengerFinder looks people up by name, a page at a time, and says how
// many match in all; the state store implements it.
type PassengerFinder interface {
	FindPassengersPage(ctx context.Context, q string, offset, limit int) ([]*app.PassengerRecord, int, error)
}

// lookupPage is how many people the lookup lists at once.
const lookupPage = 50

func (s *Server) handlePassengersPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v := PassengersView{Chrome: s.chrome(ctx, principalOf(r)), Query: q}
	if q == "" {
		v.Message = "Type a name, a six-character record locator or a flight number such as LH400."
		s.render(w, r, http.StatusOK, PassengersPage(v))
		return
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	offset = max(offset, 0)
	v.Searched = true
	up := strings.ToUpper(q)
	if offset == 0 && reLocator.MatchString(up) {
		if b, err := s.State.Booking(ctx, up); err == nil {
			v.Bookings = append(v.Bookings, bookingRow(&b.Booking))
		}
	}
	if m := reFlight.FindStringSubmatch(up); offset == 0 && m != nil {
		date := s.Now().In(s.Zone).Format("2006-01-02")
		if bs, err := s.State.BookingsOnFlight(ctx, m[1]+m[2]+"-"+date); err == nil {
			for _, b := range bs {
				v.Bookings = append(v.Bookings, bookingRow(&b.Booking))
			}
		}
	}
	if pf, ok := s.State.(PassengerFinder); ok && len(q) >= 2 {
		ps, total, err := pf.FindPassengersPage(ctx, q, offset, lookupPage)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		v.Total, v.From = total, offset+1
		page := func(off int) string {
			return "/passengers?" + url.Values{"q": {q}, "offset": {strconv.Itoa(off)}}.Encode()
		}
		if offset+len(ps) < total {
			v.Next = page(offset + lookupPage)
		}
		if offset > 0 {
			v.Prev = page(max(offset-lookupPage, 0))
		}
		for _, p := range ps {
			v.People = append(v.People, PersonRow{ID: p.ID, Name: p.Name, Tier: p.Tier, SSR: strings.Join(p.SSR, " ")})
			if bs, err := s.State.BookingsOfPassenger(ctx, p.ID); err == nil {
				for _, b := range bs {
					v.Bookings = append(v.Bookings, bookingRow(&b.Booking))
				}
			}
		}
	}
	if len(v.People) == 0 && len(v.Bookings) == 0 {
		v.Message = "Nobody found for “" + q + "”. Check the spelling, or try the record locator."
	}
	s.render(w, r, http.StatusOK, PassengersPage(v))
}

// handlePassengerPage shows one person: their bookings with each flight,
// their special service requests and the proposals that would move them.
func (s *Server) handlePassengerPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.State.Passenger(ctx, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	bs, err := s.State.BookingsOfPassenger(ctx, p.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v := PassengerView{Chrome: s.chrome(ctx, principalOf(r)), ID: p.ID, Name: p.Name, Tier: p.Tier, Language: p.Language, AsOf: s.asOf(p.Version)}
	for _, code := range p.SSR {
		v.SSR = append(v.SSR, code)
	}
	flights := map[string]bool{}
	locators := map[string]bool{}
	for _, b := range bs {
		v.Bookings = append(v.Bookings, bookingRow(&b.Booking))
		locators[b.Locator] = true
		for _, sg := range b.Segments {
			flights[sg.Flight] = true
		}
	}
	if s.Proposals != nil {
		for key := range flights {
			ps, err := s.Proposals.Proposals(ctx, app.ProposalFilter{Flight: key})
			if err != nil {
				s.pageError(w, r, err)
				return
			}
			for _, pr := range ps {
				if locators[pr.Locator] {
					v.Proposals = append(v.Proposals, ProposalLink{ID: pr.ID, Locator: pr.Locator, Flight: pr.Flight, Reason: pr.Reason, Status: pr.Status})
				}
			}
		}
	}
	s.render(w, r, http.StatusOK, PassengerPage(v))
}
