package app

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Question is a staff question as the node understands it: the entities it
// names and what it asks about them. ParseQuestion fills it from the text
// alone; which of the candidates exist is for the state store to say.
type Question struct {
	Text string
	// Flights are the flight designators named ("LH400"), each with the
	// local date when one was given with it or in the question.
	Flights []FlightMention
	// Locators are the six-character tokens that may be record locators;
	// Sure is set for those the question calls a booking or that mix
	// letters and digits (an upper-case word alone is not enough).
	Locators []LocatorMention
	// Airports are upper-case three-letter tokens (candidate IATA codes).
	Airports []string
	// Names are runs of two or three capitalised words (candidate
	// passenger names).
	Names []string
	// NameGuesses are pairs of consecutive words that may be a name
	// typed in lower case ("who is tomas novak booked on"), when the
	// question has no capitalised name and asks about people; only an
	// exact match of a passenger's name counts.
	NameGuesses []string
	// UnknownPlace is where a list of flights is asked for that no
	// place name knows ("to Narnia" of "flights to Narnia"): no flight
	// goes there, rather than every flight of the day.
	UnknownPlace string
	// Full asks for the day's flights with a cabin full or overbooked
	// ("which flights are full today", "overbooked flights"); Overbooked
	// for those overbooked only.
	Full, Overbooked bool
	// Surname is one capitalised word a question about people gives
	// alone ("bookings for Okafor", "where is Mr Silva"): the passengers
	// of that surname answer it, when there are any.
	Surname string
	// Date is the local date the question is about ("" for the site's
	// today), from "today", "tomorrow", "yesterday" or an ISO date.
	Date string
	// Day is set when the question names a day ("today", "tonight",
	// "tomorrow", "yesterday", a date): a list of flights by status is
	// about one.
	Day bool

	SSR       []string // special service requests asked about (WCHR, UMNR, ...)
	Tiers     []string // frequent-flyer tiers asked about
	Status    string   // a flight status asked about ("cancelled")
	Disrupted bool     // the disrupted flights, as the board counts them (cancelled, diverted, 15 minutes late)
	Procedure bool     // asks for a procedure or policy: policy words, a condition, what staff do or may do
	// PeopleNamed: the question has a word for people (passengers, pax,
	// who); "connecting" alone may be about a desk or a time.
	PeopleNamed bool
	Count       bool // "how many"
	People      bool // asks about passengers or bookings
	Connects    bool // asks about onward connections
	Misses      bool // asks who misses a connection
	Tight       bool // asks whose connection holds with little to spare (with Misses: "at risk")
	Proposal    bool // asks about rebooking proposals
	// WentLate: the flights that left (or landed) late, gone or not, as
	// well as those still waiting ("which flights left late today").
	WentLate bool
	// RankDelay: the day's late flights by how late, the latest first
	// ("which flight has the longest delay today"); AverageDelay: their
	// delays summed up ("what is the average delay this morning");
	// BusyGates: the gates by how many flights use them ("which gates
	// are busiest today").
	RankDelay, AverageDelay, BusyGates bool
	// NoGate: the flights still waiting for a gate ("which flights have
	// no gate yet", "departures without a gate").
	NoGate bool
	// RankOne: the one most delayed flight is asked about ("who is on the
	// most delayed flight"), not the list.
	RankOne bool
	// OpenProposals: the proposals waiting for a decision, of no one
	// flight or booking ("which proposals are waiting for approval",
	// "how many rebookings are pending").
	OpenProposals bool
	Timing        bool // asks about times, delays, gates or status
	// ListsAirport: the day's flights to or from one airport, whatever
	// their status ("departures to LHR today", "flights from CDG on
	// 2026-12-03"); ToAirport and FromAirport say which way when the
	// question does.
	ListsAirport bool
	ToAirport    bool
	FromAirport  bool
	// Arrivals and Departures: the question asks about the site's
	// arrivals or its departures ("delayed arrivals today"), not both.
	Arrivals, Departures bool
	// Pick is "next", "first" or "last": the one flight of a list the
	// question asks for ("the next flight to London").
	Pick string
	// Since is set for the flights changed since a time ("what changed
	// in the last hour", "any updates since 10:00").
	Since *time.Time
	// PickClock is the time of day ("10:30") of Pick "at": the flight
	// scheduled then ("the 10:30 to Paris").
	PickClock string
	// Gate is a gate the question names ("which flights leave from gate
	// B20"): the day's flights at it.
	Gate string
	// DayFlights: every flight of a day, counted or listed ("how many
	// flights today", "how many passengers are flying today").
	DayFlights bool
	// Bookings: a count of bookings, not of passengers ("how many
	// bookings today"); each booking counts once however many of the
	// flights it holds.
	Bookings bool
	// Place is a city or an airport's name the question gives instead
	// of a code ("flights to Paris today"), with every airport of that
	// name; the facts keep those the site's flights serve.
	Place *PlaceMention
	// FromPlace is where flights to Place leave from, when the question
	// names both ("from Frankfurt to Paris").
	FromPlace *PlaceMention
	Seats     bool // asks about free seats ("is LH402 full", "seats left")
	// InSeats are the seats the question asks who holds ("who is in
	// seat 14C on OS451", "who sits in 2A and 2B on LH400"), upper case.
	InSeats []string
	// Window is a time of day the question asks about ("in the next
	// hour", "after 12:00", "between 10 and 12", "this afternoon"), in
	// the site's zone; nil when it names none.
	Window *TimeWindow
	// MinDelay is the delay a list of flights is asked for beyond
	// ("delayed by more than an hour", "over 30 minutes late"); a flight
	// counts when it is later than that (at least that, with "at least").
	MinDelay     time.Duration
	MinInclusive bool
}

// TimeWindow is a span of the site's time: departures in it, or arrivals.
type TimeWindow struct {
	From, To time.Time // [From, To)
	Arrivals bool
	// Scheduled: a window of the clock ("this morning", "between 9 and
	// 12"), which also holds the flights scheduled in it, as a timetable
	// lists them (the 11:40 that left at 12:05 was a morning flight). A
	// window from now ("the next two hours") holds only what leaves in it.
	Scheduled bool
}

// holds reports whether a flight leaving (or landing) at actual, as now
// known, and scheduled then, is in the window.
func (w *TimeWindow) holds(actual, scheduled time.Time) bool {
	in := func(t time.Time) bool { return !t.Before(w.From) && t.Before(w.To) }
	return in(actual) || w.Scheduled && in(scheduled)
}

// FlightMention is a flight designator named in a question.
type FlightMention struct {
	Designator string // carrier + number, e.g. LH400
	Date       string // local departure date when given, else ""
}

// LocatorMention is a candidate record locator.
type LocatorMention struct {
	Locator string
	Sure    bool
}

var (
	// A designator: a two-character airline code (letters, or a letter
	// and a digit) and one to four digits, optionally joined to a date.
	reAskFlight  = regexp.MustCompile(`(?i)\b([A-Z]{2}|[A-Z][0-9]|[0-9][A-Z])\s?([0-9]{1,4})(?:-([0-9]{4}-[0-9]{2}-[0-9]{2}))?\b`)
	reAskDate    = regexp.MustCompile(`\b(20[0-9]{2}-[01][0-9]-[0-3][0-9])\b`)
	reAskToken6  = regexp.MustCompile(`\b[A-Za-z0-9]{6}\b`)
	reAskAirport = regexp.MustCompile(`\b[A-Z]{3}\b`)
	reAskName    = regexp.MustCompile(`\b\p{Lu}[\p{Ll}'’-]+(?:\s+\p{Lu}[\p{Ll}'’-]+){1,2}\b`)
	reAskWord    = regexp.MustCompile(`[\p{L}\p{N}]+`)
)

// ssrWords maps words staff use to the special service request codes.
var ssrWords = map[string][]string{
	"wheelchair": {"WCHR", "WCHS", "WCHC"}, "wheelchairs": {"WCHR", "WCHS", "WCHC"},
	"wchr": {"WCHR"}, "wchs": {"WCHS"}, "wchc": {"WCHC"}, "prm": {"WCHR", "WCHS", "WCHC", "BLND", "DEAF"},
	"mobility": {"WCHR", "WCHS", "WCHC"}, "umnr": {"UMNR"}, "unaccompanied": {"UMNR"}, "minor": {"UMNR"},
	"minors": {"UMNR"}, "blind": {"BLND"}, "blnd": {"BLND"}, "deaf": {"DEAF"}, "ssr": {"*"}, "ssrs": {"*"},
	"assistance": {"*"}, "special": {"*"},
	// The other common IATA codes, for the sites whose passengers have
	// them ("meal" is left out: "meal vouchers" are a procedure).
	"infant": {"INFT"}, "infants": {"INFT"}, "baby": {"INFT"}, "babies": {"INFT"}, "inft": {"INFT"},
	"pet": {"PETC", "AVIH"}, "pets": {"PETC", "AVIH"}, "dog": {"PETC", "AVIH", "SVAN"}, "dogs": {"PETC", "AVIH", "SVAN"},
	"cat": {"PETC", "AVIH"}, "cats": {"PETC", "AVIH"}, "petc": {"PETC"}, "avih": {"AVIH"}, "svan": {"SVAN"},
	"medical": {"MEDA", "OXYG", "STCR"}, "meda": {"MEDA"}, "oxygen": {"OXYG"}, "oxyg": {"OXYG"}, "stretcher": {"STCR"}, "stcr": {"STCR"},
	"deportee": {"DEPU", "DEPA"}, "deportees": {"DEPU", "DEPA"}, "depu": {"DEPU"}, "depa": {"DEPA"},
	"vegetarian": {"VGML", "AVML", "VLML"}, "vegan": {"VGML"}, "kosher": {"KSML"}, "halal": {"MOML"}, "gluten": {"GFML"}, "diabetic": {"DBML"},
}

var tierWords = map[string]string{"platinum": "platinum", "gold": "gold", "silver": "silver"}

// tiers are the frequent-flyer tiers of the passenger schema, lowest first.
var tiers = []string{"silver", "gold", "platinum"}

// reAnyTier asks for the passengers of any frequent-flyer tier: "frequent
// flyers", "elite members", "status passengers".
var reAnyTier = regexp.MustCompile(`\bfrequent[ -]?fl[yi]ers?\b|\belites?\b|\b(status|tier|tiered) (passengers?|pax|members?|customers?|travell?ers?)\b`)

var statusWords = map[string]string{
	"cancelled": FlightCancelled, "canceled": FlightCancelled, "cancellation": FlightCancelled, "cancellations": FlightCancelled,
	"delayed": FlightDelayed, "delays": FlightDelayed,
	"diverted": FlightDiverted, "diversion": FlightDiverted, "diversions": FlightDiverted, "boarding": FlightBoarding,
}

var peopleWords = []string{"passenger", "passengers", "pax", "who", "people", "travellers", "travelers", "traveller",
	"traveler", "booked", "bookings", "booking", "customers", "names", "manifest", "onboard", "aboard", "list"}
var connectWords = []string{"connection", "connections", "connecting", "connect", "onward", "transfer", "transfers", "misconnect", "misconnects", "misconnecting"}
var missWords = []string{"miss", "misses", "missing", "missed", "misconnect", "misconnects", "misconnecting", "break", "broken"}
var proposalWords = []string{"proposal", "proposals", "rebook", "rebooking", "rebookings", "rebooked", "alternative", "alternatives", "options"}
var timingWords = []string{"status", "when", "time", "times", "gate", "delay", "delayed", "late", "depart", "departs", "departure",
	"leave", "leaves", "arrive", "arrives", "arrival", "eta", "etd", "std", "sta", "on", "cancelled", "canceled", "aircraft", "where"}
var countWords = []string{"how many", "number of", "count", "total"}

// reAskWhichProposals asks for proposals as a list: "which proposals",
// "any rebooking proposals", "what rebookings are there" (not "in which
// order do we rebook").
var reAskWhichProposals = regexp.MustCompile(`\b(?:which|what|any)\s+(?:rebooking\s+)?(?:proposals?|rebookings)\b`)

// periodWords name a time other than today's.
var periodWords = []string{"week", "weeks", "month", "months", "year", "years", "weekend", "ago", "since", "yesterday", "tomorrow",
	"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "june",
	"july", "august", "september", "october", "november", "december", "last", "past", "previous"}

// openWords ask for what waits for a decision.
var openWords = []string{"pending", "waiting", "open", "outstanding", "awaiting", "approval", "approve", "unapproved", "undecided", "review", "decide"}

// bookingWords make a six-character token a record locator for sure.
var bookingWords = []string{"booking", "pnr", "locator", "record", "reservation"}

// wordsBeforeNumbers are short words a question puts before a number
// ("on 2026-12-03", "at 10", "in 2"): written in lower case with a space,
// they are not a flight's designator.
var wordsBeforeNumbers = map[string]bool{"on": true, "at": true, "in": true, "by": true, "to": true, "of": true, "is": true,
	"or": true, "as": true, "it": true, "be": true, "do": true, "go": true, "no": true, "so": true, "up": true, "we": true,
	"my": true, "me": true, "he": true, "us": true, "am": true, "an": true, "if": true}

// notDesignator tells a match of reAskFlight that is not a flight (m:
// the match, its letters, number and date; end: where it ends in text):
// a number that is the year of a date ("on 2026-12-03"), or a short
// lower-case word with a space before a number ("at 10").
func notDesignator(text string, m []string, start, end int) bool {
	if reDateTail.MatchString(text[end:]) || reGateBefore.MatchString(text[:start]) {
		return true
	}
	return strings.Contains(m[0], " ") && m[1] == strings.ToLower(m[1]) && wordsBeforeNumbers[m[1]]
}

var reDateTail = regexp.MustCompile(`^-[01][0-9]-[0-3][0-9]`)

// reGateBefore: "gate B20" names a gate, not flight B20.
var reGateBefore = regexp.MustCompile(`(?i)\bgates?\s+$`)

// reAskGate finds a gate the question names ("gate B20", "gate 5").
var reAskGate = regexp.MustCompile(`(?i)\bgates?\s+([a-z]{0,2}[0-9]{1,4}[a-z]?)\b`)

// notAirports are upper-case three-letter words that are not airports.
var notAirports = map[string]bool{"THE": true, "AND": true, "FOR": true, "SSR": true, "PRM": true, "ETA": true, "ETD": true,
	"STD": true, "STA": true, "MCT": true, "EUR": true, "USD": true, "VIP": true, "PNR": true, "ALL": true, "ANY": true, "WHO": true, "HOW": true}

// ParseQuestion reads the entities and the intent of a question. today
// is the site's local date, for "today", "tomorrow" and "yesterday".
func ParseQuestion(text string, today time.Time) Question {
	q := Question{Text: text}
	lower := strings.ToLower(text)
	words := reAskWord.FindAllString(lower, -1)
	has := func(set []string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(set, w) })
	}
	switch {
	case slices.Contains(words, "tomorrow"):
		q.Date = today.AddDate(0, 0, 1).Format(time.DateOnly)
	case slices.Contains(words, "yesterday"):
		q.Date = today.AddDate(0, 0, -1).Format(time.DateOnly)
	}
	if m := reAskDate.FindStringSubmatch(text); m != nil {
		q.Date = m[1]
	}
	q.Day = q.Date != "" || slices.Contains(words, "today") || slices.Contains(words, "tonight") ||
		slices.ContainsFunc(dayPhrases, func(p string) bool { return strings.Contains(lower, p) })
	for _, ix := range reAskFlight.FindAllStringSubmatchIndex(text, -1) {
		m := []string{text[ix[0]:ix[1]], text[ix[2]:ix[3]], text[ix[4]:ix[5]], ""}
		if ix[6] >= 0 {
			m[3] = text[ix[6]:ix[7]]
		}
		des := strings.ToUpper(m[1] + m[2])
		if strings.ToUpper(m[1]) == "EU" { // "EU 261" is the regulation
			continue
		}
		if notDesignator(text, m, ix[0], ix[1]) {
			continue
		}
		date := m[3]
		if date == "" {
			date = q.Date
		}
		if !slices.ContainsFunc(q.Flights, func(f FlightMention) bool { return f.Designator == des }) {
			q.Flights = append(q.Flights, FlightMention{Designator: des, Date: date})
		}
	}
	sureBooking := has(bookingWords)
	for _, tok := range reAskToken6.FindAllString(text, -1) {
		up := strings.ToUpper(tok)
		digits := strings.ContainsAny(up, "0123456789")
		letters := strings.ContainsAny(up, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
		if !letters || (tok != up && !digits) || reAskFlight.MatchString(tok) && !sureBooking {
			continue // a lower-case word, a number, or a flight designator
		}
		if slices.ContainsFunc(q.Locators, func(l LocatorMention) bool { return l.Locator == up }) {
			continue
		}
		q.Locators = append(q.Locators, LocatorMention{Locator: up, Sure: digits || sureBooking})
	}
	for _, code := range reAskAirport.FindAllString(text, -1) {
		if !notAirports[code] && !slices.Contains(q.Airports, code) {
			q.Airports = append(q.Airports, code)
		}
	}
	nameSpans := reAskName.FindAllStringIndex(text, -1)
	var placeSpans [][]int
	if len(q.Airports) == 0 {
		var ps []*PlaceMention
		ps, placeSpans = placesIn(text, nameSpans)
		// "from Frankfurt to Paris": the place it goes to, from the other.
		for _, p := range ps {
			if q.Place == nil || p.To && !q.Place.To {
				q.Place = p
			}
		}
		for _, p := range ps {
			if p.From && q.Place.To {
				q.FromPlace = p
				break
			}
		}
	}
	for _, sp := range nameSpans {
		if slices.ContainsFunc(placeSpans, func(p []int) bool { return p[0] == sp[0] && p[1] == sp[1] }) {
			continue // "to New York" names a place, not a person
		}
		// "Maximilian Auer's flight" names Maximilian Auer.
		n := strings.TrimSuffix(strings.TrimSuffix(text[sp[0]:sp[1]], "'s"), "’s")
		// "Mr Zubiri" is a title and a surname; "Dr Ana Ruiz" a name.
		if title, rest, ok := strings.Cut(n, " "); ok && titles[strings.ToLower(title)] {
			if !strings.Contains(rest, " ") {
				continue // a surname, found below
			}
			n = rest
		}
		q.Names = append(q.Names, n)
	}
	for _, w := range words {
		for _, code := range ssrWords[w] {
			if !slices.Contains(q.SSR, code) {
				q.SSR = append(q.SSR, code)
			}
		}
		if t, ok := tierWords[w]; ok && !slices.Contains(q.Tiers, t) {
			q.Tiers = append(q.Tiers, t)
		}
		if s, ok := statusWords[w]; ok && q.Status == "" {
			q.Status = s
		}
	}
	if len(q.Tiers) == 0 && reAnyTier.MatchString(lower) {
		q.Tiers = slices.Clone(tiers)
	}
	q.Disrupted = q.Status == "" && reAskDisrupted.MatchString(lower) && !reProcedure.MatchString(lower)
	if q.Status == "" && reAskLate.MatchString(lower) {
		q.Status = FlightDelayed
	}
	// "how late is the Mumbai flight": the late ones, gone or not.
	if (q.Status == "" || q.Status == FlightDelayed) && len(q.Flights) == 0 && reAskHowLate.MatchString(lower) {
		q.Status, q.WentLate = FlightDelayed, true
	}
	// "which flights left late today", "how many departures were late
	// this morning": those that went late as well as those still waiting.
	if m := reAskWentLate.FindStringSubmatch(lower); m != nil && (q.Status == "" || q.Status == FlightDelayed) &&
		(has(listWords) || has([]string{"flight", "plane"})) {
		q.Status, q.WentLate = FlightDelayed, true
		switch m[1] {
		case "landed", "arrived", "came in":
			q.Arrivals, q.Departures = true, false
		case "left", "departed", "took off":
			q.Arrivals, q.Departures = false, true
		}
	}
	if d, inclusive, ok := delayAsked(lower); ok && (q.Status == FlightDelayed || q.Status == "" && (has(listWords) || has([]string{"flight", "departure", "arrival"}))) {
		q.MinDelay, q.MinInclusive, q.Status = d, inclusive, FlightDelayed
	}
	q.Count = slices.ContainsFunc(countWords, func(c string) bool { return strings.Contains(lower, c) })
	q.Connects = has(connectWords)
	// "at risk" is broken or tight.
	risk := strings.Contains(lower, "at risk") || strings.Contains(lower, "in danger") || has([]string{"endangered", "risky"})
	q.Tight = q.Connects && (risk || has([]string{"tight", "short"}))
	q.Misses = (has(missWords) || risk) && q.Connects || slices.Contains(words, "misconnect") || slices.Contains(words, "misconnecting")
	q.People = has(peopleWords) || len(q.SSR) > 0 || len(q.Tiers) > 0 || q.Connects
	q.Proposal = has(proposalWords)
	q.Timing = has(timingWords)
	q.Seats = has(seatWords)
	q.InSeats = seatsIn(text, has(sitWords))
	if len(q.InSeats) > 0 {
		q.Seats = false // who holds a seat, not how many are free
	}
	if len(q.Names) == 0 && (has(peopleWords) || slices.Contains(words, "where")) {
		q.NameGuesses = nameGuesses(words)
	}
	q.Arrivals, q.Departures = has(arrivalWords), has(departureWords)
	if q.Arrivals && q.Departures {
		q.Arrivals, q.Departures = false, false
	}
	q.Window = timeWindow(lower, q.Date, today)
	if q.Window != nil {
		q.Window.Arrivals = has(arrivalWords)
		q.Day = true
		if q.Connects && !q.Departures && has(peopleWords) && len(q.Airports) == 0 && q.Place == nil {
			// Passengers connecting this morning come in on the
			// morning's arrivals.
			q.Window.Arrivals, q.Arrivals = true, true
		}
	}
	if m := reAskGate.FindStringSubmatch(text); m != nil && len(q.Flights) == 0 && !has(policyWords) {
		q.Gate, q.Day = strings.ToUpper(m[1]), true
	}
	// Which way the question looks at its one airport or place.
	var to, from bool
	switch {
	case len(q.Airports) == 1:
		code := strings.ToLower(q.Airports[0])
		to = regexp.MustCompile(`\b(to|for|into)\s+` + code + `\b`).MatchString(lower)
		from = regexp.MustCompile(`\b(from|out of)\s+` + code + `\b`).MatchString(lower)
	case q.Place != nil:
		to, from = q.Place.To, q.Place.From
	}
	where := len(q.Airports) == 1 || q.Place != nil
	policy := has(policyWords)
	q.Procedure = policy || conditional(lower) || reProcedure.MatchString(lower)
	q.PeopleNamed = has(peopleWords)
	if m := reAskPick.FindStringSubmatch(lower); m != nil && !policy && len(q.Flights) == 0 {
		// "the next flight to London", "first departure to CDG tomorrow"
		q.Pick = pickWords[m[1]]
	}
	if m := reAskAt.FindStringSubmatch(lower); m != nil && !policy && len(q.Flights) == 0 && q.Pick == "" {
		// "the 10:30 to Paris", "the 7.05 flight from Dubai"
		h, mm := m[1], m[2]
		if h == "" {
			h, mm = m[3], m[4]
		}
		if atoi(h) <= 23 && atoi(mm) <= 59 {
			q.Pick, q.PickClock = "at", fmt.Sprintf("%02d:%s", atoi(h), mm)
		}
	}
	// A list of flights to or from one airport: of a day, or of today
	// when the question says which way or names the place before its
	// flights, and is not about a procedure
	// ("flights to Dubai"; "when does the flight from Tokyo land": the
	// day's from there, each with its times).
	// "is the London flight on time": that place's flights either way.
	ofPlace := q.Place != nil && q.Place.OfFlights
	// "how many passengers are flying to Tokyo": the flights there, when
	// it names no one ("is Ana Ruiz flying to Lima" is about her).
	flying := len(q.Names) == 0 && has([]string{"flying", "fly", "flies"})
	if where && (has(listWords) || (has([]string{"flight", "plane"}) || ofPlace || flying) && q.Pick == "") && (q.Day || (to || from || ofPlace) && !policy) {
		q.ListsAirport, q.Day = true, true
	}
	if q.ListsAirport || q.Pick != "" || q.Status != "" || q.Disrupted {
		// Which way: "delayed flights to Oslo" are not those from there.
		q.ToAirport, q.FromAirport = to, from
	}
	// "list arrivals": the flights, not their passengers; "show me
	// departures": today's.
	if has(listWords) && len(q.SSR) == 0 && len(q.Tiers) == 0 && !q.Connects &&
		!has(slices.DeleteFunc(slices.Clone(peopleWords), func(w string) bool { return w == "list" })) {
		q.People = false
	}
	if !q.Day && has(listWords) && has(showWords) && len(q.Flights) == 0 && !policy {
		q.Day = true
	}
	if len(q.Names) == 0 && len(q.Flights) == 0 && !policy &&
		(has(peopleWords) || has(bookingWords) || slices.Contains(words, "where") || slices.Contains(words, "find")) {
		q.Surname = surnameIn(text, placeSpans)
	}
	if (has(changeWords) || q.Status != "" || strings.Contains(lower, "new")) && len(q.Flights) == 0 && !policy {
		q.Since = sinceIn(lower, today)
	}
	q.Overbooked = has([]string{"overbooked", "oversold", "overbooking", "overbookings"})
	if len(q.Flights) == 0 && q.Pick == "" && !policy && (q.Overbooked || has([]string{"full"}) || strings.Contains(lower, "sold out")) &&
		(has(listWords) || q.Day || has([]string{"which", "any"})) {
		q.Full, q.Day = true, true
	}
	q.Bookings = q.Count && has([]string{"bookings", "reservations", "pnrs"})
	if q.Bookings && !q.Day && len(q.Flights) == 0 && len(q.Names) == 0 && len(q.Locators) == 0 && !where {
		q.Day = true // "how many bookings are there": today's
	}
	// Of no one flight, person or booking: across the flights.
	acrossFlights := len(q.Flights) == 0 && len(q.Names) == 0 && len(q.Locators) == 0 && q.Surname == ""
	q.OpenProposals = q.Proposal && !q.Procedure && acrossFlights &&
		(q.Count || has(showWords) || has(openWords) || reAskWhichProposals.MatchString(lower))
	// "who is at risk of missing their connection": today's connections,
	// when it asks for them as a list, names no flight, person or
	// booking and no other time ("last week"), and asks no procedure.
	if (q.Misses || q.Tight) && !q.Day && !q.Procedure && acrossFlights &&
		(strings.Contains(lower, "how many") || has([]string{"who", "which", "whose", "any", "list", "show"})) && !has(periodWords) {
		q.Day = true
	}
	// The day's delays ranked or summed up, or its gates by use: every
	// flight not cancelled counts, whatever its status; today's unless
	// it names another day or a longer time.
	q.RankDelay = reAskLongestDelay.MatchString(lower)
	q.AverageDelay = !q.RankDelay && reAskAverageDelay.MatchString(lower)
	q.BusyGates = reAskBusyGates.MatchString(lower) && q.Gate == "" // "is gate B20 busy": its flights
	if (q.RankDelay || q.AverageDelay || q.BusyGates) && !q.Procedure && acrossFlights && !has(periodWords) {
		q.Day = true
		q.Status, q.MinDelay, q.WentLate = "", 0, false
		q.ToAirport, q.FromAirport = to, from
		q.RankOne = q.RankDelay && slices.Contains(words, "flight") && !has(listWords) && (q.People || q.Seats)
	} else {
		q.RankDelay, q.AverageDelay, q.BusyGates = false, false, false
	}
	// The flights with no gate yet, today's unless it names another day;
	// "what do we do when a flight has no gate" asks for the procedure,
	// "no gate change" is about changes.
	q.NoGate = reAskNoGate.MatchString(lower) && !strings.Contains(lower, "gate change") && q.Gate == "" && !q.BusyGates &&
		!q.Procedure && acrossFlights && !has(periodWords)
	if q.NoGate {
		q.Day = true
		q.Status, q.MinDelay, q.WentLate = "", 0, false
		q.ToAirport, q.FromAirport = to, from
	}
	// All of a day's flights, or its passengers or bookings: "how many
	// flights today", "departures today", "how many passengers are
	// flying today", "how many bookings today".
	q.DayFlights = q.Day && !where && q.Pick == "" && !q.Full && q.Gate == "" && q.Status == "" && !q.Disrupted && q.Window == nil && len(q.Flights) == 0 && len(q.Names) == 0 && !policy &&
		len(q.SSR) == 0 && len(q.Tiers) == 0 && !q.Misses && !q.Tight && !slices.ContainsFunc(q.Locators, func(l LocatorMention) bool { return l.Sure }) &&
		(has(listWords) && (q.Count || has(showWords) || q.Arrivals || q.Departures) || q.Bookings ||
			q.Count && has([]string{"passengers", "pax", "people", "flying", "travelling", "traveling"}))
	if len(q.Flights) == 0 && len(q.Airports) == 0 && q.Place == nil && (q.DayFlights || q.Status != "" || q.Pick != "" || q.Window != nil || q.Full) {
		if m := reAskToPlace.FindStringSubmatchIndex(text); m != nil &&
			!slices.ContainsFunc(nameSpans, func(s []int) bool { return s[0] <= m[4] && m[5] <= s[1] }) {
			if w := text[m[4]:m[5]]; !notNameWord(strings.ToLower(w)) && !notSurnames[strings.ToLower(w)] {
				q.UnknownPlace, q.DayFlights = strings.Join(strings.Fields(strings.ToLower(text[m[2]:m[4]])), " ")+" "+w, false
			}
		}
	}
	return q
}

// reAskToPlace finds a capitalised word after "to", "from", "into" or
// "out of", with "the" or not: a place, when the place names have it.
var reAskToPlace = regexp.MustCompile(`(?i:\b(to|from|into|out of)(?:\s+the)?)\s+(\p{Lu}[\p{Ll}'’-]+)\b`)

var (
	reAskNext    = regexp.MustCompile(`\b(?:next|coming)\s+(?:(` + countPattern + `)\s+)?(hours?|hrs?|minutes?|mins?)\b`)
	reAskAfter   = regexp.MustCompile(`\b(after|from|before|until|till)\s+` + clockPattern)
	reDuration   = regexp.MustCompile(`^\s*(hours?|hrs?|h|minutes?|mins?|days?)\b`) // "after 3 hours" is no time of day
	reAskBetween = regexp.MustCompile(`\b(?:between\s+` + clockPattern + `\s+and|from\s+` + clockPattern + `\s*(?:to|till|until|-|–))\s*` + clockPattern)
)

// submatches are the groups of a match found with
// FindStringSubmatchIndex, "" for a group that took no part.
func submatches(s string, ix []int) []string {
	g := make([]string, len(ix)/2-1)
	for i := range g {
		if ix[2+2*i] >= 0 {
			g[i] = s[ix[2+2*i]:ix[3+2*i]]
		}
	}
	return g
}

// clockPattern is a time of day: "9", "09:30", "3pm", "10.30 a.m.",
// "noon", "midday", "(12) midnight"; four groups: word, hour, minute, am
// or pm.
const clockPattern = `(?:(?:12\s*)?(noon|midday|midnight)\b|([0-9]{1,2})(?:[:.]([0-9]{2}))?(?:\s*(am\b|pm\b|a\.m\.?|p\.m\.?)|\b))`

// clockOf is the hour and minute of a clockPattern's groups (word, h, m,
// ampm), and whether they are a time. At the end of a window (end)
// midnight, 12am and 24:00 are hour 24, the day's end; else midnight is 0.
func clockOf(word, h, m, ampm string, end bool) (int, int, bool) {
	switch word {
	case "noon", "midday":
		return 12, 0, true
	case "midnight":
		if end {
			return 24, 0, true
		}
		return 0, 0, true
	}
	hh, mm := atoi(h), 0
	if m != "" {
		mm = atoi(m)
	}
	if end && hh == 24 && mm == 0 && ampm == "" {
		return 24, 0, true
	}
	if hh > 23 || mm > 59 {
		return 0, 0, false
	}
	if ampm != "" {
		if hh < 1 || hh > 12 {
			return 0, 0, false
		}
		if hh == 12 {
			hh = 0
			if end && ampm[0] == 'a' && mm == 0 {
				return 24, 0, true
			}
		}
		if ampm[0] == 'p' {
			hh += 12
		}
	}
	return hh, mm, true
}

// timeWindow reads a time of day from a question: "(in) the next hour",
// "next 2 hours", "next 30 minutes" (from now), "after 12:00", "before
// 9", "between 10 and 12:30" (on date, or today). Hours beyond 23 or
// minutes beyond 59 are no time.
func timeWindow(lower, date string, now time.Time) *TimeWindow {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	if d, err := time.ParseInLocation(time.DateOnly, date, now.Location()); err == nil {
		day = d
	}
	// By the clock of the day: 24:00 is the day's end.
	at := func(g []string, end bool) (time.Time, bool) {
		hh, mm, ok := clockOf(g[0], g[1], g[2], g[3], end)
		if !ok {
			return time.Time{}, false
		}
		if hh == 24 {
			return day.AddDate(0, 0, 1), true
		}
		return time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, day.Location()), true
	}
	if ix := reAskBetween.FindStringSubmatchIndex(lower); ix != nil && !reDuration.MatchString(lower[ix[1]:]) {
		// "between 10 and 12:30", "from 2pm to 4pm", "from 14:00-16:00";
		// "between 10 and 20 minutes" is no time of day.
		g := submatches(lower, ix)
		first, second := g[0:4], g[8:12]
		if strings.HasPrefix(lower[ix[0]:], "from") {
			first = g[4:8]
		}
		if first[0] == "" && first[3] == "" && second[3] != "" && atoi(first[1]) < atoi(second[1]) && atoi(second[1]) != 12 {
			// "between 2 and 4pm": the second's am or pm goes for both
			// ("between 10 and 2pm" is 10:00 to 14:00).
			first = append([]string{first[0], first[1], first[2]}, second[3])
		}
		from, ok1 := at(first, false)
		to, ok2 := at(second, true)
		if ok1 && ok2 && to.After(from) {
			return &TimeWindow{From: from, To: to, Scheduled: true}
		}
	}
	if m := reAskNext.FindStringSubmatch(lower); m != nil {
		unit := time.Hour
		if strings.HasPrefix(m[2], "min") {
			unit = time.Minute
		}
		count := m[1]
		if count == "" && strings.HasSuffix(m[2], "s") {
			count = "few" // "the coming hours"
		}
		if d := countOf(count, unit); d > 0 {
			return &TimeWindow{From: now, To: now.Add(d)}
		}
	}
	if ix := reAskAfter.FindStringSubmatchIndex(lower); ix != nil && !reDuration.MatchString(lower[ix[1]:]) {
		g := submatches(lower, ix)
		after := g[0] == "after" || g[0] == "from"
		t, ok := at(g[1:], !after)
		if !ok {
			return nil
		}
		if after {
			return &TimeWindow{From: t, To: day.AddDate(0, 0, 1), Scheduled: true}
		}
		return &TimeWindow{From: day, To: t, Scheduled: true}
	}
	// "a later flight to Vienna", "any later departures", "later
	// today": from now to the end of today.
	if reAskLater.MatchString(lower) && day.Equal(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())) {
		return &TimeWindow{From: now, To: day.AddDate(0, 0, 1)}
	}
	return partOfDay(lower, day)
}

// reAskLater asks for what is still to come today; "later than 10:00" is
// a bound of its own (reAskAfter does not read it, and it is no window).
var reAskLater = regexp.MustCompile(`\blater\s+(?:(?:[a-z]+\s+)?(?:flights?|departures?|arrivals?|planes?|connections?)\b|today\b|on\s+today\b)`)

// reAskPartOfDay is a part of a day named with its day ("this
// afternoon", "tomorrow morning", "tonight") or with flights ("evening
// departures"); "until the morning" alone is no window.
var reAskPartOfDay = regexp.MustCompile(`\b(?:(?:this|tomorrow|yesterday|today'?s?)\s+(morning|afternoon|evening)|(morning|afternoon|evening)\s+(?:flights?|departures?|arrivals?)|(tonight))\b`)

// partsOfDay are the hours [from, to) of each part of a day.
var partsOfDay = map[string][2]int{"morning": {5, 12}, "afternoon": {12, 18}, "evening": {18, 24}, "tonight": {18, 24}}

// partOfDay is the window of a part of the day named in lower, on day.
func partOfDay(lower string, day time.Time) *TimeWindow {
	m := reAskPartOfDay.FindStringSubmatch(lower)
	if m == nil {
		return nil
	}
	h := partsOfDay[m[1]+m[2]+m[3]]
	// By the clock of the day (a change of daylight saving time in the
	// night does not move the afternoon).
	at := func(hour int) time.Time {
		return time.Date(day.Year(), day.Month(), day.Day(), hour, 0, 0, 0, day.Location())
	}
	return &TimeWindow{From: at(h[0]), To: at(h[1]), Scheduled: true}
}

// reAskDelayOver is a delay asked beyond: "more than an hour", "over 30
// minutes", "at least 2 hours", "longer than 45 min".
// "An hour and a half" and "two and a half hours" add half the unit.
var reAskDelayOver = regexp.MustCompile(`\b(?:(no|not)\s+)?(more than|over|above|longer than|beyond|at least)\s+(` + countPattern + `)(\s+and a half)?\s*(hours?|hrs?|h|minutes?|mins?|min|m)\b(\s+and a half)?`)

// reConnectionBefore and reConnectionAfter find a bound that belongs to a
// connection, not to a delay: "connections of at least 45 minutes", "a
// layover over 2 hours", "more than 40 minutes to connect". The
// connection's noun comes right before the bound ("of", "with" or "time
// of" between): "connecting flights delayed more than 30 minutes" is a
// delay bound.
var (
	reConnectionBefore = regexp.MustCompile(`\b(connections?|connection times?|connecting times?|layovers?|transfer times?|transfers?|turnarounds?|mct)\s+(?:(?:of|with|times? of)\s+)?$`)
	reConnectionAfter  = regexp.MustCompile(`^\s*to\s+(connect|transfer|change planes|make (?:the|their|a) connection)\b`)
)

// reDelayWord speaks of a delay: "delay", "delayed", "delays", "late".
var reDelayWord = regexp.MustCompile(`\b(delay|delays|delayed|late)\b`)

// reAskDisrupted asks for the disrupted flights: "any disruptions
// today", "disrupted departures", "are flights to Paris disrupted"
// (reProcedure, policy words and conditions keep the procedures out).
var reAskDisrupted = regexp.MustCompile(`\b(disruptions|irregularities|disrupted)\b`)

// reProcedure asks what staff do or may do: "how do we handle disrupted
// passengers", "what vouchers can I give", "what do I tell them".
var reProcedure = regexp.MustCompile(`\b(how|what)\s+(do|should|can|must|shall)\s+(we|i)\s+(do|tell|give|offer|handle|say|provide|treat|deal)\b|\b(can|could|may|should|must)\s+(we|i)\s+(give|offer|provide|tell|say|use)\b|\bhow to\b`)

// reConditional makes a delay or a status a condition of a procedure
// ("what do we do if a departure is delayed", "a voucher when the flight
// is more than 2 hours late"), not a list to give; "when" that opens the
// question asks for a time.
var reConditional = regexp.MustCompile(`\b(whenever|if|once|unless|in case)\b|.\bwhen\b`)

// reNotConditional are phrases with "if" that ask for a list all the same:
// "which flights are delayed, if any", "check if any are cancelled".
var reNotConditional = regexp.MustCompile(`\bif (any|so|there are any|there is one)\b|\b(check|see|find out|tell me|know) if\b|\band when\b`)

// conditional reports whether text holds a condition (reConditional),
// other than in reNotConditional's phrases.
func conditional(text string) bool {
	return reConditional.MatchString(reNotConditional.ReplaceAllString(text, " "))
}

// delayAsked reads the delay a question asks beyond, when it speaks of
// delays ("delay", "delayed", "late").
func delayAsked(lower string) (time.Duration, bool, bool) {
	if !reDelayWord.MatchString(lower) {
		return 0, false, false
	}
	var ix []int
	for _, c := range reAskDelayOver.FindAllStringSubmatchIndex(lower, -1) {
		if !reConnectionBefore.MatchString(lower[:c[0]]) && !reConnectionAfter.MatchString(lower[c[1]:]) {
			ix = c
			break
		}
	}
	// "no more than 30 minutes late" bounds from above: not a list of
	// the late ones.
	if ix == nil || ix[2] >= 0 || conditional(lower[:ix[0]]) {
		return 0, false, false
	}
	m := append([]string{lower[ix[0]:ix[1]]}, submatches(lower, ix)...) // m[g] is group g
	unit := time.Minute
	if strings.HasPrefix(m[5], "h") {
		unit = time.Hour
	}
	d := countOf(m[3], unit)
	if d <= 0 {
		return 0, false, false
	}
	if m[4] != "" || m[6] != "" {
		d += unit / 2
	}
	return d, m[2] == "at least", d > 0
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// departureWords ask about the site's departures.
var departureWords = []string{"departure", "departures", "departing", "depart", "departs", "outbound"}

// arrivalWords make a time window about arrivals.
var arrivalWords = []string{"arrival", "arrivals", "arriving", "arrive", "arrives", "land", "lands", "landing", "inbound"}

// windowWords ask for the flights in a time window.
var windowWords = []string{"leave", "leaves", "depart", "departs", "arrive", "arrives", "land", "lands", "landing", "inbound", "outbound"}

// A seat the question names: a row and a letter with a word of sitting
// ("seat 14C", "who sits in 2A", "who is sitting in 11e"). One followed
// by a flight number is a carrier's code ("3K 512"), not a seat.
var (
	reAskSeatNo   = regexp.MustCompile(`(?i)\b([1-9][0-9]{0,2}[a-k])\b`)
	reFlightAfter = regexp.MustCompile(`^\s*[0-9]{1,4}(?:$|[^0-9-])`) // a number, not a date
)

// sitWords make a row and a letter a seat.
var sitWords = []string{"seat", "seats", "seated", "sits", "sitting", "sit", "sat"}

// seatsIn returns the seats text names, in order and once each, when
// sitting (a word of sitting is in the question).
func seatsIn(text string, sitting bool) []string {
	if !sitting {
		return nil
	}
	var seats []string
	for _, m := range reAskSeatNo.FindAllStringSubmatchIndex(text, -1) {
		if reFlightAfter.MatchString(text[m[1]:]) {
			continue
		}
		if s := strings.ToUpper(text[m[2]:m[3]]); !slices.Contains(seats, s) {
			seats = append(seats, s)
		}
	}
	return seats
}

// seatWords ask about a flight's free seats.
var seatWords = []string{"seat", "seats", "full", "space", "availability", "available", "capacity", "oversold", "overbooked"}

// AcrossDay reports whether the question asks for some passengers on
// every flight of a day, not one flight nor flights by status: "how many
// wheelchair passengers today", "gold passengers today", "who misconnects
// today", "connecting passengers this morning".
func (q Question) AcrossDay() bool {
	return q.Day && q.People && q.Status == "" && !q.Disrupted && !q.ListsAirport && q.selects() && !q.Procedure &&
		len(q.Flights) == 0 && len(q.Names) == 0 && !slices.ContainsFunc(q.Locators, func(l LocatorMention) bool { return l.Sure })
}

// selects reports whether q asks for some of the passengers only: with a
// service request or a tier, misconnecting or at risk, or connecting when
// it speaks of people ("connecting passengers"; "onward flights" are
// flights).
func (q Question) selects() bool {
	return len(q.SSR) > 0 || len(q.Tiers) > 0 || q.Connects && q.PeopleNamed || q.Misses || q.Tight
}

// nameGuesses are up to maxNameGuesses pairs of consecutive words of
// letters that are not question words (who, is, booked, flight...).
func nameGuesses(words []string) []string {
	var out []string
	for i := 0; i+1 < len(words) && len(out) < maxNameGuesses; i++ {
		a, b := words[i], words[i+1]
		if notNameWord(a) || notNameWord(b) {
			continue
		}
		out = append(out, a+" "+b)
	}
	return out
}

const maxNameGuesses = 6

var reAskSurname = regexp.MustCompile(`\b\p{Lu}[\p{Ll}'’-]+\b`)

// surnameIn is the first capitalised word of text that may be a surname:
// not its first word (a sentence starts with a capital), not in a place
// the question names, not a title, a day, a month or a question word.
func surnameIn(text string, places [][]int) string {
	first := reAskWord.FindStringIndex(text)
	for _, m := range reAskSurname.FindAllStringIndex(text, -1) {
		if first != nil && m[0] == first[0] || slices.ContainsFunc(places, func(p []int) bool { return m[0] >= p[0] && m[1] <= p[1] }) {
			continue
		}
		w := strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(text[m[0]:m[1]], "'s"), "’s"))
		if notNameWord(w) || notSurnames[w] {
			continue
		}
		return strings.TrimSuffix(strings.TrimSuffix(text[m[0]:m[1]], "'s"), "’s")
	}
	return ""
}

// titles come before a name ("Mr Silva", "Passenger Ada Ruiz").
var titles = wordSet(`mr mrs ms miss mx dr sir madam passenger passengers pax guest customer`)

// notSurnames are capitalised words a question about people has that
// name no one.
var notSurnames = wordSet(`mr mrs ms miss mx dr sir madam passenger passengers pax guest customer
	monday tuesday wednesday thursday friday saturday sunday january february march april may june july august
	september october november december gate terminal lounge desk counter hall`)

func wordSet(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

func notNameWord(w string) bool {
	if len([]rune(w)) < 2 || strings.ContainsAny(w, "0123456789") {
		return true
	}
	return nonNameWords[w] || slices.Contains(peopleWords, w) || slices.Contains(timingWords, w) ||
		slices.Contains(proposalWords, w) || slices.Contains(connectWords, w) || slices.Contains(bookingWords, w) ||
		statusWords[w] != "" || ssrWords[w] != nil || tierWords[w] != ""
}

// nonNameWords are the other words a question about a person is made of.
var nonNameWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the is are was were be been am do does did has have had can could will would should
		what which whom whose where why how when this that these those there here it its of in on at to for from by with
		and or not no any all some my our your their his her him them me we you they she he i please show tell find
		look up give list get see check need needs flying flies fly going travel travelling traveling seat seats
		today tomorrow yesterday tonight now right currently morning afternoon evening day date booked`) {
		m[w] = true
	}
	return m
}()

// listWords ask for flights as a list.
var listWords = []string{"flights", "departures", "arrivals", "departing", "arriving", "leaving"}

// showWords ask for a list ("list all flights today").
var showWords = []string{"list", "show", "all", "every"}

// policyWords make a question about a procedure, not a list of flights.
var policyWords = []string{"procedure", "procedures", "policy", "policies", "rule", "rules", "should", "must", "entitled", "compensation", "allowed", "may", "owe"}

// reAskPick finds a question for one flight of a list: the next, the
// first or the last (of a day) flight, departure or arrival.
var reAskPick = regexp.MustCompile(`\b(next|first|earliest|last|latest)\s+(?:[a-z]+\s+){0,2}?(?:flight|flights|departure|departures|arrival|arrivals|plane|service)\b`)

// countPattern is a count of hours or minutes as staff write it:
// digits, a word up to twelve, "half an", "a couple of", "a few".
const countPattern = `[0-9]{1,3}(?:\.[0-9])?|half an?|half|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:a\s+)?couple(?:\s+of)?|(?:a\s+)?few`

var countNumbers = map[string]float64{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
	"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple": 2, "few": 3, "half": 0.5}

// countOf is a count matched by countPattern times unit, to the minute:
// one unit when there is none ("the next hour"), 0 when it is no count.
func countOf(s string, unit time.Duration) time.Duration {
	f := strings.Fields(s)
	v := 1.0
	switch {
	case len(f) == 0:
	case f[0] == "half":
		v = 0.5
	case f[0] == "a" && len(f) > 1:
		v = countNumbers[f[1]]
	default:
		var ok bool
		if v, ok = countNumbers[f[0]]; !ok {
			n, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				return 0
			}
			v = n
		}
	}
	return time.Duration(v * float64(unit)).Round(time.Minute)
}

// changeWords ask what changed.
var changeWords = []string{"changed", "changes", "change", "updated", "updates", "update", "happened"}

var (
	reAskLast  = regexp.MustCompile(`\b(?:last|past)\s+(?:(` + countPattern + `)\s+)?(hours?|hrs?|minutes?|mins?|min)\b`)
	reAskSince = regexp.MustCompile(`\bsince\s+([0-9]{1,2})(?:[:.]([0-9]{2}))?\b`)
)

// sinceIn reads from a question about changes the time they count from:
// "in the last hour", "past 30 minutes", "since 10:00" (today, in now's
// zone; a time still to come is yesterday's), "recently" (the last hour).
func sinceIn(lower string, now time.Time) *time.Time {
	var t time.Time
	switch m := reAskLast.FindStringSubmatch(lower); {
	case m != nil:
		unit := time.Minute
		if strings.HasPrefix(m[2], "h") {
			unit = time.Hour
		}
		d := countOf(m[1], unit)
		if d <= 0 {
			return nil
		}
		t = now.Add(-d)
	case reAskSince.MatchString(lower):
		m := reAskSince.FindStringSubmatch(lower)
		h, mm := atoi(m[1]), 0
		if m[2] != "" {
			mm = atoi(m[2])
		}
		if h > 23 || mm > 59 {
			return nil
		}
		t = time.Date(now.Year(), now.Month(), now.Day(), h, mm, 0, 0, now.Location())
		if t.After(now) {
			t = t.AddDate(0, 0, -1)
		}
	case strings.Contains(lower, "recent") || strings.Contains(lower, "what's new") || strings.Contains(lower, "whats new") || strings.Contains(lower, "what is new"):
		t = now.Add(-time.Hour)
	default:
		return nil
	}
	return &t
}

// reAskAt finds a flight named by its time of day: "the 10:30 to
// Paris", "the 7.05 flight from Dubai", "the 18:45 departure".
var reAskAt = regexp.MustCompile(`\bthe\s+([0-9]{1,2})[:.]([0-9]{2})(?:\s+(?:flight|departure|arrival|service|plane))?\s+(?:to|from|for|into|out\s+of)\b|\b([0-9]{1,2})[:.]([0-9]{2})\s+(?:flight|departure|arrival|service)\b`)

var pickWords = map[string]string{"next": "next", "first": "first", "earliest": "first", "last": "last", "latest": "last"}

// Structured reports whether the question names something the state
// store answers: a flight, a booking, a passenger, or a count or list of
// flights by status. A status word alone is not enough: "who is rebooked
// first after a cancellation" asks for the procedure; the list of
// cancelled flights is asked with a count, a day or the word flights.
func (q Question) Structured() bool {
	lower := strings.ToLower(q.Text)
	words := reAskWord.FindAllString(lower, -1)
	window := q.Window != nil && !conditional(lower) && slices.ContainsFunc(words, func(w string) bool { return slices.Contains(listWords, w) || slices.Contains(windowWords, w) })
	policy := slices.ContainsFunc(words, func(w string) bool { return slices.Contains(policyWords, w) })
	return len(q.Flights) > 0 || slices.ContainsFunc(q.Locators, func(l LocatorMention) bool { return l.Sure }) || q.ListsAirport || q.AcrossDay() || window ||
		q.Pick != "" || q.DayFlights || q.Gate != "" || q.Since != nil || q.UnknownPlace != "" || q.Full || q.OpenProposals ||
		q.RankDelay || q.AverageDelay || q.BusyGates || q.NoGate ||
		q.MinDelay > 0 && !policy ||
		q.Disrupted && !policy && !conditional(lower) ||
		q.Status != "" && !policy && !conditional(lower) &&
			(q.Count || q.Day || strings.Contains(lower, "flights") || q.Arrivals || q.Departures || reAskWhatStatus.MatchString(lower) || reAskWhatLate.MatchString(lower) ||
				// "is anything going to Scandinavia delayed"
				(q.Place != nil || len(q.Airports) == 1) && reAskAnything.MatchString(lower))
}

// dayPhrases put a question in the site's day as "today" does.
var dayPhrases = []string{"this morning", "this afternoon", "this evening", "right now", "so far", "at the moment", "currently"}

// reAskWhatStatus is a status asked for as such: "what's cancelled",
// "anything delayed?", "which are diverted", "any delays". Its words are
// statusWords'.
var reAskWhatStatus = func() *regexp.Regexp {
	words := slices.Sorted(maps.Keys(statusWords))
	return regexp.MustCompile(`\b(what'?s|whats|what is|what are|which are|which ones are|anything|any)\s+(` + strings.Join(words, "|") + `)\b`)
}()

// reAskLate names the delayed flights in other words: "running late",
// "late departures", "flights are late", "which arrivals are late".
// "late" alone does not: "a passenger who checks in late" is about the
// passenger.
var reAskLate = regexp.MustCompile(`\b(running\s+late|late\s+(flights|departures|arrivals)|(flights?|departures?|arrivals?)\s+(are\s+|is\s+)?late|(what'?s|whats|what is|what are|which are|which ones are|anything|any)\s+late)\b`)

// reAskHowLate asks how late flights of no one number are: "how late is
// the Mumbai flight" (those of them late, delayed or gone late); "how
// late can a passenger check in" is not about flights.
var reAskHowLate = regexp.MustCompile(`\bhow\s+late\s+(is|are|was|were|will)\s+(\S+\s+){0,4}?(flights?|departures?|arrivals?|planes?)\b`)

// reAskLongestDelay ranks flights by delay: "the longest delay", "most
// delayed", "biggest delays", "delayed the most", "latest-running".
var reAskLongestDelay = regexp.MustCompile(`\b((longest|biggest|largest|worst|greatest|highest|maximum)\s+((departure|arrival)\s+)?delays?|most\s+(delayed|late)|(delayed|late)\s+(the\s+)?most|latest[- ]running)\b`)

// reAskAverageDelay sums delays up: "the average delay", "mean arrival
// delay", "how late on average".
var reAskAverageDelay = regexp.MustCompile(`\b((average|mean|typical|median)\s+((departure|arrival)\s+)?(delays?|lateness)|(delay|delays|late|lateness)\b.*\bon average|on average\b.*\b(delay|delays|delayed|late))\b`)

// reAskBusyGates ranks gates by use: "which gates are busiest", "the
// busiest gate", "which gate has the most flights".
var reAskBusyGates = regexp.MustCompile(`\b(busiest|most used|most[- ]used|most flights|most departures|most arrivals|most traffic)\b.*\bgates?\b|\bgates?\b.*\b(busiest|busy|most used|most flights|most departures|most arrivals|most traffic)\b`)

// reAskNoGate asks for the flights still without a gate: "which
// flights have no gate yet", "departures without an assigned gate",
// "flights still waiting for a gate", "unassigned gates", "the gate is
// not assigned yet".
var reAskNoGate = regexp.MustCompile(`\b(no|without|missing|lacking|needs?|needing|waiting\s+for|yet\s+to\s+(get|be\s+given|be\s+assigned))(\s+an?)?(\s+(assigned|allocated))?\s+gates?\b|` +
	`\b(unassigned|unallocated)\s+gates?\b|` +
	`\bgates?\s+((is|are|still|yet)\s+)*(unassigned|unallocated|not\s+(yet\s+)?(been\s+)?(assigned|allocated|set|given)|missing|unknown|tbd|tba|to\s+be\s+(assigned|allocated|confirmed|announced))\b`)

// reAskWentLate asks for the flights that went late: "left late",
// "departures were late", "landed 20 minutes late" is a bound instead.
var reAskWentLate = regexp.MustCompile(`\b(left|departed|took off|went|were|was|landed|arrived|came in)\s+(?:[a-z]+\s+)?late\b`)

// reAskAnything asks whether any flight is so: "is anything going to
// Oslo delayed", "anything to JFK cancelled?".
var reAskAnything = regexp.MustCompile(`\b(anything|any flights?|any departures?|any arrivals?)\b`)

// reAskWhatLate asks for them as such, as reAskWhatStatus does: "what's
// running late", "anything late?". "when a flight is running late" asks
// for the procedure.
var reAskWhatLate = regexp.MustCompile(`\b(what'?s|whats|what is|what are|which are|which ones are|anything|any)\s+(running\s+)?late\b`)
