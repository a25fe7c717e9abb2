package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Policy chunking: sections split at headings; a section longer than
// ChunkMaxChars is cut into windows that overlap by ChunkOverlapChars so a
// sentence on a boundary is whole in at least one chunk. all-MiniLM reads
// about 256 word pieces, a little over 1000 characters of English.
const (
	ChunkMaxChars     = 800
	ChunkOverlapChars = 120
)

// TextHash returns the hex sha256 of a document text; with the model digest
// it keys the embedding cache.
func TextHash(text string) string {
	h := sha256.Sum256([]byte(text))
	return hex.EncodeToString(h[:])
}

// DeriveDocs turns one state change into the complete set of documents of
// its entity version. erased names passengers already erased: their names
// and needs are left out of booking documents. A cancelled booking, an
// erased passenger and a deleted document yield no documents, which removes
// whatever the index held for the entity.
func DeriveDocs(ch StateChange, erased map[string]bool) (EntityDocs, error) {
	ed := EntityDocs{Key: ch.Key, Version: ch.Version, LogTime: ch.LogTime}
	switch {
	case ch.Flight != nil:
		ed.Kind = KindFlight
		ed.Docs = []Doc{FlightDoc(ch.Key, ch.Flight)}
	case ch.Booking != nil:
		ed.Kind = KindBooking
		if ch.Type == TypeBookingCancelled || ch.Booking.Status == BookingCancelled {
			break
		}
		b := ScrubBooking(*ch.Booking, erased)
		src, err := json.Marshal(b)
		if err != nil {
			return ed, err
		}
		ed.Source = src
		ed.Docs = []Doc{BookingDoc(ch.Key, &b)}
		for _, p := range b.Passengers {
			if p.ID != "" && !erased[p.ID] && !slices.Contains(ed.People, p.ID) {
				ed.People = append(ed.People, p.ID)
			}
		}
	case ch.Passenger != nil:
		ed.Kind = KindPassenger
		if ch.Type == TypePassengerErased {
			ed.Erasure = true
			break
		}
		if erased[ch.Key] {
			// An upsert older than the erasure; the index refuses it by
			// version anyway, and no text of the person is even built.
			break
		}
		ed.Docs = []Doc{PassengerDoc(ch.Key, ch.Passenger)}
		ed.People = []string{ch.Key}
	case ch.Document != nil:
		ed.Kind = KindPolicy
		if ch.Type == TypeDocumentDeleted {
			break
		}
		ed.Docs = PolicyDocs(ch.Key, ch.Document, ChunkMaxChars, ChunkOverlapChars)
	default:
		return ed, Errorf(EINVALID, "%s %s carries no entity", ch.Type, ch.Key)
	}
	for i := range ed.Docs {
		d := &ed.Docs[i]
		d.EntityKey, d.Kind, d.Version, d.LogTime = ch.Key, ed.Kind, ch.Version, ch.LogTime
		d.TextHash = TextHash(d.Text)
	}
	return ed, nil
}

// ErasedName stands for an erased person on booking documents.
const ErasedName = "(erased)"

// ScrubBooking returns b with the names, tiers and needs of erased
// passengers replaced; a booking of nobody but the erased loses its seats
// too, which were theirs alone (the segments and cabins stay: they count
// for the flight's load). b itself is not modified.
func ScrubBooking(b Booking, erased map[string]bool) Booking {
	ps := make([]BookingPassenger, len(b.Passengers))
	copy(ps, b.Passengers)
	all := len(ps) > 0
	for i := range ps {
		if erased[ps[i].ID] {
			ps[i] = BookingPassenger{ID: ps[i].ID, Name: ErasedName}
		} else {
			all = false
		}
	}
	b.Passengers = ps
	if all {
		sg := make([]Segment, len(b.Segments))
		copy(sg, b.Segments)
		for i := range sg {
			sg[i].Seat = ""
		}
		b.Segments = sg
	}
	return b
}

// FlightDoc describes a flight: route, times, status, gate and capacity.
func FlightDoc(key string, f *Flight) Doc {
	var b strings.Builder
	number := f.Carrier + f.Number
	if number == "" {
		number, _ = splitFlightKey(key)
	}
	fmt.Fprintf(&b, "Flight %s from %s to %s on %s.", number, airportName(f.Origin), airportName(f.Destination), f.Date)
	fmt.Fprintf(&b, " Status: %s", f.Status)
	switch {
	case f.Status == FlightDiverted && f.DivertedTo != "":
		fmt.Fprintf(&b, ", diverted to %s", airportName(f.DivertedTo))
	case f.Status != FlightCancelled && f.DelayMinutes() > 0:
		fmt.Fprintf(&b, ", departure delayed by %d minutes", f.DelayMinutes())
	}
	b.WriteString(".")
	fmt.Fprintf(&b, " Scheduled departure %s, arrival %s.", clock(f.ScheduledDeparture), clock(f.ScheduledArrival))
	if f.Status != FlightCancelled && (f.EstimatedDeparture != nil || f.EstimatedArrival != nil) {
		fmt.Fprintf(&b, " Estimated departure %s, arrival %s.", clock(f.Departure()), clock(f.Arrival()))
	}
	if f.Gate != "" {
		fmt.Fprintf(&b, " Gate %s.", f.Gate)
	}
	if f.Aircraft != "" {
		fmt.Fprintf(&b, " Aircraft %s.", f.Aircraft)
	}
	if len(f.Capacity) > 0 {
		cabins := make([]string, 0, len(f.Capacity))
		for c := range f.Capacity {
			cabins = append(cabins, c)
		}
		sort.Strings(cabins)
		parts := make([]string, len(cabins))
		for i, c := range cabins {
			parts[i] = fmt.Sprintf("%s %d", cabinName(c), f.Capacity[c])
		}
		fmt.Fprintf(&b, " Seats: %s.", strings.Join(parts, ", "))
	}
	var airports []string
	for _, a := range []string{f.Origin, f.Destination, f.DivertedTo} {
		if a != "" && !slices.Contains(airports, a) {
			airports = append(airports, a)
		}
	}
	return Doc{
		DocID: "flight:" + key, Airports: airports, Date: f.Date,
		Title: fmt.Sprintf("Flight %s %s-%s %s", number, f.Origin, f.Destination, f.Date),
		Text:  b.String(),
	}
}

// BookingDoc describes a booking: its passengers with tier and needs, its
// itinerary and status.
func BookingDoc(key string, bk *Booking) Doc {
	var b strings.Builder
	status := bk.Status
	if status == "" {
		status = BookingActive
	}
	fmt.Fprintf(&b, "Booking %s, record locator %s, status %s.", key, key, status)
	if len(bk.Passengers) > 0 {
		b.WriteString(" Passengers: ")
		for i, p := range bk.Passengers {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p.Name)
			var extra []string
			if p.Tier != "" && p.Tier != "none" {
				extra = append(extra, p.Tier+" frequent flyer")
			}
			for _, s := range p.SSR {
				extra = append(extra, ssrName(s))
			}
			if len(extra) > 0 {
				fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
			}
		}
		b.WriteString(".")
	}
	var date string
	if len(bk.Segments) > 0 {
		b.WriteString(" Itinerary:")
		for i, s := range bk.Segments {
			number, d := splitFlightKey(s.Flight)
			if i == 0 {
				date = d
			}
			fmt.Fprintf(&b, " %d. flight %s on %s, %s", i+1, number, d, cabinName(s.Cabin))
			if s.Seat != "" {
				fmt.Fprintf(&b, ", seat %s", s.Seat)
			}
			b.WriteString(";")
		}
		if len(bk.Segments) > 1 {
			fmt.Fprintf(&b, " connecting itinerary of %d flights.", len(bk.Segments))
		}
	}
	return Doc{DocID: "booking:" + key, Date: date, Title: "Booking " + key, Text: strings.TrimSuffix(b.String(), ";")}
}

// PassengerDoc describes a person by tier and needs only (decision 0008):
// no name, so that the index (text, vectors, the embedding cache) holds
// nothing that identifies the person beyond their id. People are found
// by name in the state store (Retriever.People).
func PassengerDoc(key string, p *Passenger) Doc {
	var b strings.Builder
	fmt.Fprintf(&b, "Passenger id %s.", key)
	if p.Tier != "" && p.Tier != "none" {
		fmt.Fprintf(&b, " Frequent flyer tier: %s.", p.Tier)
	}
	if len(p.SSR) > 0 {
		needs := make([]string, len(p.SSR))
		for i, s := range p.SSR {
			needs[i] = ssrName(s)
		}
		fmt.Fprintf(&b, " Needs: %s.", strings.Join(needs, ", "))
	}
	return Doc{DocID: "passenger:" + key, Title: "Passenger " + key, Text: b.String()}
}

// PolicyDocs chunks a policy document: one chunk per section (headings
// start sections), long sections cut into windows of at most maxChars that
// overlap by overlap characters. Each chunk starts with the document title
// and its heading path so that it reads on its own.
func PolicyDocs(key string, d *Document, maxChars, overlap int) []Doc {
	type section struct {
		path []string
		body string
	}
	var sections []section
	var path []string // heading at each level
	var body []string
	flush := func() {
		text := strings.TrimSpace(strings.Join(body, "\n"))
		body = body[:0]
		if text != "" {
			sections = append(sections, section{slices.Clone(path), text})
		}
	}
	for _, line := range strings.Split(d.Body, "\n") {
		trimmed := strings.TrimSpace(line)
		if level := headingLevel(trimmed); level > 0 {
			flush()
			title := strings.TrimSpace(trimmed[level:])
			if len(path) >= level {
				path = path[:level-1]
			}
			for len(path) < level-1 {
				path = append(path, "")
			}
			path = append(path, title)
			continue
		}
		body = append(body, line)
	}
	flush()
	var airports []string
	if d.Airport != "" {
		airports = []string{d.Airport}
	}
	var out []Doc
	for _, s := range sections {
		var heads []string
		for _, h := range s.path {
			if h != "" && !strings.EqualFold(h, d.Title) {
				heads = append(heads, h)
			}
		}
		prefix := d.Title
		if len(heads) > 0 {
			prefix += " - " + strings.Join(heads, " - ")
		}
		for _, w := range windows(s.body, maxChars, overlap) {
			out = append(out, Doc{
				DocID: fmt.Sprintf("%s#%d", key, len(out)), Airports: airports,
				Title: prefix, Text: prefix + "\n" + w,
			})
		}
	}
	if len(out) == 0 && strings.TrimSpace(d.Title) != "" {
		out = append(out, Doc{DocID: key + "#0", Airports: airports, Title: d.Title, Text: d.Title})
	}
	return out
}

func headingLevel(line string) int {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || n >= len(line) || line[n] != ' ' {
		return 0
	}
	return n
}

var sentenceEnd = regexp.MustCompile(`[.!?:;]\s+|\n+`)

// windows cuts text into pieces of at most max characters, preferring to
// end at a sentence or paragraph, else at a space; each piece after the
// first repeats about overlap characters of the one before, from a word
// start.
func windows(text string, max, overlap int) []string {
	if max <= 0 || len(text) <= max {
		return []string{text}
	}
	if overlap >= max/2 {
		overlap = max / 4
	}
	var out []string
	start := 0
	for start < len(text) {
		end := start + max
		if end >= len(text) {
			out = append(out, strings.TrimSpace(text[start:]))
			break
		}
		cut := -1
		for _, m := range sentenceEnd.FindAllStringIndex(text[start:end], -1) {
			if m[1] > max/2 {
				cut = start + m[1]
			}
		}
		if cut < 0 {
			if sp := strings.LastIndexByte(text[start:end], ' '); sp > max/2 {
				cut = start + sp + 1
			} else {
				cut = end
			}
		}
		out = append(out, strings.TrimSpace(text[start:cut]))
		next := cut - overlap
		if next <= start {
			next = cut
		} else if sp := strings.IndexByte(text[next:cut], ' '); sp >= 0 {
			next += sp + 1
		}
		start = next
	}
	return out
}

// splitFlightKey splits LH400-2026-11-25 into LH400 and 2026-11-25.
func splitFlightKey(key string) (number, date string) {
	if len(key) > 11 && key[len(key)-11] == '-' {
		if _, err := time.Parse("2006-01-02", key[len(key)-10:]); err == nil {
			return key[:len(key)-11], key[len(key)-10:]
		}
	}
	return key, ""
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.Format("2006-01-02 15:04 (UTC-07:00)")
}

func cabinName(c string) string {
	switch c {
	case "F":
		return "first class (F)"
	case "J", "C":
		return "business class (" + c + ")"
	case "W":
		return "premium economy (W)"
	case "Y":
		return "economy (Y)"
	}
	return "cabin " + c
}

var ssrNames = map[string]string{
	"WCHR": "wheelchair assistance",
	"WCHS": "wheelchair assistance on stairs",
	"WCHC": "wheelchair assistance to the seat",
	"UMNR": "unaccompanied minor",
	"BLND": "blind passenger",
	"DEAF": "deaf passenger",
	"DPNA": "intellectual or developmental disability",
	"MAAS": "meet and assist",
	"PETC": "pet in cabin",
	"MEDA": "medical case",
}

func ssrName(code string) string {
	if n, ok := ssrNames[code]; ok {
		return n + " " + code
	}
	return "special service request " + code
}

var airportNames = map[string]string{
	"FRA": "Frankfurt", "MUC": "Munich", "ZRH": "Zurich", "VIE": "Vienna", "AMS": "Amsterdam", "CDG": "Paris Charles de Gaulle",
	"LHR": "London Heathrow", "JFK": "New York JFK", "EWR": "Newark", "BOS": "Boston", "IAD": "Washington Dulles", "ORD": "Chicago O'Hare",
	"SFO": "San Francisco", "LAX": "Los Angeles", "YYZ": "Toronto", "GRU": "Sao Paulo", "SIN": "Singapore", "NRT": "Tokyo Narita",
	"HKG": "Hong Kong", "PEK": "Beijing", "DEL": "Delhi", "BOM": "Mumbai", "DXB": "Dubai", "JNB": "Johannesburg", "MEX": "Mexico City",
	"MAN": "Manchester", "DUB": "Dublin", "LIS": "Lisbon", "EDI": "Edinburgh", "BRU": "Brussels", "MAD": "Madrid", "BCN": "Barcelona",
	"FCO": "Rome Fiumicino", "MXP": "Milan Malpensa", "GVA": "Geneva", "CPH": "Copenhagen", "OSL": "Oslo", "ARN": "Stockholm Arlanda",
	"WAW": "Warsaw", "PRG": "Prague", "BUD": "Budapest", "BER": "Berlin", "HAM": "Hamburg", "DUS": "Dusseldorf", "HEL": "Helsinki",
	"ATH": "Athens", "IST": "Istanbul", "TLV": "Tel Aviv", "CAI": "Cairo", "NUE": "Nuremberg",
}

func airportName(code string) string {
	if n, ok := airportNames[code]; ok {
		return n + " (" + code + ")"
	}
	return code
}
