package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// EvalConfig shapes an evaluation run. The zero value of a field takes
// its default.
type EvalConfig struct {
	Dir        string // parent of the node's data; "" for a temporary directory
	Seed       uint64
	Hub        string // one of the simulator's hubs, default FRA
	Date       string // local date of the simulated day, default 2026-11-25
	Departures int    // default 40
	// OllamaURL is the model server; "" runs without models (no
	// embedding, no summaries).
	OllamaURL  string
	ChatModel  string // default gemma3:270m
	EmbedModel string // default all-minilm:l6-v2
	Flights    int    // flights the questions are about, default 6
	Timeout    time.Duration
	Logger     *slog.Logger
}

// EvalQuestion is one question of the set, its truth and how the node
// answered it.
type EvalQuestion struct {
	Class    string // facts, policy, not_in_data
	Topic    string // what it asks: status, gate, wchr, ...
	Text     string
	Right    bool
	Why      string   // what was wrong, when not Right
	Invented []string // cited ids the store does not hold
	Latency  time.Duration
	Summary  string // the summary status, for policy answers
}

// EvalScore is right out of asked.
type EvalScore struct{ Right, Asked int }

// Rate returns the share right, 0 when nothing was asked.
func (s EvalScore) Rate() float64 {
	if s.Asked == 0 {
		return 0
	}
	return float64(s.Right) / float64(s.Asked)
}

func (s EvalScore) String() string {
	return fmt.Sprintf("%d/%d (%.1f%%)", s.Right, s.Asked, 100*s.Rate())
}

// EvalResult holds the figures Eval prints.
type EvalResult struct {
	Questions []EvalQuestion
	Factual   EvalScore // right facts with the right citations
	Policy    EvalScore // the right document cited first
	NotInData EvalScore // nonexistent entities and unanswerable questions
	Invented  int       // cited ids the store does not hold, over all answers
	Latency   []time.Duration
	// SummaryShown of SummaryAsked: model summaries that passed the
	// validator (asked only when a chat model is configured).
	SummaryShown, SummaryAsked int

	Proposals      int       // pending proposals
	Disrupted      int       // bookings the day's disruptions break, by the store's records
	Covered        int       // disrupted bookings with a pending proposal that has an option
	Options        EvalScore // valid options of all options proposed
	Beaten         int       // chosen options that arrive later than a direct flight with seats
	Unexpected     int       // pending proposals for bookings not disrupted
	IndexSampled   bool      // the index consumer was seen (an embedding model is on)
	IndexLagSecs   float64   // the most the index was behind the log, in seconds
	IndexLagEvents uint64    // and in messages
}

// Failed returns the questions answered wrongly.
func (r EvalResult) Failed() []EvalQuestion {
	var out []EvalQuestion
	for _, q := range r.Questions {
		if !q.Right || len(q.Invented) > 0 {
			out = append(out, q)
		}
	}
	return out
}

// hubZones are the site time zones of the simulator's hubs.
var hubZones = map[string]string{"FRA": "Europe/Berlin", "MUC": "Europe/Berlin", "ZRH": "Europe/Zurich", "VIE": "Europe/Vienna",
	"AMS": "Europe/Amsterdam", "CDG": "Europe/Paris", "LHR": "Europe/London", "JFK": "America/New_York"}

// Eval generates a disruption day with cfg.Seed, plays it into a fresh
// node and asks that node, over its HTTP API as a client would, questions
// whose truth it computes from the node's state store records, not from
// the answerer; it prints rebooking coverage and validity, question
// accuracy, latency, the model's summary pass rate and the index lag to
// w. The result is returned for tests to hold to their aims.
func Eval(ctx context.Context, w io.Writer, cfg EvalConfig) (EvalResult, error) {
	var res EvalResult
	cfg, zoneName, err := cfg.withDefaults()
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "apron-eval-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	day := sim.Generate(sim.Config{Seed: cfg.Seed, Hub: cfg.Hub, Date: cfg.Date, Departures: cfg.Departures})
	m, played, err := openEvalNode(ctx, cfg, dir, zoneName, day)
	if err != nil {
		return res, err
	}
	defer func() { _ = m.Close(context.Background()) }()

	lag := &lagSampler{}
	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() { defer sampling.Done(); lag.run(sctx, m.Fresh) }()

	if err := sim.Play(ctx, m.Broker, played, sim.NewClock(day.Start, 1e9), cfg.Logger); err != nil {
		return res, fmt.Errorf("play the day: %w", err)
	}
	if err := waitSettled(ctx, m, m.Embed != nil); err != nil {
		return res, err
	}
	token := app.NewSecret("apron_")
	if _, err := m.Store.CreateToken(ctx, "eval", app.RoleAgent, app.HashSecret(token), time.Now()); err != nil {
		return res, err
	}
	truth, err := loadTruth(ctx, m, cfg.Date)
	if err != nil {
		return res, err
	}
	if err := askQuestions(ctx, m, token, truth, buildQuestions(truth, cfg), &res); err != nil {
		return res, err
	}
	stopSampling()
	sampling.Wait()
	res.IndexSampled, res.IndexLagSecs, res.IndexLagEvents = lag.seen, lag.maxSecs, lag.maxBehind
	if err := truth.scoreRebooking(ctx, m, &res); err != nil {
		return res, err
	}
	printEval(w, cfg, day, m, res)
	return res, nil
}

// withDefaults fills the zero fields of c and returns the hub's time zone.
func (c EvalConfig) withDefaults() (EvalConfig, string, error) {
	if c.Hub == "" {
		c.Hub = "FRA"
	}
	zoneName, ok := hubZones[c.Hub]
	if !ok {
		return c, "", app.Errorf(app.EINVALID, "hub: one of the simulator's hubs (FRA MUC ZRH VIE AMS CDG LHR JFK), got %q", c.Hub)
	}
	if c.Date == "" {
		c.Date = "2026-11-25" // late November: the simulator's UTC offsets
	}
	if c.Departures == 0 {
		c.Departures = 40
	}
	if c.ChatModel == "" {
		c.ChatModel = "gemma3:270m"
	}
	if c.EmbedModel == "" {
		c.EmbedModel = "all-minilm:l6-v2"
	}
	if c.Flights == 0 {
		c.Flights = 6
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, zoneName, nil
}

// openEvalNode opens a node for day whose clock stands at the middle of
// the day, and returns it with the part of day up to then.
func openEvalNode(ctx context.Context, cfg EvalConfig, dir, zoneName string, day *sim.Day) (*node.Main, *sim.Day, error) {
	ncfg := node.DefaultConfig()
	ncfg.Data = filepath.Join(dir, "eval")
	ncfg.HTTP = "127.0.0.1:0"
	ncfg.NATS.Addr = ""
	ncfg.Hub, ncfg.TimeZone = cfg.Hub, zoneName
	ncfg.Ollama.URL, ncfg.Ollama.ChatModel, ncfg.Ollama.EmbedModel = cfg.OllamaURL, cfg.ChatModel, cfg.EmbedModel
	if err := ncfg.Validate(); err != nil {
		return nil, nil, err
	}
	m := node.NewMain(ncfg, cfg.Logger)
	m.Demo = true // no first-start password on stdout
	// The day is played up to its middle and the site's clock stands
	// there: the morning's disruptions have happened, the afternoon's
	// flights are still to fly, so rebooking has somewhere to go.
	cutoff := day.Start.Add(day.End.Sub(day.Start) / 2)
	played := *day
	played.Events = nil
	for _, te := range day.Events {
		if !te.At.After(cutoff) {
			played.Events = append(played.Events, te)
		}
	}
	m.Clock = func() time.Time { return cutoff }
	if err := m.Open(ctx); err != nil {
		return nil, nil, err
	}
	return m, &played, nil
}

// askQuestions asks each question over HTTP and scores the answers into res.
func askQuestions(ctx context.Context, m *node.Main, token string, truth *evalTruth, questions []evalQ, res *EvalResult) error {
	client := &http.Client{Timeout: 2 * time.Minute}
	for _, q := range questions {
		start := time.Now()
		ans, err := askJSON(ctx, client, m.HTTP.URL(), token, q.text)
		if err != nil {
			return fmt.Errorf("ask %q: %w", q.text, err)
		}
		eq := EvalQuestion{Class: q.class, Topic: q.topic, Text: q.text, Latency: time.Since(start), Summary: ans.SummaryStatus}
		eq.Why = q.check(ans)
		eq.Right = eq.Why == ""
		eq.Invented = truth.invented(ctx, m, ans)
		res.Questions = append(res.Questions, eq)
		res.Latency = append(res.Latency, eq.Latency)
		res.Invented += len(eq.Invented)
		score := map[string]*EvalScore{"facts": &res.Factual, "policy": &res.Policy, "not_in_data": &res.NotInData}[q.class]
		score.Asked++
		if eq.Right {
			score.Right++
		}
		if ans.SummaryStatus != "" {
			res.SummaryAsked++
			if ans.SummaryStatus == "shown" {
				res.SummaryShown++
			}
		}
	}
	return nil
}

// waitSettled waits until the state has applied the whole log, the
// proposer has stopped adding proposals and, with an embedding model, the
// index holds the documents.
func waitSettled(ctx context.Context, m *node.Main, index bool) error {
	last, stableSince := -1, time.Now()
	for {
		caughtUp := true
		for _, topic := range app.StateTopics {
			ti, err := m.Broker.Topic(ctx, topic)
			if err != nil {
				return err
			}
			pos, err := m.Store.Position(ctx, app.StateConsumer, topic)
			if err != nil {
				return err
			}
			caughtUp = caughtUp && pos >= ti.LastOffset
		}
		if caughtUp && index {
			fs, err := m.Fresh.Of(ctx, app.IndexConsumer, app.TopicDocuments)
			caughtUp = err == nil && len(fs) > 0 && fs[0].Behind == 0 && fs[0].Known
		}
		ps, err := m.Store.Proposals(ctx, app.ProposalFilter{})
		if err != nil {
			return err
		}
		// The proposer plans in the background and says nothing when it
		// is idle: the count standing still for two seconds is the sign.
		if len(ps) != last {
			last, stableSince = len(ps), time.Now()
		}
		if caughtUp && time.Since(stableSince) > 2*time.Second {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the state, the proposals and the index: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lagSampler records the most the index consumer was behind the log.
type lagSampler struct {
	seen      bool
	maxSecs   float64
	maxBehind uint64
}

func (l *lagSampler) run(ctx context.Context, fresh *app.FreshnessMeter) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if fs, err := fresh.All(ctx); err == nil {
			for _, f := range fs {
				if f.Consumer == app.IndexConsumer {
					l.seen = true
					l.maxSecs = max(l.maxSecs, f.AgeSeconds)
					l.maxBehind = max(l.maxBehind, f.Behind)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func askJSON(ctx context.Context, client *http.Client, base, token, question string) (app.AskAnswer, error) {
	var ans app.AskAnswer
	body, _ := json.Marshal(app.AskRequest{Question: question})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/ask", bytes.NewReader(body))
	if err != nil {
		return ans, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return ans, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return ans, fmt.Errorf("%s: %s", resp.Status, b)
	}
	return ans, json.NewDecoder(resp.Body).Decode(&ans)
}

// evalTruth is the day as the store's records hold it, read directly.
type evalTruth struct {
	date     string
	hub      string
	flights  map[string]*app.FlightRecord // by key
	order    []string                     // flight keys, sorted
	bookings map[string]*app.BookingRecord
	byFlight map[string][]*app.BookingRecord // active bookings per flight key
	docs     map[string]bool
}

func loadTruth(ctx context.Context, m *node.Main, date string) (*evalTruth, error) {
	t := &evalTruth{date: date, hub: m.Config.Hub, flights: map[string]*app.FlightRecord{}, bookings: map[string]*app.BookingRecord{},
		byFlight: map[string][]*app.BookingRecord{}, docs: map[string]bool{}}
	fs, err := m.Store.Flights(ctx, app.FlightFilter{})
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		k := app.FlightKey(f.Carrier, f.Number, f.Date)
		t.flights[k] = f
		t.order = append(t.order, k)
		bs, err := m.Store.BookingsOnFlight(ctx, k)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			t.bookings[b.Locator] = b
			if b.Status == app.BookingActive {
				t.byFlight[k] = append(t.byFlight[k], b)
			}
		}
	}
	sort.Strings(t.order)
	docs, err := m.Store.Documents(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		t.docs[d.ID] = true
	}
	return t, nil
}

// paxWith returns the names of the passengers on flight key whose
// requests match one of prefixes, sorted.
func (t *evalTruth) paxWith(key string, prefixes ...string) []string {
	var names []string
	for _, b := range t.byFlight[key] {
		for _, p := range b.Passengers {
			if slices.ContainsFunc(p.SSR, func(s string) bool {
				return slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(s, pre) })
			}) {
				names = append(names, p.Name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func (t *evalTruth) paxCount(key string) int {
	n := 0
	for _, b := range t.byFlight[key] {
		n += len(b.Passengers)
	}
	return n
}

// invented returns the ids an answer cites that the store does not hold.
func (t *evalTruth) invented(ctx context.Context, m *node.Main, a app.AskAnswer) []string {
	type cite struct{ id, kind string }
	var cites []cite
	for _, f := range a.Facts {
		cites = append(cites, cite{f.Cite.ID, f.Cite.Kind})
	}
	for _, s := range a.Sources {
		cites = append(cites, cite{s.ID, s.Kind})
	}
	for _, p := range a.Passages {
		cites = append(cites, cite{p.DocID, app.KindPolicy})
	}
	known := map[string]bool{}
	for _, c := range cites {
		known[c.id] = true
	}
	for _, id := range a.Citations {
		if !known[id] {
			cites = append(cites, cite{id, ""}) // a citation no source stands behind
		}
	}
	var out []string
	for _, c := range cites {
		var err error
		switch c.kind {
		case app.KindFlight:
			_, err = m.Store.Flight(ctx, c.id)
		case app.KindBooking:
			_, err = m.Store.Booking(ctx, c.id)
		case app.KindPassenger:
			_, err = m.Store.Passenger(ctx, c.id)
		case "proposal":
			_, err = m.Store.Proposal(ctx, c.id)
		case app.KindPolicy:
			if !t.docs[c.id] {
				err = app.Errorf(app.ENOTFOUND, "no document")
			}
		case "count":
			d, ok := strings.CutPrefix(c.id, "flights:")
			if _, perr := time.Parse(time.DateOnly, d); !ok || perr != nil {
				err = app.Errorf(app.ENOTFOUND, "no such day")
			}
		default:
			err = app.Errorf(app.ENOTFOUND, "unknown kind")
		}
		if err != nil && !slices.Contains(out, c.id) {
			out = append(out, c.id)
		}
	}
	return out
}

type evalQ struct {
	class, topic, text string
	check              func(app.AskAnswer) string // "" when right
}

// designator writes a flight as staff type it: "LH400", "lh 400".
func designator(f *app.FlightRecord, spaced bool) string {
	if spaced {
		return strings.ToLower(f.Carrier) + " " + f.Number
	}
	return f.Carrier + f.Number
}

// buildQuestions asks about a seeded sample of the hub's departures, some
// bookings and passengers, the day's cancellations, each policy, and
// things that are not in the data, in several wordings each.
func buildQuestions(t *evalTruth, cfg EvalConfig) []evalQ {
	sample := sampleFlights(t, cfg)
	var qs []evalQ
	qs = append(qs, flightQuestions(t, sample)...)
	qs = append(qs, bookingQuestions(t, sample)...)
	qs = append(qs, cancelledQuestions(t)...)
	qs = append(qs, placeQuestions(t, sample)...)
	qs = append(qs, policyQuestions()...)
	return append(qs, notInDataQuestions()...)
}

// sampleFlights is a seeded sample of cfg.Flights of the hub's departures.
func sampleFlights(t *evalTruth, cfg EvalConfig) []string {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xe7a1))
	var deps []string
	for _, k := range t.order {
		if f := t.flights[k]; f.Origin == t.hub && f.Date == t.date {
			deps = append(deps, k)
		}
	}
	// The sample holds a flight with wheelchair passengers, one with an
	// unaccompanied minor and a cancelled one when the day has them.
	var sample []string
	pick := func(ok func(string) bool) {
		for _, k := range deps {
			if ok(k) && !slices.Contains(sample, k) {
				sample = append(sample, k)
				return
			}
		}
	}
	pick(func(k string) bool { return len(t.paxWith(k, "WCH")) > 0 })
	pick(func(k string) bool { return len(t.paxWith(k, "UMNR")) > 0 })
	pick(func(k string) bool { return t.flights[k].Status == app.FlightCancelled })
	for _, i := range rng.Perm(len(deps)) {
		if len(sample) >= cfg.Flights {
			break
		}
		if !slices.Contains(sample, deps[i]) {
			sample = append(sample, deps[i])
		}
	}
	return sample
}

// flightQuestions ask about the status, gate, special passengers and
// passenger count of each sampled flight.
func flightQuestions(t *evalTruth, sample []string) []evalQ {
	var qs []evalQ
	statusWordings := []string{"Is %s on time?", "status %s today", "when does %s leave?", "What's going on with %s?"}
	gateWordings := []string{"what gate does %s leave from", "Which gate is %s at?", "gate for %s"}
	wchrWordings := []string{"Which wheelchair passengers are on %s?", "who needs a wheelchair on %s", "WCHR pax on %s"}
	umnrWordings := []string{"Any unaccompanied minors on %s?", "UMNR list %s", "are there minors travelling alone on %s"}
	countWordings := []string{"How many passengers are on %s?", "pax count %s", "number of people booked on %s"}
	for i, k := range sample {
		f := t.flights[k]
		for j := 0; j < 2; j++ {
			w := statusWordings[(i+j)%len(statusWordings)]
			qs = append(qs, evalQ{"facts", "status", fmt.Sprintf(w, designator(f, (i+j)%2 == 1)), checkStatus(f, false)})
		}
		qs = append(qs, evalQ{"facts", "gate", fmt.Sprintf(gateWordings[i%len(gateWordings)], designator(f, i%2 == 0)), checkStatus(f, true)})
		qs = append(qs, evalQ{"facts", "wchr", fmt.Sprintf(wchrWordings[i%len(wchrWordings)], designator(f, i%3 == 2)), checkNames(k, t.paxWith(k, "WCH"))})
		qs = append(qs, evalQ{"facts", "umnr", fmt.Sprintf(umnrWordings[i%len(umnrWordings)], designator(f, i%3 == 1)), checkNames(k, t.paxWith(k, "UMNR"))})
		qs = append(qs, evalQ{"facts", "count", fmt.Sprintf(countWordings[i%len(countWordings)], designator(f, false)), checkCount(f, t.paxCount(k))})
	}
	return qs
}

// bookingQuestions ask about bookings of the sampled flights, and their
// passengers by name.
func bookingQuestions(t *evalTruth, sample []string) []evalQ {
	var qs []evalQ
	bookingWordings := []string{"Show booking %s", "what's the itinerary of %s", "pnr %s", "Where does booking %s go?"}
	nameWordings := []string{"Find passenger %s", "Where is %s booked?"}
	var locs []string
	for _, k := range sample {
		for _, b := range t.byFlight[k] {
			if !slices.Contains(locs, b.Locator) {
				locs = append(locs, b.Locator)
				break
			}
		}
	}
	for i, l := range locs {
		if i == 4 {
			break
		}
		text := l
		if bookingWordings[i%len(bookingWordings)] == "pnr %s" {
			text = strings.ToLower(l)
		}
		qs = append(qs, evalQ{"facts", "booking", fmt.Sprintf(bookingWordings[i%len(bookingWordings)], text), t.checkBooking(t.bookings[l])})
	}
	for i, l := range locs {
		if i == 2 {
			break
		}
		name := t.bookings[l].Passengers[0].Name
		qs = append(qs, evalQ{"facts", "passenger", fmt.Sprintf(nameWordings[i%len(nameWordings)], name), t.checkPassenger(name)})
	}
	return qs
}

// cancelledQuestions ask about the day's cancellations at the site.
func cancelledQuestions(t *evalTruth) []evalQ {
	var qs []evalQ
	var cancelled []string
	for _, k := range t.order {
		if f := t.flights[k]; f.Date == t.date && f.Status == app.FlightCancelled {
			cancelled = append(cancelled, k)
		}
	}
	for _, w := range []string{"How many flights are cancelled today?", "which flights were cancelled today", "cancelled flights today?"} {
		qs = append(qs, evalQ{"facts", "cancelled", w, checkCancelled(t.date, cancelled)})
	}
	return qs
}

// placeQuestions ask for the day's flights to the cities (not the
// codes) of up to two of the sampled flights' destinations.
func placeQuestions(t *evalTruth, sample []string) []evalQ {
	wordings := []string{"flights to %s today", "Which departures to %s today?"}
	var qs []evalQ
	var seen []string
	for _, k := range sample {
		name := app.PlaceName(t.flights[k].Destination)
		if name == "" || slices.Contains(seen, name) || len(seen) == 2 {
			continue
		}
		seen = append(seen, name)
		codes := app.PlaceAirports(name)
		var want []string
		for _, fk := range t.order {
			if f := t.flights[fk]; f.Date == t.date && slices.Contains(codes, f.Destination) {
				want = append(want, fk)
			}
		}
		text := name
		if len(seen) == 2 {
			text = strings.ToUpper(name[:1]) + name[1:]
		}
		qs = append(qs, evalQ{"facts", "place", fmt.Sprintf(wordings[len(seen)-1], text), checkFlightList(want)})
	}
	return qs
}

// checkFlightList wants a list of exactly these flights, each cited.
func checkFlightList(want []string) func(app.AskAnswer) string {
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerFacts || len(a.Facts) == 0 || a.NotInData {
			return "kind " + a.Kind + ", want facts"
		}
		var got []string
		for _, f := range a.Facts {
			if f.Cite.Kind == app.KindFlight && !slices.Contains(got, f.Cite.ID) {
				got = append(got, f.Cite.ID)
			}
		}
		sort.Strings(got)
		if len(want) <= 25 && !slices.Equal(got, want) {
			return fmt.Sprintf("flights %v, the store has %v", got, want)
		}
		return ""
	}
}

// policyQuestions ask policy questions, with the document that answers each.
func policyQuestions() []evalQ {
	var qs []evalQ
	policy := map[string][]string{
		"policy-care": {"When do we give out hotel vouchers?", "passenger stuck overnight after a cancellation, do we pay the hotel",
			"meal vouchers for a long delay"},
		"policy-rebooking": {"What is the minimum connection time at the hub?", "MCT schengen to non-schengen",
			"in which order do we rebook passengers after a cancellation?"},
		"policy-compensation": {"How much compensation for a long flight under EU261?", "compensation amounts by distance",
			"who approves compensation payments above 100 EUR?"},
		"policy-misconnect": {"An unaccompanied minor misconnects, what do we do?", "UMNR missed the connection, who looks after them",
			"how is baggage handled for misconnecting passengers?"},
		"policy-special-assistance": {"How much notice does the wheelchair assistance service need?",
			"when must we inform the assistance service for a WCHR passenger", "extra connection time for passengers needing assistance between gates"},
	}
	for _, d := range sim.Policies {
		for _, w := range policy[d.ID] {
			qs = append(qs, evalQ{"policy", d.ID, w, checkPolicy(d.ID)})
		}
	}
	return qs
}

// notInDataQuestions ask about things that do not exist, and questions
// nothing current answers.
func notInDataQuestions() []evalQ {
	var qs []evalQ
	for _, nq := range []struct{ text, missing string }{
		{"Is ZZ9999 on time?", "ZZ9999"}, {"what gate does zz 9999 leave from", "ZZ9999"},
		{"Show booking 9XQ7ZZ", "9XQ7ZZ"}, {"pnr 9xq7zz", "9XQ7ZZ"},
	} {
		qs = append(qs, evalQ{"not_in_data", "nonexistent", nq.text, checkNotInData(nq.missing)})
	}
	for _, u := range []string{"What will the weather be like tomorrow?", "Who won the football last night?",
		"What is the wifi password in the lounge?", "is the lounge wifi free for gold members"} {
		qs = append(qs, evalQ{"not_in_data", "unanswerable", u, checkNotInData("")})
	}
	return qs
}

func checkStatus(f *app.FlightRecord, gate bool) func(app.AskAnswer) string {
	key := app.FlightKey(f.Carrier, f.Number, f.Date)
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerFacts || len(a.Facts) == 0 {
			return "kind " + a.Kind + ", want facts"
		}
		first := a.Facts[0]
		if first.Cite.ID != key {
			return fmt.Sprintf("first fact cites %s, want %s", first.Cite.ID, key)
		}
		if !strings.Contains(first.Text, ": "+f.Status) {
			return fmt.Sprintf("status: %q, the store says %s", first.Text, f.Status)
		}
		if gate && f.Gate != "" && !strings.Contains(first.Text, "gate "+f.Gate) {
			return fmt.Sprintf("gate: %q, the store says %s", first.Text, f.Gate)
		}
		return ""
	}
}

func checkNames(key string, want []string) func(app.AskAnswer) string {
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerFacts || len(a.Facts) == 0 || a.Facts[0].Cite.ID != key {
			return "not a facts answer about " + key
		}
		var got []string
		for _, f := range a.Facts {
			if f.Cite.Kind == app.KindBooking {
				name, _, _ := strings.Cut(f.Text, " (booking ")
				got = append(got, name)
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			return fmt.Sprintf("passengers %v, the store has %v", got, want)
		}
		return ""
	}
}

var reCountFact = regexp.MustCompile(`^([0-9]+) passengers? on `)

func checkCount(f *app.FlightRecord, want int) func(app.AskAnswer) string {
	key := app.FlightKey(f.Carrier, f.Number, f.Date)
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerFacts || len(a.Facts) == 0 || a.Facts[0].Cite.ID != key {
			return "not a facts answer about " + key
		}
		for _, fact := range a.Facts {
			if m := reCountFact.FindStringSubmatch(fact.Text); m != nil && fact.Cite.ID == key {
				if n, _ := strconv.Atoi(m[1]); n != want {
					return fmt.Sprintf("count %d, the store has %d", n, want)
				}
				return ""
			}
		}
		return "no passenger count in the answer"
	}
}

func (t *evalTruth) checkBooking(b *app.BookingRecord) func(app.AskAnswer) string {
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerFacts || len(a.Facts) == 0 || a.Facts[0].Cite.ID != b.Locator {
			return "not a facts answer about booking " + b.Locator
		}
		for _, p := range b.Passengers {
			if !strings.Contains(a.Facts[0].Text, p.Name) {
				return "passenger " + p.Name + " missing"
			}
		}
		var want []string
		for _, s := range b.Segments {
			if _, ok := t.flights[s.Flight]; ok {
				want = append(want, s.Flight)
			}
		}
		var got []string
		for _, f := range a.Facts {
			if f.Cite.Kind == app.KindFlight {
				got = append(got, f.Cite.ID)
			}
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("itinerary %v, the store has %v", got, want)
		}
		return ""
	}
}

func (t *evalTruth) checkPassenger(name string) func(app.AskAnswer) string {
	var want []string
	for _, b := range t.bookings {
		for _, p := range b.Passengers {
			if p.Name == name && !slices.Contains(want, p.ID) {
				want = append(want, p.ID)
			}
		}
	}
	sort.Strings(want)
	return func(a app.AskAnswer) string {
		var got []string
		for _, f := range a.Facts {
			if f.Cite.Kind == app.KindPassenger {
				got = append(got, f.Cite.ID)
			}
		}
		sort.Strings(got)
		if a.Kind != app.AnswerFacts || !slices.Equal(got, want) {
			return fmt.Sprintf("kind %s, passengers %v, the store has %v", a.Kind, got, want)
		}
		return ""
	}
}

var reCancelledFact = regexp.MustCompile(`^([0-9]+) cancelled flights? on `)

func checkCancelled(date string, want []string) func(app.AskAnswer) string {
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerFacts || len(a.Facts) == 0 {
			return "kind " + a.Kind + ", want facts"
		}
		m := reCancelledFact.FindStringSubmatch(a.Facts[0].Text)
		if m == nil || a.Facts[0].Cite.ID != "flights:"+date {
			return fmt.Sprintf("first fact %q (%s), want the count of %s", a.Facts[0].Text, a.Facts[0].Cite.ID, date)
		}
		if n, _ := strconv.Atoi(m[1]); n != len(want) {
			return fmt.Sprintf("count %d, the store has %d", n, len(want))
		}
		var got []string
		for _, f := range a.Facts[1:] {
			if f.Cite.Kind == app.KindFlight {
				got = append(got, f.Cite.ID)
			}
		}
		sort.Strings(got)
		if len(want) <= 25 && !slices.Equal(got, want) {
			return fmt.Sprintf("flights %v, the store has %v", got, want)
		}
		return ""
	}
}

func checkPolicy(doc string) func(app.AskAnswer) string {
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerPolicy || len(a.Passages) == 0 || len(a.Citations) == 0 {
			return "kind " + a.Kind + ", want policy"
		}
		if a.Passages[0].DocID != doc || a.Citations[0] != doc {
			return fmt.Sprintf("first passage %s › %s, want %s", a.Passages[0].DocID, a.Passages[0].Heading, doc)
		}
		return ""
	}
}

func checkNotInData(missing string) func(app.AskAnswer) string {
	return func(a app.AskAnswer) string {
		if a.Kind != app.AnswerNotInData || !a.NotInData || !strings.HasPrefix(a.Answer, "Not in the data") {
			first := ""
			if len(a.Citations) > 0 {
				first = a.Citations[0]
			}
			return fmt.Sprintf("kind %s (first citation %q), want not_in_data", a.Kind, first)
		}
		if missing != "" && !slices.ContainsFunc(a.Missing, func(s string) bool { return strings.Contains(s, missing) }) {
			return fmt.Sprintf("missing %v does not name %s", a.Missing, missing)
		}
		return ""
	}
}

// scoreRebooking holds the pending proposals to the bookings the store's
// records say are disrupted: a cancelled or diverted flight, or a delay
// that leaves less than the minimum connection time (the policy's figures,
// app.DefaultRebookRules) before the next flight.
func (t *evalTruth) scoreRebooking(ctx context.Context, m *node.Main, res *EvalResult) error {
	rules := app.DefaultRebookRules()
	disrupted := map[string]bool{}
	for l, b := range t.bookings {
		if b.Status != app.BookingActive {
			continue
		}
		wchr := slices.ContainsFunc(b.Passengers, func(p app.BookingPassenger) bool {
			return slices.ContainsFunc(p.SSR, func(s string) bool { return strings.HasPrefix(s, "WCH") })
		})
		for i, s := range b.Segments {
			f := t.flights[s.Flight]
			if f == nil {
				continue
			}
			if f.Status == app.FlightCancelled || f.Status == app.FlightDiverted && f.DivertedTo != "" {
				disrupted[l] = true
				break
			}
			if i+1 < len(b.Segments) {
				next := t.flights[b.Segments[i+1].Flight]
				if next != nil && next.Status != app.FlightCancelled && f.Arrival().Add(rules.MCT(next.Origin, wchr)).After(next.Departure()) {
					disrupted[l] = true
					break
				}
			}
		}
	}
	res.Disrupted = len(disrupted)
	ps, err := m.Store.Proposals(ctx, app.ProposalFilter{Status: app.ProposalPending})
	if err != nil {
		return err
	}
	res.Proposals = len(ps)
	covered := map[string]bool{}
	for _, p := range ps {
		if !disrupted[p.Locator] {
			res.Unexpected++
		}
		if len(p.Options) > 0 && disrupted[p.Locator] {
			covered[p.Locator] = true
		}
		for _, o := range p.Options {
			res.Options.Asked++
			if t.validOption(p.Need, o) {
				res.Options.Right++
			}
		}
		if o := p.ChosenOption(); o != nil {
			beaten, err := t.beatenByDirect(ctx, m, p.Need, o)
			if err != nil {
				return err
			}
			if beaten {
				res.Beaten++
			}
		}
	}
	res.Covered = len(covered)
	return nil
}

// validOption: every flight exists, none is cancelled, and they chain
// from the need's origin to its destination.
func (t *evalTruth) validOption(n app.Need, o app.Option) bool {
	at := n.Origin
	for _, k := range o.Flights {
		f := t.flights[k]
		if f == nil || f.Status == app.FlightCancelled || f.Origin != at {
			return false
		}
		at = f.Destination
	}
	return len(o.Flights) > 0 && at == n.Destination
}

// beatenByDirect reports whether a direct flight of the day, not
// cancelled, leaving in the need's window with seats in its cabin,
// arrives before the chosen option.
func (t *evalTruth) beatenByDirect(ctx context.Context, m *node.Main, n app.Need, o *app.Option) (bool, error) {
	for _, k := range t.order {
		f := t.flights[k]
		if f.Origin != n.Origin || f.Destination != n.Destination || f.Status == app.FlightCancelled || slices.Contains(n.Replace, k) {
			continue
		}
		if f.Departure().Before(n.Earliest) || f.Departure().After(n.Latest) || !f.Arrival().Before(o.Arrive) {
			continue
		}
		left, err := m.Store.SeatsLeft(ctx, k, n.Cabin)
		if err != nil {
			return false, err
		}
		if left >= n.Pax {
			return true, nil
		}
	}
	return false, nil
}

func printEval(w io.Writer, cfg EvalConfig, day *sim.Day, m *node.Main, res EvalResult) {
	models := "no models"
	if cfg.OllamaURL != "" {
		models = cfg.ChatModel + " + " + cfg.EmbedModel + " at " + cfg.OllamaURL
	}
	counts, _ := m.Store.Counts(context.Background())
	fmt.Fprintf(w, "apron eval: seed %d, %s on %s, %d departures (%d flights, %d bookings, %d events), %s\n\n",
		cfg.Seed, cfg.Hub, cfg.Date, cfg.Departures, counts["flights"], counts["bookings"], len(day.Events), models)
	fmt.Fprintf(w, "rebooking\n")
	cov := EvalScore{res.Covered, res.Disrupted}
	fmt.Fprintf(w, "  %-36s %d\n", "pending proposals", res.Proposals)
	fmt.Fprintf(w, "  %-36s %s\n", "disrupted bookings with an option", cov)
	fmt.Fprintf(w, "  %-36s %s\n", "valid options", res.Options)
	fmt.Fprintf(w, "  %-36s %d\n", "chosen beaten by a direct flight", res.Beaten)
	fmt.Fprintf(w, "  %-36s %d\n", "proposals for undisrupted bookings", res.Unexpected)
	fmt.Fprintf(w, "questions (%d, over HTTP)\n", len(res.Questions))
	fmt.Fprintf(w, "  %-36s %s\n", "facts right, with their citations", res.Factual)
	fmt.Fprintf(w, "  %-36s %s\n", "policy: right document first", res.Policy)
	fmt.Fprintf(w, "  %-36s %s\n", "not in the data when nothing is", res.NotInData)
	fmt.Fprintf(w, "  %-36s %d\n", "invented citations", res.Invented)
	fmt.Fprintf(w, "  %-36s %s\n", "latency", Summarize(res.Latency))
	fmt.Fprintf(w, "model\n")
	if res.SummaryAsked > 0 {
		fmt.Fprintf(w, "  %-36s %s\n", "summaries shown (passed the checks)", EvalScore{res.SummaryShown, res.SummaryAsked})
	} else {
		fmt.Fprintf(w, "  %-36s %s\n", "summaries", "none asked (no chat model)")
	}
	if res.IndexSampled {
		fmt.Fprintf(w, "  %-36s %.1f s (%d messages)\n", "index lag, most during the run", res.IndexLagSecs, res.IndexLagEvents)
	} else {
		fmt.Fprintf(w, "  %-36s %s\n", "index lag", "n/a (no embedding model)")
	}
	if failed := res.Failed(); len(failed) > 0 {
		fmt.Fprintf(w, "wrong answers\n")
		for _, q := range failed {
			fmt.Fprintf(w, "  [%s/%s] %q: %s %v\n", q.Class, q.Topic, q.Text, q.Why, q.Invented)
		}
	}
}
