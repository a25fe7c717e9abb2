package app

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Answer kinds.
const (
	AnswerFacts     = "facts"       // from the state store, a citation per fact
	AnswerPolicy    = "policy"      // quoted passages of the current policy documents
	AnswerNotInData = "not_in_data" // nothing current answers the question
)

// AskSource is a record the answer draws on, with the log version of it.
type AskSource struct {
	ID      string `json:"id"` // entity key, the citation id
	Kind    string `json:"kind"`
	Title   string `json:"title"`
	Heading string `json:"heading,omitempty"`
	Offset  uint64 `json:"offset"`
}

// AskAnswer is an answer with its citations and freshness. Answer is whole
// when it is returned: facts or quoted passages (or "Not in the data");
// Summary is the model's optional addition, shown only when it passed the
// validator.
type AskAnswer struct {
	Kind      string      `json:"kind"`
	Answer    string      `json:"answer"`
	Facts     []Fact      `json:"facts"`
	Passages  []Passage   `json:"passages"`
	Citations []string    `json:"citations"`
	Sources   []AskSource `json:"sources"`
	NotInData bool        `json:"not_in_data"`
	Missing   []string    `json:"missing"`
	// Freshness states, per topic the answer drew on, how far the
	// consumer behind it is from the log; Lagging warns.
	Freshness       string      `json:"freshness"`
	FreshnessDetail []Freshness `json:"freshness_detail"`
	Lagging         bool        `json:"lagging"`
	Summary         *Summary    `json:"summary,omitempty"`
	// SummaryStatus says what became of the model's summary: "" (none
	// asked), "shown", "refused", "timed out", "unavailable".
	SummaryStatus string   `json:"summary_status,omitempty"`
	Findings      []string `json:"findings"` // what the validator refused in the summary
	Model         string   `json:"model,omitempty"`
	Digest        string   `json:"digest,omitempty"`
	ElapsedMS     int64    `json:"elapsed_ms"`
}

// Summary is the model's short summary of the quoted passages.
type Summary struct {
	Text      string   `json:"text"`
	Citations []string `json:"citations"`
}

// AskUpdate is one step of an answer as it forms, for a streaming client:
// "freshness" (before any answer text), "sources", "answer" (the first
// useful answer), "summary" (the model's, validated) and "token" (model
// text as it is produced, only once the answer stands).
type AskUpdate struct {
	Event  string
	Answer *AskAnswer
	Token  string
}

// Retrieval searches the index.
type Retrieval interface {
	Search(ctx context.Context, q SearchQuery) ([]SearchHit, bool, error)
}

// Asker answers staff questions. Facts come from the state store through
// deterministic tools, policy from quoted passages; the model only adds a
// summary, checked by the validator, and is never the only path to an
// answer.
type Asker struct {
	Facts    *Facts
	Passages *Passages
	Search   Retrieval // optional: the hybrid search, to rank documents
	Model    ChatModel // optional: the summary; give it the interactive class
	Fresh    *FreshnessMeter
	// Now is the site's clock, for "today" (the simulated clock in a demo).
	Now func() time.Time
	// Timeout bounds the whole question: retrieval, queueing and the
	// summary. Default 20 s. The answer itself never waits for the model.
	Timeout   time.Duration
	MaxTokens int
}

func (a *Asker) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// Ask answers req, reporting each step to emit (which may be nil). It
// returns EINVALID for a bad request; any other error means no answer
// could be formed (the state store failed), never that the model did.
func (a *Asker) Ask(ctx context.Context, req AskRequest, emit func(AskUpdate)) (AskAnswer, error) {
	if err := req.Validate(); err != nil {
		return AskAnswer{}, err
	}
	if emit == nil {
		emit = func(AskUpdate) {}
	}
	start := time.Now()
	timeout := a.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := a.now()
	q := ParseQuestion(req.Question, now.In(a.Facts.zone()))
	scope(&q, req)
	out := AskAnswer{Facts: []Fact{}, Passages: []Passage{}, Citations: []string{}, Sources: []AskSource{}, Missing: []string{}, Findings: []string{}}
	done := func(err error) (AskAnswer, error) {
		out.ElapsedMS = time.Since(start).Milliseconds()
		return out, err
	}
	fq := q
	if !q.Structured() && len(q.Names) == 0 && len(q.NameGuesses) > 0 {
		// Only the guessed names: the rest of the question asked for
		// nothing the state answers.
		fq = Question{Text: q.Text, Names: q.NameGuesses, Surname: q.Surname}
	}
	if fq.Structured() || len(fq.Names) > 0 || fq.Surname != "" {
		fa, err := a.Facts.Answer(ctx, fq, now)
		if err != nil {
			return done(err)
		}
		if len(fa.Facts) > 0 || len(fa.Missing) > 0 {
			if err := a.stamp(ctx, &out, StateConsumer, topicsOr(fa.Topics, TopicFlights, TopicBookings), emit); err != nil {
				return done(err)
			}
			factsAnswer(&out, fa)
			emit(AskUpdate{Event: "sources", Answer: &out})
			emit(AskUpdate{Event: "answer", Answer: &out})
			return done(nil)
		}
	}
	err := a.policy(ctx, req, &out, emit)
	return done(err)
}

// scope adds the request's explicit scope to what the question names.
func scope(q *Question, req AskRequest) {
	if req.Flight != "" {
		des, date, _ := strings.Cut(strings.ToUpper(req.Flight), "-")
		if !slices.ContainsFunc(q.Flights, func(f FlightMention) bool { return f.Designator == des }) {
			q.Flights = append(q.Flights, FlightMention{Designator: des, Date: date})
		}
	}
	if req.Booking != "" && !slices.ContainsFunc(q.Locators, func(l LocatorMention) bool { return l.Locator == req.Booking }) {
		q.Locators = append(q.Locators, LocatorMention{Locator: req.Booking, Sure: true})
	}
	if req.Airport != "" && !slices.Contains(q.Airports, req.Airport) {
		q.Airports = append(q.Airports, req.Airport)
	}
}

func topicsOr(ts []string, def ...string) []string {
	if len(ts) == 0 {
		return def
	}
	return ts
}

// stamp measures the freshness of consumer on topics, puts it on the
// answer and reports it before any answer text.
func (a *Asker) stamp(ctx context.Context, out *AskAnswer, consumer string, topics []string, emit func(AskUpdate)) error {
	if a.Fresh == nil {
		return nil
	}
	fs, err := a.Fresh.Of(ctx, consumer, topics...)
	if err != nil {
		return fmt.Errorf("measure freshness: %w", err)
	}
	out.FreshnessDetail = append(out.FreshnessDetail, fs...)
	out.Freshness, out.Lagging = Stamp(out.FreshnessDetail)
	emit(AskUpdate{Event: "freshness", Answer: out})
	return nil
}

func factsAnswer(out *AskAnswer, fa FactAnswer) {
	out.Kind = AnswerFacts
	out.Facts = fa.Facts
	out.Missing = fa.Missing
	var lines []string
	for _, f := range fa.Facts {
		lines = append(lines, f.Text+" ["+f.Cite.ID+"]")
		if !slices.Contains(out.Citations, f.Cite.ID) {
			out.Citations = append(out.Citations, f.Cite.ID)
			out.Sources = append(out.Sources, AskSource{ID: f.Cite.ID, Kind: f.Cite.Kind, Offset: f.Cite.Offset})
		}
	}
	for _, m := range fa.Missing {
		lines = append(lines, "Not in the data: no "+m+" in the current state.")
	}
	if len(fa.Facts) == 0 {
		out.Kind, out.NotInData = AnswerNotInData, true
	}
	out.Answer = strings.Join(lines, "\n")
}

// policy answers from the passages of the current policy documents, and
// asks the model for a summary of them when one is configured.
func (a *Asker) policy(ctx context.Context, req AskRequest, out *AskAnswer, emit func(AskUpdate)) error {
	topics := []string{TopicDocuments}
	if err := a.stamp(ctx, out, StateConsumer, topics, emit); err != nil {
		return err
	}
	var prior []string
	if a.Search != nil {
		// The query embedding runs in the interactive class; a search that
		// fails or is slow leaves the text ranking alone to decide.
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		hits, _, err := a.Search.Search(sctx, SearchQuery{Text: req.Question, K: 5, Kinds: []string{KindPolicy}, Airport: req.Airport})
		cancel()
		if err == nil {
			for _, h := range hits {
				if !slices.Contains(prior, h.EntityKey) {
					prior = append(prior, h.EntityKey)
				}
			}
		} else {
			out.Findings = append(out.Findings, "search unavailable, passages ranked by their words alone: "+ErrorMessage(err))
		}
		// The passages' ranking uses (or, when the search failed, lacks)
		// the index and its vectors, which may trail the text: say how
		// far behind they are either way.
		if err := a.stamp(ctx, out, IndexConsumer, topics, emit); err != nil {
			return err
		}
		if err := a.stamp(ctx, out, EmbedConsumer, topics, emit); err != nil {
			return err
		}
	}
	found, err := a.Passages.Find(ctx, req.Question, 4, prior, a.now())
	if err != nil {
		return err
	}
	var ps []Passage
	for _, p := range found {
		q, why := Quotable(p)
		if why != "" {
			out.Findings = append(out.Findings, fmt.Sprintf("not quoted: %s (%s) %s", p.DocID, passageTitle(p), why))
			continue
		}
		if len(ps) < 2 {
			ps = append(ps, q)
		}
	}
	if len(ps) == 0 {
		out.Kind, out.NotInData = AnswerNotInData, true
		out.Answer = "Not in the data: no current record or policy answers this question."
		emit(AskUpdate{Event: "answer", Answer: out})
		return nil
	}
	out.Kind, out.Passages = AnswerPolicy, ps
	var quoted []string
	for _, p := range ps {
		quoted = append(quoted, fmt.Sprintf("%q (%s) [%s]", p.Text, passageTitle(p), p.DocID))
		if !slices.Contains(out.Citations, p.DocID) {
			out.Citations = append(out.Citations, p.DocID)
		}
		out.Sources = append(out.Sources, AskSource{ID: p.DocID, Kind: KindPolicy, Title: p.Title, Heading: p.Heading, Offset: p.Offset})
	}
	out.Answer = strings.Join(quoted, "\n")
	emit(AskUpdate{Event: "sources", Answer: out})
	emit(AskUpdate{Event: "answer", Answer: out})
	if a.Model != nil {
		a.summarize(ctx, req.Question, out, emit)
		if out.Summary != nil {
			emit(AskUpdate{Event: "summary", Answer: out})
		}
	}
	return nil
}

func passageTitle(p Passage) string {
	if p.Heading == "" {
		return p.Title
	}
	return p.Title + " › " + p.Heading
}

// summarize asks the model for a summary of the passages under
// constrained decoding and keeps it only if the validator passes it.
func (a *Asker) summarize(ctx context.Context, question string, out *AskAnswer, emit func(AskUpdate)) {
	req := SummaryRequest(question, out.Passages, a.MaxTokens)
	reply, err := a.Model.Chat(ctx, req, nil)
	out.Model, out.Digest = reply.Model, reply.Digest
	switch {
	case err != nil && (errors.Is(ctx.Err(), context.DeadlineExceeded) || strings.Contains(ErrorMessage(err), "timed out")):
		out.SummaryStatus = "timed out"
		return
	case err != nil:
		out.SummaryStatus = "unavailable"
		out.Findings = append(out.Findings, "summary: "+ErrorMessage(err))
		return
	case reply.Truncated:
		out.SummaryStatus = "refused"
		out.Findings = append(out.Findings, "summary: cut off at the token limit")
		return
	}
	s, findings := CheckSummary(reply.Content, out.Passages)
	if len(findings) > 0 {
		out.SummaryStatus = "refused"
		out.Findings = append(out.Findings, findings...)
		return
	}
	out.Summary, out.SummaryStatus = s, "shown"
}

var (
	reInstruction = regexp.MustCompile(`(?i)(ignore (all |any )?(previous|prior|above) instructions|disregard (the |all )?(previous|prior|above)|new instructions|you are now|print your instructions|system prompt|^\s*system:|</?data>)`)
	reURL         = regexp.MustCompile(`(?i)(https?://|www\.)\S+`)
)

// Quotable prepares a passage to be shown to staff as an answer: text that
// addresses a language model rather than a person (an injected
// instruction) is not quoted at all, and links are removed, so that an
// answer never carries a link a document planted. It returns the passage
// and, when it must not be quoted, why.
func Quotable(p Passage) (Passage, string) {
	if reInstruction.MatchString(p.Text) {
		return p, "it addresses a language model, not staff"
	}
	p.Text = reURL.ReplaceAllString(p.Text, "[link removed]")
	return p, ""
}
