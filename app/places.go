package app

import (
	_ "embed"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// places.tsv holds the airport codes of each place name (a city, a
// metropolitan area, an airport's own short name such as "Heathrow"),
// lower case with accents folded. scripts/gen-places.sh writes it.
//
//go:embed places.tsv
var placesTSV string

var places = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, line := range strings.Split(placesTSV, "\n") {
		name, codes, ok := strings.Cut(line, "\t")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		codes, _, _ = strings.Cut(codes, "\t")
		out[name] = strings.Fields(codes)
	}
	return out
})

// countryNames are the names of places.tsv that name only a country
// ("spain", "the us"), not a city.
var countryNames = sync.OnceValue(func() map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(placesTSV, "\n") {
		if name, rest, ok := strings.Cut(line, "\t"); ok && strings.HasSuffix(rest, "\tcountry") {
			out[name] = true
		}
	}
	return out
})

// PlaceAirports returns the airport codes of a place name as PlaceName
// gives it ("paris": CDG, ORY and the rest).
func PlaceAirports(name string) []string { return placeAirports(name) }

// placeAirports returns the airport codes of a place name ("Paris":
// CDG, ORY and the rest), nil for a name it does not know. A name that
// is also a common word ("Split", "Nice") counts only with a capital.
func placeAirports(name string) []string {
	key := foldPlace(name)
	if codes, ok := places()[key]; ok {
		return codes
	}
	if r := []rune(name); len(r) > 0 && unicode.IsUpper(r[0]) {
		return places()["~"+key]
	}
	return nil
}

// PlaceMention is a place a question names after a preposition, with
// the airports that serve it and which way the question looks.
type PlaceMention struct {
	Name     string   `json:"name"`              // as the question gives it
	Airports []string `json:"airports"`          // every airport of that name
	Country  bool     `json:"country,omitempty"` // the name is a country's
	To       bool     `json:"to,omitempty"`
	From     bool     `json:"from,omitempty"`
	// OfFlights: named just before the flights ("the London flight"),
	// so the question is about that place's flights, either way.
	OfFlights bool `json:"of_flights,omitempty"`
}

// rePlaceCue finds a preposition that may come before a place ("to",
// "from", "into", "out of", "at", "in", "via"), and the up to three
// words after it. "for" is left out: it comes before people's names.
var rePlaceCue = regexp.MustCompile(`(?i)\b(to|from|into|out of|at|in|via)\s+([\p{L}'][\p{L}'.-]*(?:\s+[\p{L}'][\p{L}'.-]*){0,2})`)

// placesIn returns the places text names after prepositions, in order,
// the longest name first at each ("New York" before "New"), with their
// spans. A place within a longer span of names (the people a question
// names: "Charlotte" of "to Charlotte Weber") is not one; a place that
// is the whole of such a span ("to New York") is.
func placesIn(text string, names [][]int) ([]*PlaceMention, [][]int) {
	var out []*PlaceMention
	var spans [][]int
	// Each search starts after the last place found or the last cue
	// that led to none, so "from Madrid to Barcelona" finds both.
	for pos := 0; pos < len(text); {
		m := rePlaceCue.FindStringSubmatchIndex(text[pos:])
		if m == nil {
			break
		}
		for i := range m {
			m[i] += pos
		}
		pos = m[3]
		cue := strings.ToLower(text[m[2]:m[3]])
		p, _, end := placeAt(text, m[4], m[5], names, false)
		if p == nil {
			continue
		}
		p.To, p.From = cue == "to" || cue == "into", cue == "from" || strings.HasPrefix(cue, "out")
		out = append(out, p)
		spans = append(spans, []int{m[4], end})
		pos = end
	}
	// "the London flight", "any Paris departures": a place just before
	// the flights it qualifies; departures go to it, arrivals come from
	// it, and flights either way.
	for _, m := range rePlaceBeforeFlights.FindAllStringSubmatchIndex(text, -1) {
		if slices.ContainsFunc(spans, func(s []int) bool { return m[2] < s[1] && s[0] < m[3] }) {
			continue
		}
		p, start, end := placeAt(text, m[2], m[3], names, true)
		if p == nil {
			continue
		}
		kind := strings.ToLower(text[m[4]:m[5]])
		p.To, p.From, p.OfFlights = strings.HasPrefix(kind, "departure"), strings.HasPrefix(kind, "arrival"), true
		at, _ := slices.BinarySearchFunc(spans, start, func(s []int, start int) int { return s[0] - start })
		out = slices.Insert(out, at, p)
		spans = slices.Insert(spans, at, []int{start, end})
	}
	return out, spans
}

// rePlaceBeforeFlights finds up to three words between a determiner and
// "flight(s)", "departure(s)" or "arrival(s)": "the London flight".
var rePlaceBeforeFlights = regexp.MustCompile(`(?i)\b(?:the|our|any|this|that|today's|tonight's|tomorrow's|all)\s+([\p{L}'][\p{L}'.-]*(?:\s+[\p{L}'][\p{L}'.-]*){0,2}?)\s+(flights?|departures?|arrivals?)\b`)

// placeAt is the place named by the words of text[from:to], with its
// span: the longest run of them from the first that names one ("New
// York" before "New"), or, with last set, the longest run that ends
// with the last word ("the delayed London flight"). A place within a
// longer span of names is not one.
func placeAt(text string, from, to int, names [][]int, last bool) (*PlaceMention, int, int) {
	words := reWordSpan.FindAllStringIndex(text[from:to], -1)
	for n := len(words); n > 0; n-- {
		start, end := from, from+words[n-1][1]
		if last {
			start, end = from+words[len(words)-n][0], from+words[len(words)-1][1]
		}
		if slices.ContainsFunc(names, func(s []int) bool { return start < s[1] && s[0] < end && (s[0] < start || end < s[1]) }) {
			continue
		}
		name := text[start:end]
		codes := placeAirports(name)
		if codes == nil {
			continue
		}
		key := foldPlace(name)
		return &PlaceMention{Name: strings.TrimRight(name, ".'"), Airports: codes, Country: countryNames()[key] || countryNames()["~"+key]}, start, end
	}
	return nil, 0, 0
}

var reWordSpan = regexp.MustCompile(`\S+`)

// foldPlace lower-cases a name, drops its accents and hyphens and
// trailing punctuation, as places.tsv holds names.
func foldPlace(s string) string {
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	out = strings.ToLower(strings.ReplaceAll(out, "-", " "))
	out = strings.TrimRight(out, ".?!,;:'")
	return strings.Join(strings.Fields(out), " ")
}

// PlaceName returns a place name of airport code as places.tsv holds it
// (lower case): of the city names, the one that names the most airports,
// the city before the airport's own name, the shorter on a tie; "" when
// none does.
func PlaceName(code string) string {
	best, n := "", 0
	for name, codes := range places() {
		if strings.HasPrefix(name, "~") || countryNames()[name] || !slices.Contains(codes, code) {
			continue
		}
		if len(codes) > n || len(codes) == n && (len(name) < len(best) || len(name) == len(best) && name < best) {
			best, n = name, len(codes)
		}
	}
	return best
}
