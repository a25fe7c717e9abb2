// Package sim generates a reproducible airport day: a hub's schedule of
// arrivals and departures, bookings with connections, passengers with tiers
// and special service requests, policy documents, and disruptions over the
// day (cancellations, delays that break connections, gate changes, a
// diversion), and plays it into a log on a fast clock (Play). The demo,
// the tests and the benchmarks share it.
package sim

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
)

// Config shapes a day. The zero value of a field takes its default.
type Config struct {
	Seed       uint64
	Hub        string // IATA code of the hub, default FRA
	Date       string // local date YYYY-MM-DD, default today at the hub
	Departures int    // hub departures (and as many arrivals), default 300
	Bookings   int    // default 12 per departure
	// Disruptions, as fractions of departures.
	CancelRate float64 // default 0.03
	DelayRate  float64 // default 0.10
	GateRate   float64 // default 0.15
	Now        time.Time
	// Prior is the day before this one in a run of days (the demo goes on
	// from one day to the next): this day draws other flights, bookings
	// and people, and takes none of the prior days' flight numbers,
	// locators or passenger ids, so nothing of theirs is overwritten.
	Prior *Day
}

type airport struct {
	code   string
	offset int // minutes east of UTC, in late November
	long   bool
}

// airports served from the hub, with their UTC offsets in late November.
var airports = []airport{
	{"JFK", -300, true}, {"EWR", -300, true}, {"BOS", -300, true}, {"IAD", -300, true}, {"ORD", -360, true},
	{"SFO", -480, true}, {"LAX", -480, true}, {"YYZ", -300, true}, {"GRU", -180, true}, {"SIN", 480, true},
	{"NRT", 540, true}, {"HKG", 480, true}, {"PEK", 480, true}, {"DEL", 330, true}, {"BOM", 330, true},
	{"DXB", 240, true}, {"JNB", 120, true}, {"MEX", -360, true},
	{"LHR", 0, false}, {"MAN", 0, false}, {"DUB", 0, false}, {"LIS", 0, false}, {"EDI", 0, false},
	{"CDG", 60, false}, {"AMS", 60, false}, {"BRU", 60, false}, {"MAD", 60, false}, {"BCN", 60, false},
	{"FCO", 60, false}, {"MXP", 60, false}, {"ZRH", 60, false}, {"GVA", 60, false}, {"VIE", 60, false},
	{"CPH", 60, false}, {"OSL", 60, false}, {"ARN", 60, false}, {"WAW", 60, false}, {"PRG", 60, false},
	{"BUD", 60, false}, {"BER", 60, false}, {"HAM", 60, false}, {"MUC", 60, false}, {"DUS", 60, false},
	{"HEL", 120, false}, {"ATH", 120, false}, {"IST", 180, false}, {"TLV", 120, false}, {"CAI", 120, false},
}

// where is each airport's latitude and longitude, for the distance of a
// flight: it decides long haul (wide-body, Z gates) and the block time,
// whichever the hub.
var where = map[string][2]float64{
	"FRA": {50.03, 8.57}, "JFK": {40.64, -73.78}, "EWR": {40.69, -74.17}, "BOS": {42.36, -71.01}, "IAD": {38.95, -77.46},
	"ORD": {41.98, -87.90}, "SFO": {37.62, -122.38}, "LAX": {33.94, -118.41}, "YYZ": {43.68, -79.63}, "GRU": {-23.43, -46.47},
	"SIN": {1.36, 103.99}, "NRT": {35.77, 140.39}, "HKG": {22.31, 113.91}, "PEK": {40.08, 116.58}, "DEL": {28.56, 77.10},
	"BOM": {19.09, 72.87}, "DXB": {25.25, 55.36}, "JNB": {-26.14, 28.24}, "MEX": {19.44, -99.07}, "LHR": {51.47, -0.45},
	"MAN": {53.35, -2.27}, "DUB": {53.42, -6.27}, "LIS": {38.77, -9.13}, "EDI": {55.95, -3.37}, "CDG": {49.01, 2.55},
	"AMS": {52.31, 4.76}, "BRU": {50.90, 4.48}, "MAD": {40.49, -3.57}, "BCN": {41.30, 2.08}, "FCO": {41.80, 12.25},
	"MXP": {45.63, 8.72}, "ZRH": {47.46, 8.55}, "GVA": {46.24, 6.11}, "VIE": {48.11, 16.57}, "CPH": {55.62, 12.66},
	"OSL": {60.19, 11.10}, "ARN": {59.65, 17.92}, "WAW": {52.17, 20.97}, "PRG": {50.10, 14.26}, "BUD": {47.44, 19.26},
	"BER": {52.37, 13.50}, "HAM": {53.63, 9.99}, "MUC": {48.35, 11.79}, "DUS": {51.29, 6.77}, "HEL": {60.32, 24.96},
	"ATH": {37.94, 23.94}, "IST": {41.26, 28.74}, "TLV": {32.01, 34.89}, "CAI": {30.12, 31.41},
}

// longHaulKM: a flight this far or farther is long haul; none is
// shorter than minRouteKM.
const longHaulKM, minRouteKM = 4000, 150

// distanceKM is the great-circle distance between two airports; false
// when either is not in where.
func distanceKM(a, b string) (float64, bool) {
	p, ok1 := where[a]
	q, ok2 := where[b]
	if !ok1 || !ok2 {
		return 0, false
	}
	rad := math.Pi / 180
	dLat, dLon := (q[0]-p[0])*rad, (q[1]-p[1])*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(p[0]*rad)*math.Cos(q[0]*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * 6371 * math.Asin(math.Sqrt(h)), true
}

// longHaul reports whether a flight between the hub and a is long haul:
// by distance when both are known, else by a's own mark (from Europe).
func (g *gen) longHaul(a airport) bool {
	if km, ok := distanceKM(g.cfg.Hub, a.code); ok {
		return km >= longHaulKM
	}
	return a.long
}

// blockTime is a flight's time between the hub and a: half an hour on
// the ground and in the climb, then 850 km/h, and up to half an hour (an
// hour for long haul) of the schedule's own, from draw. Without a known
// distance, the draw alone sets it: 1–2.5 hours, or 7–12 for long haul.
func (g *gen) blockTime(a airport, long bool, short, far int) time.Duration {
	if km, ok := distanceKM(g.cfg.Hub, a.code); ok {
		extra := short % 30
		if long {
			extra = far % 60
		}
		return time.Duration(30+int(km/850*60)+extra) * time.Minute
	}
	if long {
		return time.Duration(420+far) * time.Minute
	}
	return time.Duration(60+short) * time.Minute
}

var hubOffsets = map[string]int{"FRA": 60, "MUC": 60, "ZRH": 60, "VIE": 60, "AMS": 60, "CDG": 60, "LHR": 0, "JFK": -300}

var carriers = []string{"LH", "LH", "LH", "LH", "UA", "AC", "OS", "LX", "SN", "NH", "SQ"}

var firstNames = []string{"Anna", "Ben", "Clara", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Chloe", "Dmitri", "Emma", "Felix", "Hannah", "Ivan", "Julia", "Kai", "Lucia", "Malik", "Nina", "Oskar"}
var lastNames = []string{"Schmidt", "Meyer", "Okafor", "Tanaka", "Garcia", "Rossi", "Novak", "Haddad", "Kowalski", "Silva", "Nguyen", "Johansson", "Dubois", "Yilmaz", "Fischer", "Patel", "Murphy", "Costa", "Kim", "Weber", "Hoffmann", "Larsen", "Moreau", "Ivanova", "Cohen", "Sato", "Becker", "Jansen", "Lopez", "Wagner"}

// Timed is an event and the simulated moment it happens.
type Timed struct {
	At    time.Time
	Event *app.Event
}

// Day is a generated day, in the order events happen.
type Day struct {
	Config  Config
	Start   time.Time // first event
	End     time.Time
	Events  []Timed
	Flights map[string]*app.Flight

	used map[string]bool // flight numbers and locators of this day and those before
	pax  int             // passengers of this day and those before
}

type gen struct {
	cfg     Config
	rng     *rand.Rand
	seq     int
	hubOff  int
	date    time.Time // local midnight at the hub
	flights map[string]*app.Flight
	day     *Day
	used    map[string]bool
	pax     int
}

// Generate builds a day from cfg.
func Generate(cfg Config) *Day {
	if cfg.Hub == "" {
		cfg.Hub = "FRA"
	}
	if cfg.Now.IsZero() {
		cfg.Now = time.Now()
	}
	off, ok := hubOffsets[cfg.Hub]
	if i := slices.IndexFunc(airports, func(a airport) bool { return a.code == cfg.Hub }); !ok && i >= 0 {
		off, ok = airports[i].offset, true
	}
	if !ok {
		off = 60
	}
	if cfg.Date == "" {
		cfg.Date = cfg.Now.In(time.FixedZone("hub", off*60)).Format("2006-01-02")
	}
	if cfg.Departures == 0 {
		cfg.Departures = 300
	}
	if cfg.Bookings == 0 {
		cfg.Bookings = cfg.Departures * 12
	}
	if cfg.CancelRate == 0 {
		cfg.CancelRate = 0.03
	}
	if cfg.DelayRate == 0 {
		cfg.DelayRate = 0.10
	}
	if cfg.GateRate == 0 {
		cfg.GateRate = 0.15
	}
	loc := time.FixedZone("hub", off*60)
	d, err := time.ParseInLocation("2006-01-02", cfg.Date, loc)
	if err != nil {
		d = time.Date(2026, 11, 25, 0, 0, 0, 0, loc)
		cfg.Date = "2026-11-25"
	}
	seed, used, pax := cfg.Seed, map[string]bool{}, 0
	if p := cfg.Prior; p != nil {
		// Another day of the run: its own draws, none of the earlier ids.
		for _, c := range cfg.Date {
			seed = seed*31 + uint64(c)
		}
		used, pax = maps.Clone(p.used), p.pax
	}
	g := &gen{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), hubOff: off, date: d, flights: map[string]*app.Flight{}, used: used, pax: pax}
	g.day = &Day{Config: cfg, Flights: g.flights}
	g.run()
	g.day.used, g.day.pax = g.used, g.pax
	g.day.Config.Prior = nil // the day stands alone once drawn
	return g.day
}

// Next generates the day after d in a run of days, as Generate does with
// d as Prior.
func (d *Day) Next() *Day {
	cfg := d.Config
	day, _ := time.Parse(time.DateOnly, cfg.Date)
	cfg.Date, cfg.Prior, cfg.Now = day.AddDate(0, 0, 1).Format(time.DateOnly), d, time.Time{}
	return Generate(cfg)
}

func (g *gen) zone(offMin int) *time.Location {
	return time.FixedZone(fmt.Sprintf("UTC%+d", offMin/60), offMin*60)
}

func (g *gen) emit(at time.Time, typ, subject string, data any) {
	// Nothing happens before the schedule is published.
	if min := g.date.Add(4*time.Hour + 10*time.Minute); typ == app.TypeFlightStatus && at.Before(min) {
		at = min
	}
	g.seq++
	id := fmt.Sprintf("sim-%d-%s-%06d", g.cfg.Seed, g.cfg.Date, g.seq)
	e, err := app.NewEvent(id, "apron/sim/"+g.cfg.Hub, typ, subject, at, data)
	if err != nil {
		panic(err)
	}
	g.day.Events = append(g.day.Events, Timed{At: at, Event: e})
}

func (g *gen) flightNumber(carrier string) string {
	for {
		n := fmt.Sprintf("%d", 100+g.rng.IntN(8900))
		if !g.used[carrier+n] {
			g.used[carrier+n] = true
			return n
		}
	}
}

func (g *gen) run() {
	start := g.date.Add(4 * time.Hour) // schedule published at 04:00 local
	g.day.Start = start
	hubZone := g.zone(g.hubOff)

	// Arrivals from 05:30 to 21:00, departures from 06:00 to 22:30 local.
	var arrivals, departures []*app.Flight
	// The airports served: not the hub itself, nor one too near to fly
	// to (JFK and EWR).
	served := slices.DeleteFunc(slices.Clone(airports), func(a airport) bool {
		km, ok := distanceKM(g.cfg.Hub, a.code)
		return a.code == g.cfg.Hub || ok && km < minRouteKM
	})
	// duration draws a flight's block time to or from a, as many draws
	// whatever the distance.
	duration := func(a airport, long bool) time.Duration {
		short, far := g.rng.IntN(90), 0
		if long {
			far = g.rng.IntN(300)
		}
		return g.blockTime(a, long, short, far)
	}
	mk := func(origin, dest airport, dep time.Time, depZone, arrZone *time.Location, long bool) *app.Flight {
		carrier := carriers[g.rng.IntN(len(carriers))]
		num := g.flightNumber(carrier)
		date := dep.In(depZone).Format("2006-01-02")
		other := dest
		if dest.code == g.cfg.Hub {
			other = origin
		}
		dur := duration(other, long)
		capJ, capY := 0, 120+g.rng.IntN(60)
		aircraft := "A320neo"
		if long {
			capJ, capY, aircraft = 30+g.rng.IntN(20), 220+g.rng.IntN(80), []string{"A350-900", "B787-9", "B747-8", "A330-300"}[g.rng.IntN(4)]
		} else if g.rng.IntN(3) == 0 {
			capJ = 12
		}
		capacity := map[string]int{"Y": capY}
		if capJ > 0 {
			capacity["J"] = capJ
		}
		f := &app.Flight{
			Flight: app.FlightKey(carrier, num, date), Carrier: carrier, Number: num, Date: date,
			Origin: origin.code, Destination: dest.code,
			ScheduledDeparture: dep.In(depZone), ScheduledArrival: dep.Add(dur).In(arrZone),
			Status: app.FlightScheduled, Aircraft: aircraft, Capacity: capacity,
		}
		g.flights[f.Flight] = f
		return f
	}
	hub := airport{code: g.cfg.Hub, offset: g.hubOff}
	for i := 0; i < g.cfg.Departures; i++ {
		dst := served[g.rng.IntN(len(served))]
		long := g.longHaul(dst)
		dep := g.date.Add(6*time.Hour + time.Duration(g.rng.IntN(16*60+30))*time.Minute)
		f := mk(hub, dst, dep, hubZone, g.zone(dst.offset), long)
		f.Gate = g.gate(long)
		departures = append(departures, f)
	}
	for i := 0; i < g.cfg.Departures; i++ {
		org := served[g.rng.IntN(len(served))]
		long := g.longHaul(org)
		arr := g.date.Add(5*time.Hour + 30*time.Minute + time.Duration(g.rng.IntN(15*60+30))*time.Minute)
		dur := duration(org, long)
		f := mk(org, hub, arr.Add(-dur), g.zone(org.offset), hubZone, long)
		f.ScheduledArrival = arr.In(hubZone)
		f.Gate = g.gate(long)
		arrivals = append(arrivals, f)
	}
	sort.Slice(departures, func(i, j int) bool { return departures[i].ScheduledDeparture.Before(departures[j].ScheduledDeparture) })
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].ScheduledArrival.Before(arrivals[j].ScheduledArrival) })
	for _, f := range arrivals {
		g.emit(start, app.TypeFlightScheduled, f.Flight, *f)
	}
	for _, f := range departures {
		g.emit(start, app.TypeFlightScheduled, f.Flight, *f)
	}

	g.documents(start.Add(time.Minute))
	g.bookings(start.Add(2*time.Minute), arrivals, departures)
	g.operations(departures, arrivals)

	sort.SliceStable(g.day.Events, func(i, j int) bool { return g.day.Events[i].At.Before(g.day.Events[j].At) })
	g.day.End = g.day.Events[len(g.day.Events)-1].At
}

func (g *gen) gate(long bool) string {
	if long {
		return fmt.Sprintf("Z%d", 50+g.rng.IntN(20))
	}
	return fmt.Sprintf("%c%d", "ABC"[g.rng.IntN(3)], 1+g.rng.IntN(60))
}

var tiers = []string{"none", "none", "none", "none", "none", "none", "silver", "silver", "gold", "platinum"}

func (g *gen) person() app.Passenger {
	g.pax++
	p := app.Passenger{
		ID:       fmt.Sprintf("P%07d", g.pax),
		Name:     firstNames[g.rng.IntN(len(firstNames))] + " " + lastNames[g.rng.IntN(len(lastNames))],
		Tier:     tiers[g.rng.IntN(len(tiers))],
		Language: []string{"en", "de", "fr", "es", "ja", "zh", "ar"}[g.rng.IntN(7)],
	}
	switch r := g.rng.IntN(100); {
	case r < 3:
		p.SSR = []string{"WCHR"}
	case r < 4:
		p.SSR = []string{"UMNR"}
	case r < 5:
		p.SSR = []string{"BLND"}
	}
	return p
}

func (g *gen) locator() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	for {
		var b [6]byte
		for i := range b {
			b[i] = alphabet[g.rng.IntN(len(alphabet))]
		}
		if !g.used[string(b[:])] {
			g.used[string(b[:])] = true
			return string(b[:])
		}
	}
}

// bookings sells the day's bookings. It is longer than 80 lines because
// the mix of bookings (local, connecting, groups) draws from one seeded
// sequence in one place: a seeded day must stay the same day.
func (g *gen) bookings(at time.Time, arrivals, departures []*app.Flight) {
	seats := seatMap{}
	for i := 0; i < g.cfg.Bookings; i++ {
		npax := 1 + g.rng.IntN(3)
		if g.rng.IntN(3) > 0 {
			npax = 1
		}
		var pax []app.Passenger
		for j := 0; j < npax; j++ {
			pax = append(pax, g.person())
		}
		cabin := "Y"
		if g.rng.IntN(8) == 0 {
			cabin = "J"
		}
		legs := g.itinerary(arrivals, departures)
		if legs == nil {
			continue
		}
		segs, ok := seats.book(legs, cabin, npax)
		if !ok {
			continue
		}
		b := app.Booking{Locator: g.locator(), Status: app.BookingActive, Segments: segs}
		for _, p := range pax {
			g.emit(at, app.TypePassengerUpserted, p.ID, p)
			b.Passengers = append(b.Passengers, app.BookingPassenger{ID: p.ID, Name: p.Name, Tier: p.Tier, SSR: p.SSR})
		}
		g.emit(at.Add(time.Second), app.TypeBookingCreated, b.Locator, b)
	}
}

// itinerary picks a booking's flights: a connection at the hub (four in
// ten), a departure or an arrival; nil when no connection fits.
func (g *gen) itinerary(arrivals, departures []*app.Flight) []*app.Flight {
	switch r := g.rng.IntN(10); {
	case r < 4:
		in := arrivals[g.rng.IntN(len(arrivals))]
		var cands []*app.Flight
		for _, out := range departures {
			gap := out.ScheduledDeparture.Sub(in.ScheduledArrival)
			if gap >= 50*time.Minute && gap <= 4*time.Hour && out.Destination != in.Origin {
				cands = append(cands, out)
			}
		}
		if len(cands) == 0 {
			return nil
		}
		return []*app.Flight{in, cands[g.rng.IntN(len(cands))]}
	case r < 7:
		return []*app.Flight{departures[g.rng.IntN(len(departures))]}
	default:
		return []*app.Flight{arrivals[g.rng.IntN(len(arrivals))]}
	}
}

// seatMap counts the seats sold per flight and cabin.
type seatMap map[string]int

// take sells n seats of cabin on f, up to 92% of its capacity, and
// returns their numbers; false when they do not fit.
func (m seatMap) take(f *app.Flight, cabin string, n int) ([]string, bool) {
	k := f.Flight + "/" + cabin
	if m[k]+n > f.Capacity[cabin]*92/100 {
		return nil, false
	}
	var out []string
	for i := 0; i < n; i++ {
		m[k]++
		row := m[k]/6 + 1
		if cabin == "Y" {
			row += 10
		}
		out = append(out, fmt.Sprintf("%d%c", row, "ABCDEF"[m[k]%6]))
	}
	return out, true
}

// book sells npax seats on every leg (in cabin, or Y where a flight has
// no such cabin) and returns the segments, with the seat when one person
// travels; false when a leg is full (the legs before keep their seats
// sold, as the generator always did).
func (m seatMap) book(legs []*app.Flight, cabin string, npax int) ([]app.Segment, bool) {
	var segs []app.Segment
	for _, f := range legs {
		c := cabin
		if f.Capacity[c] == 0 {
			c = "Y"
		}
		seats, fits := m.take(f, c, npax)
		if !fits {
			return nil, false
		}
		seg := app.Segment{Flight: f.Flight, Cabin: c}
		if npax == 1 {
			seg.Seat = seats[0]
		}
		segs = append(segs, seg)
	}
	return segs, true
}

// operations emits the day's status changes and disruptions.
func (g *gen) operations(departures, arrivals []*app.Flight) {
	all := append(append([]*app.Flight{}, departures...), arrivals...)
	diverted := false
	for _, f0 := range all {
		f := *f0
		dep := f.ScheduledDeparture
		r := g.rng.Float64()
		switch {
		case r < g.cfg.CancelRate:
			c := f
			c.Status = app.FlightCancelled
			g.emit(dep.Add(-time.Duration(60+g.rng.IntN(180))*time.Minute), app.TypeFlightStatus, f.Flight, c)
			continue
		case r < g.cfg.CancelRate+g.cfg.DelayRate:
			delay := time.Duration(20+g.rng.IntN(160)) * time.Minute
			ed, ea := dep.Add(delay), f.ScheduledArrival.Add(delay)
			f.EstimatedDeparture, f.EstimatedArrival = &ed, &ea
			f.Status = app.FlightDelayed
			g.emit(dep.Add(-time.Duration(30+g.rng.IntN(90))*time.Minute), app.TypeFlightStatus, f.Flight, f)
		}
		if g.rng.Float64() < g.cfg.GateRate {
			f.Gate = g.gate(f.Capacity["J"] >= 30)
			g.emit(f.Departure().Add(-time.Duration(45+g.rng.IntN(60))*time.Minute), app.TypeFlightStatus, f.Flight, f)
		}
		b := f
		b.Status = app.FlightBoarding
		g.emit(f.Departure().Add(-35*time.Minute), app.TypeFlightStatus, f.Flight, b)
		d := f
		d.Status = app.FlightDeparted
		g.emit(f.Departure(), app.TypeFlightStatus, f.Flight, d)
		a := f
		if !diverted && f.Destination == g.cfg.Hub && f.Capacity["J"] == 0 && g.rng.IntN(20) == 0 {
			diverted = true
			a.Status, a.DivertedTo = app.FlightDiverted, "NUE"
			g.emit(f.Arrival().Add(-20*time.Minute), app.TypeFlightStatus, f.Flight, a)
			continue
		}
		a.Status = app.FlightArrived
		g.emit(f.Arrival(), app.TypeFlightStatus, f.Flight, a)
	}
}

// Policies are the policy documents of the simulated site.
var Policies = []app.Document{
	{ID: "policy-rebooking", Title: "Rebooking after cancellation or missed connection", Tags: []string{"rebooking", "irregular-operations"}, Body: strings.TrimSpace(`
# Rebooking after cancellation or missed connection

## Scope
Applies to all passengers whose flight is cancelled, diverted or delayed so that a booked connection at the hub cannot be made.

## Order of priority
1. Passengers with special service requests: unaccompanied minors (UMNR), wheelchair (WCHR), blind or deaf passengers.
2. Frequent flyers by status: platinum, then gold, then silver.
3. Passengers with onward connections on the same ticket.
4. All other passengers, earliest arrival at the final destination first.

## Options
Offer the earliest alternative to the same final destination, direct or with one stop, in the booked cabin. A lower cabin may be offered only with the passenger's consent; a higher cabin requires supervisor approval.

## Minimum connection time
The minimum connection time at the hub is 45 minutes for Schengen to Schengen and 60 minutes for all other transfers. Never offer a connection below the minimum connection time.`)},
	{ID: "policy-care", Title: "Care and assistance during long delays and overnight cancellations", Tags: []string{"care", "hotel", "meals", "vouchers"}, Body: strings.TrimSpace(`
# Care and assistance

## Meals and refreshments
After a delay of two hours or more, offer meal vouchers in reasonable relation to the waiting time: 15 EUR per passenger for delays from two hours, 30 EUR from four hours.

## Hotel accommodation
If a cancellation or a missed connection forces an overnight stay, provide a hotel room at a partner hotel and transport between the airport and the hotel. Hotel vouchers are issued at the transfer desk. Passengers with reduced mobility get an accessible room.

## Communication
Offer two telephone calls or emails, and keep passengers informed about the expected departure time at least every 30 minutes.`)},
	{ID: "policy-compensation", Title: "Compensation under EU regulation 261/2004", Tags: []string{"compensation", "eu261"}, Body: strings.TrimSpace(`
# Compensation

## Entitlement
Passengers arriving at their final destination three hours or more late, or whose flight was cancelled less than 14 days before departure, may be entitled to compensation unless the cause was an extraordinary circumstance such as weather or air traffic control restrictions.

## Amounts
250 EUR for flights up to 1500 km, 400 EUR for flights between 1500 km and 3500 km, and 600 EUR for longer flights. Compensation may be reduced by half if the rerouting arrives within the regulation's time limits.

## Approval
Agents may inform passengers of the entitlement. Payments and vouchers above 100 EUR require approval by a duty supervisor.`)},
	{ID: "policy-misconnect", Title: "Misconnect handling at the hub", Tags: []string{"misconnect", "transfer"}, Body: strings.TrimSpace(`
# Misconnect handling

## Detection
A passenger misconnects when the estimated arrival of the inbound flight plus the minimum connection time is later than the estimated departure of the onward flight.

## Handling
Rebook misconnecting passengers proactively before arrival so that new boarding passes are ready at the transfer desk. Baggage is rerouted automatically with the booking change.

## Unaccompanied minors
An unaccompanied minor who misconnects stays in the care of ground staff until handed to the crew of the new flight. Never rebook an unaccompanied minor onto a connection that arrives after 22:00 local time.`)},
	{ID: "policy-special-assistance", Title: "Special assistance for passengers with reduced mobility", Tags: []string{"wchr", "prm", "assistance"}, Body: strings.TrimSpace(`
# Special assistance

## Wheelchair passengers
Passengers with a WCHR request need assistance from the gate to the aircraft. When rebooking, keep the assistance request on the new flights and inform the assistance service at least 60 minutes before departure.

## Connection times
Add 30 minutes to the minimum connection time for passengers needing assistance between gates.`)},
}

func (g *gen) documents(at time.Time) {
	for _, d := range Policies {
		d.Airport = g.cfg.Hub
		g.emit(at, app.TypeDocumentUpserted, d.ID, d)
	}
}

// Window is what a run of days plays while cur is the current day: cur's
// events after the last one of prev (nil for the first day), and next's
// events up to cur's last, in the order they happen (cur's first on the
// same moment). Each event of the run is in one window, so the next day
// begins at its own 04:00 while the current one's last long-haul flights
// are still arriving abroad.
func Window(prev, cur, next *Day) *Day {
	w := &Day{Config: cur.Config, Flights: cur.Flights, used: cur.used, pax: cur.pax}
	var a, b []Timed
	for _, te := range cur.Events {
		if prev == nil || te.At.After(prev.End) {
			a = append(a, te)
		}
	}
	for _, te := range next.Events {
		if !te.At.After(cur.End) {
			b = append(b, te)
		}
	}
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || len(a) > 0 && !a[0].At.After(b[0].At) {
			w.Events, a = append(w.Events, a[0]), a[1:]
		} else {
			w.Events, b = append(w.Events, b[0]), b[1:]
		}
	}
	if len(w.Events) > 0 {
		w.Start, w.End = w.Events[0].At, w.Events[len(w.Events)-1].At
	}
	return w
}
