package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PolicyExcerpt is retrieved policy text given to the model as data.
type PolicyExcerpt struct {
	DocID string `json:"doc_id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// The fixed vocabulary of reasons a model may give for choosing an
// option. Each is a claim about the options that the validator checks.
const (
	ReasonEarliestArrival = "earliest arrival"
	ReasonKeepsOnward     = "keeps onward connection"
	ReasonSameCabin       = "same cabin"
	ReasonFewerStops      = "fewer stops"
	ReasonAccessibility   = "accessibility margin"
	ReasonPolicyCited     = "policy cited"
)

// RankReasons lists the vocabulary in the order the prompt offers it.
var RankReasons = []string{ReasonEarliestArrival, ReasonKeepsOnward, ReasonSameCabin, ReasonFewerStops, ReasonAccessibility, ReasonPolicyCited}

// RankAnswer is what the model answers for a proposal: the option, one or
// two reasons from the vocabulary, the policy documents it relied on.
// Rationale is composed from them by the node, never written by the model.
type RankAnswer struct {
	Choice    string   `json:"choice"`
	Reasons   []string `json:"reasons"`
	Citations []string `json:"citations"`
	Rationale string   `json:"rationale,omitempty"`
}

// Ranking is the outcome of asking the model about a proposal.
type Ranking struct {
	RankAnswer
	ModelRationale bool // false: the rules' first option, no model rationale
	Model          string
	Digest         string
	PromptHash     string
	Findings       []string // what the validator refused, by attempt
	// Deferred is set when the model was not free (preempted by, or
	// queued behind, more urgent work): the ranking should be retried.
	Deferred bool
}

// acceptableTop is how many of the rules' first options the model may
// choose among; a later option is refused by the validator.
const acceptableTop = 3

// RankFormat returns the JSON Schema for the answer: the choice limited to
// the acceptable option ids, the reasons to reasons (one or two, unique),
// the citations to the retrieved documents.
func RankFormat(p *Proposal, reasons []string, docs []PolicyExcerpt) json.RawMessage {
	var ids []string
	for i, o := range p.Options {
		if i == acceptableTop {
			break
		}
		ids = append(ids, o.ID)
	}
	var docIDs []string
	for _, d := range docs {
		if !slices.Contains(docIDs, d.DocID) {
			docIDs = append(docIDs, d.DocID)
		}
	}
	cites := map[string]any{"type": "array", "maxItems": 0}
	if len(docIDs) > 0 {
		cites = map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": docIDs}, "maxItems": min(2, len(docIDs)), "uniqueItems": true}
	}
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"choice":    map[string]any{"type": "string", "enum": ids},
			"reasons":   map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": reasons}, "minItems": 1, "maxItems": 2, "uniqueItems": true},
			"citations": cites,
		},
		"required": []string{"choice", "reasons", "citations"},
	}
	b, _ := json.Marshal(schema)
	return b
}

// rankExample is the worked example of the completion prompt: a base
// model continues the pattern. Its ids are not the site's, so they can
// never be cited.
const rankExample = `Each record lists a disrupted booking, its valid rebooking options and the policy that applies, then the option a rebooking agent chose with one or two reasons from: earliest arrival, keeps onward connection, same cabin, fewer stops, accessibility margin, policy cited.

Booking: 1 passenger, needs WCHR, gold; cancelled XX100 from AAA to BBB, cabin Y.
Options:
- ex-1: XX102, departs Mon 10:00, arrives Mon 12:00, direct, cabin Y
- ex-2: XX104 + YY200 via CCC, departs Mon 09:00, arrives Mon 13:30, 1 stop, cabin Y
Policy:
[ex-policy] Offer the earliest alternative to the same final destination, direct or with one stop, in the booked cabin.
Answer: {"choice": "ex-1", "reasons": ["earliest arrival", "accessibility margin"], "citations": ["ex-policy"]}

`

// RankRequest builds the completion that asks the model to rank a
// proposal, constrained to RankFormat with reasons offered. Policy text
// is quoted as data; the answer cannot carry free text, so an instruction
// inside a document has nothing to write into.
func RankRequest(p *Proposal, ssr []string, tier string, docs []PolicyExcerpt, reasons []string, maxTokens int) ChatRequest {
	var b strings.Builder
	b.WriteString(rankExample)
	fmt.Fprintf(&b, "Booking: %d passenger", p.Need.Pax)
	if p.Need.Pax != 1 {
		b.WriteString("s")
	}
	if len(ssr) > 0 {
		fmt.Fprintf(&b, ", needs %s", strings.Join(ssr, " "))
	}
	if tier != "" && tier != "none" {
		fmt.Fprintf(&b, ", %s", tier)
	}
	fmt.Fprintf(&b, "; %s %s from %s to %s, cabin %s.\nOptions:\n", p.Reason, flightNumber(p.Flight), p.Need.Origin, p.Need.Destination, p.Need.Cabin)
	for i, o := range p.Options {
		if i == acceptableTop {
			break
		}
		fmt.Fprintf(&b, "- %s: %s\n", o.ID, describeOption(o))
	}
	b.WriteString("Policy:\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "[%s] %s\n", d.DocID, oneLine(d.Text))
	}
	b.WriteString("Answer: ")
	if maxTokens == 0 {
		maxTokens = 64
	}
	return ChatRequest{Prompt: b.String(), Format: RankFormat(p, reasons, docs), MaxTokens: maxTokens, Stop: []string{"\n\n"}}
}

func describeOption(o Option) string {
	var fs []string
	for _, f := range o.Flights {
		fs = append(fs, flightNumber(f))
	}
	s := strings.Join(fs, " + ")
	if o.Via != "" {
		s += " via " + o.Via
	}
	stops := "direct"
	if o.Stops == 1 {
		stops = "1 stop"
	} else if o.Stops > 1 {
		stops = fmt.Sprintf("%d stops", o.Stops)
	}
	s = fmt.Sprintf("%s, departs %s, arrives %s, %s", s, o.Depart.Format("Mon 15:04"), o.Arrive.Format("Mon 15:04"), stops)
	if o.Cabin != "" {
		s += ", cabin " + o.Cabin
	}
	return s
}

// PromptHash identifies a prompt for the audit trail.
func PromptHash(prompt string) string {
	h := sha256.Sum256([]byte(prompt))
	return hex.EncodeToString(h[:])[:16]
}

func flightNumber(key string) string { return strings.SplitN(key, "-", 2)[0] }

var (
	reFlightNo = regexp.MustCompile(`\b([A-Z][A-Z0-9]|[0-9][A-Z])\s?([0-9]{1,4})\b`)
)

// ReasonHolds reports whether reason is true of choosing option o for p,
// and if not, why. The claims are about the options the rules generated:
// earliest arrival (no option arrives sooner), fewer stops (the fewest,
// and some option has more), same cabin (the booked cabin), keeps onward
// connection (it keeps one of the booking's own later flights),
// accessibility margin (a passenger needs assistance and the option has
// the fewest changes), policy cited (a retrieved document is cited).
func ReasonHolds(reason string, p *Proposal, o Option, ssr, citations []string) (bool, string) {
	switch reason {
	case ReasonEarliestArrival:
		for _, x := range p.Options {
			if x.Arrive.Before(o.Arrive) {
				return false, fmt.Sprintf("%s arrives before %s", x.ID, o.ID)
			}
		}
	case ReasonFewerStops:
		most, least := 0, o.Stops
		for _, x := range p.Options {
			most, least = max(most, x.Stops), min(least, x.Stops)
		}
		if o.Stops > least || o.Stops == most {
			return false, fmt.Sprintf("%s has %d stops, the options range from %d to %d", o.ID, o.Stops, least, most)
		}
	case ReasonSameCabin:
		if p.Need.Cabin == "" || o.Cabin != p.Need.Cabin {
			return false, fmt.Sprintf("%s is in cabin %s, the booking in %s", o.ID, o.Cabin, p.Need.Cabin)
		}
	case ReasonKeepsOnward:
		if !slices.ContainsFunc(o.Flights, func(f string) bool { return slices.Contains(p.Need.Replace, f) && f != p.Flight }) {
			return false, fmt.Sprintf("%s keeps none of the booking's own flights", o.ID)
		}
	case ReasonAccessibility:
		needs := slices.ContainsFunc(ssr, func(s string) bool { return strings.HasPrefix(s, "WCH") || s == "BLND" || s == "DEAF" || s == "UMNR" })
		least := o.Stops
		for _, x := range p.Options {
			least = min(least, x.Stops)
		}
		if !needs || o.Stops > least {
			return false, fmt.Sprintf("no passenger needs assistance, or %s has more changes than another option", o.ID)
		}
	case ReasonPolicyCited:
		if len(citations) == 0 {
			return false, "no policy document is cited"
		}
	default:
		return false, fmt.Sprintf("%q is not a reason of the vocabulary", reason)
	}
	return true, ""
}

// ValidateRank checks a model answer against the proposal and what was
// retrieved. It returns the answer, with its rationale composed, and
// every finding; an answer with findings must not be used. Checks:
// well-formed JSON with exactly the asked fields; the choice is one of the
// acceptable options; one or two distinct reasons of the vocabulary, each
// true of the chosen option; every citation retrieved.
func ValidateRank(content string, p *Proposal, ssr []string, docs []PolicyExcerpt) (RankAnswer, []string) {
	var raw struct {
		Choice    string   `json:"choice"`
		Reasons   []string `json:"reasons"`
		Citations []string `json:"citations"`
	}
	dec := json.NewDecoder(strings.NewReader(strings.TrimSpace(content)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return RankAnswer{}, []string{"the answer is not the requested JSON object: " + err.Error()}
	}
	a := RankAnswer{Choice: raw.Choice, Reasons: raw.Reasons, Citations: raw.Citations}
	if a.Citations == nil {
		a.Citations = []string{}
	}
	var findings []string
	var chosen *Option
	for i := range p.Options {
		if i < acceptableTop && p.Options[i].ID == a.Choice {
			chosen = &p.Options[i]
		}
	}
	if chosen == nil {
		var ids []string
		for i, o := range p.Options {
			if i < acceptableTop {
				ids = append(ids, o.ID)
			}
		}
		findings = append(findings, fmt.Sprintf("choice %q is not one of the options %v", a.Choice, ids))
	}
	retrieved := map[string]bool{}
	for _, d := range docs {
		retrieved[d.DocID] = true
	}
	for _, c := range a.Citations {
		if !retrieved[c] {
			findings = append(findings, fmt.Sprintf("citation %q is not among the retrieved documents", c))
		}
	}
	if len(a.Reasons) == 0 || len(a.Reasons) > 2 {
		findings = append(findings, fmt.Sprintf("%d reasons, want one or two", len(a.Reasons)))
	}
	seen := map[string]bool{}
	for _, r := range a.Reasons {
		if seen[r] {
			findings = append(findings, fmt.Sprintf("the reason %q is repeated", r))
			continue
		}
		seen[r] = true
		if chosen == nil {
			continue
		}
		if ok, why := ReasonHolds(r, p, *chosen, ssr, a.Citations); !ok {
			findings = append(findings, fmt.Sprintf("the reason %q contradicts the options: %s", r, why))
		}
	}
	if len(findings) == 0 {
		a.Rationale = Explain(*chosen, a.Reasons, a.Citations)
	}
	return a, findings
}

// Explain composes the rationale shown to staff from the validated
// reasons: the chosen option's facts and the reasons in words.
func Explain(o Option, reasons, citations []string) string {
	s := fmt.Sprintf("Chose %s (%s) for %s.", o.ID, describeOption(o), strings.Join(reasons, " and "))
	if len(citations) > 0 {
		s += " Policy: " + strings.Join(citations, ", ") + "."
	}
	return s
}

// Ranker asks the model to rank and explain a proposal's options. A
// refused answer is asked again once with the false reasons no longer
// offered; then the rules' first option stands, marked as having no model
// rationale.
type Ranker struct {
	Model     ChatModel
	Timeout   time.Duration
	MaxTokens int
}

// Rank asks the model about p. It never fails: the rules' choice stands
// when the model cannot help (Deferred says whether to try again later).
func (r *Ranker) Rank(ctx context.Context, p *Proposal, ssr []string, tier string, docs []PolicyExcerpt) Ranking {
	reasons := slices.Clone(RankReasons)
	req := RankRequest(p, ssr, tier, docs, reasons, r.MaxTokens)
	out := Ranking{PromptHash: PromptHash(req.Prompt)}
	out.Choice, out.Citations = p.Chosen, []string{}
	out.Rationale = "No model rationale: the first valid option by the rules (earliest arrival, fewest stops)."
	if r.Model == nil || len(p.Options) == 0 {
		return out
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	for attempt := 0; attempt < 2; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		reply, err := r.Model.Chat(cctx, req, nil)
		cancel()
		if err != nil {
			// Preempted, or the model was busy with work that comes first:
			// try again later rather than settle for the rules' choice.
			out.Deferred = errors.Is(err, ErrPreempted) || errors.Is(err, ErrModelBusy)
			out.Findings = append(out.Findings, "model call failed: "+ErrorMessage(err))
			return out
		}
		out.Model, out.Digest = reply.Model, reply.Digest
		a, findings := ValidateRank(reply.Content, p, ssr, docs)
		if len(findings) == 0 {
			out.RankAnswer, out.ModelRationale = a, true
			return out
		}
		out.Findings = append(out.Findings, findings...)
		// Offer only the reasons that were not refused.
		for _, f := range findings {
			for _, rs := range RankReasons {
				if strings.Contains(f, fmt.Sprintf("reason %q contradicts", rs)) {
					reasons = slices.DeleteFunc(reasons, func(x string) bool { return x == rs })
				}
			}
		}
		if len(reasons) == 0 {
			break
		}
		req.Format = RankFormat(p, reasons, docs)
	}
	return out
}
