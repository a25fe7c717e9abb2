package app

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// summaryExamples are the worked examples of the completion prompt. A
// base model follows a pattern it sees far better than an instruction;
// the examples use documents no site has, so they are never cited.
const summaryExamples = `Each record quotes policy passages and a staff question, then a JSON answer that says in one sentence what the passages say about the question, using only their words and numbers.

Passages:
[ex-baggage] Delayed baggage › Claims: Claims for delayed bags are made at the baggage service desk. Bags are delivered to the passenger's address within 24 hours of arrival.
Question: where does a passenger claim a delayed bag?
Answer: {"summary": "Claims for delayed bags are made at the baggage service desk, and the bag is delivered within 24 hours of arrival.", "citations": ["ex-baggage"]}

Passages:
[ex-lounge] Lounge access › Disruptions: Gold and platinum passengers whose flight is delayed by more than 2 hours may use the lounge with one guest.
Question: can a gold member use the lounge during a long delay?
Answer: {"summary": "Yes: gold and platinum passengers delayed by more than 2 hours may use the lounge with one guest.", "citations": ["ex-lounge"]}

`

// SummaryRequest builds the completion that asks the model to summarise
// passages for question, constrained to JSON whose citations are the
// passages' document ids.
func SummaryRequest(question string, ps []Passage, maxTokens int) ChatRequest {
	var b strings.Builder
	b.WriteString(summaryExamples)
	b.WriteString("Passages:\n")
	var ids []string
	for _, p := range ps {
		fmt.Fprintf(&b, "[%s] %s: %s\n", p.DocID, passageTitle(p), oneLine(p.Text))
		if !slices.Contains(ids, p.DocID) {
			ids = append(ids, p.DocID)
		}
	}
	fmt.Fprintf(&b, "Question: %s\nAnswer: ", oneLine(question))
	schema, _ := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"summary":   map[string]any{"type": "string", "maxLength": 300},
			"citations": map[string]any{"type": "array", "items": map[string]any{"type": "string", "enum": ids}, "minItems": 1, "maxItems": len(ids), "uniqueItems": true},
		},
		"required": []string{"summary", "citations"},
	})
	if maxTokens == 0 {
		maxTokens = 120
	}
	return ChatRequest{Prompt: b.String(), Format: schema, MaxTokens: maxTokens, Stop: []string{"\n\n"}}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var (
	reNumber    = regexp.MustCompile(`\d+(?:[.,]\d+)?`)
	reSentences = regexp.MustCompile(`[^.!?;:]+`)
	reLinkLike  = regexp.MustCompile(`(?i)(https?://|www\.|\]\(|<a\s)`)
)

// CheckSummary validates the model's summary of passages. It refuses:
// JSON that does not parse or cites nothing retrieved; an empty or
// over-long summary; text that repeats itself or the prompt; links;
// numbers, flights or codes the passages do not contain; and text whose
// words mostly do not come from the passages.
//
// A small model often starts well and then runs on: the summary keeps the
// longest run of whole sentences from the start that passes, and is
// refused only when not even its first sentence does.
func CheckSummary(content string, ps []Passage) (*Summary, []string) {
	var raw struct {
		Summary   string   `json:"summary"`
		Citations []string `json:"citations"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(content)), &raw); err != nil {
		return nil, []string{"summary: not the JSON asked for"}
	}
	sentences := reSentenceEnd.FindAllString(strings.TrimSpace(raw.Summary), -1)
	var best *Summary
	for k := 1; k <= len(sentences); k++ {
		text := strings.TrimSpace(strings.Join(sentences[:k], ""))
		s, findings := checkSummaryText(text, raw.Citations, ps)
		if len(findings) > 0 {
			break
		}
		best = s
	}
	if best != nil {
		return best, nil
	}
	return checkSummaryText(strings.TrimSpace(raw.Summary), raw.Citations, ps)
}

// reSentenceEnd matches whole sentences: text up to a full stop, question
// or exclamation mark followed by a space or the end.
var reSentenceEnd = regexp.MustCompile(`(?s).*?[.!?](?:\s+|$)`)

func checkSummaryText(summary string, citations []string, ps []Passage) (*Summary, []string) {
	s := Summary{Text: summary, Citations: citations}
	var corpus strings.Builder
	var ids []string
	for _, p := range ps {
		corpus.WriteString(p.Title + " " + p.Heading + " " + p.Text + " ")
		ids = append(ids, p.DocID)
	}
	text := corpus.String()
	var findings []string
	refuse := func(format string, args ...any) {
		findings = append(findings, "summary: "+fmt.Sprintf(format, args...))
	}
	if len(s.Text) < 12 || len(s.Text) > 400 {
		refuse("%d characters, want 12 to 400", len(s.Text))
	}
	if len(s.Citations) == 0 {
		refuse("cites no passage")
	}
	for _, c := range s.Citations {
		if !slices.Contains(ids, c) {
			refuse("cites %q, which was not quoted", c)
		}
	}
	if reLinkLike.MatchString(s.Text) {
		refuse("contains a link")
	}
	for _, marker := range []string{"Passages:", "Question:", "Answer:", "Each record quotes", "ex-baggage", "ex-lounge"} {
		if strings.Contains(s.Text, marker) {
			refuse("repeats the prompt")
			break
		}
	}
	if repeats(s.Text) {
		refuse("repeats itself")
	}
	for _, n := range reNumber.FindAllString(s.Text, -1) {
		if !strings.Contains(text, n) {
			refuse("states %s, which the passages do not", n)
		}
	}
	for _, m := range reFlightNo.FindAllString(s.Text, -1) {
		if !strings.Contains(strings.ReplaceAll(text, " ", ""), strings.ReplaceAll(m, " ", "")) {
			refuse("names %s, which the passages do not", m)
		}
	}
	words := terms(s.Text)
	have := map[string]bool{}
	for _, t := range terms(text) {
		have[t] = true
	}
	supported := 0
	for _, w := range words {
		if have[w] {
			supported++
		}
	}
	if len(words) > 0 && float64(supported) < 0.6*float64(len(words)) {
		refuse("only %d of its %d words come from the passages", supported, len(words))
	}
	if len(findings) > 0 {
		return nil, findings
	}
	return &s, nil
}

// repeats reports a sentence said twice, or a run of four words said
// three times: the loops a small model falls into.
func repeats(text string) bool {
	seen := map[string]bool{}
	for _, s := range reSentences.FindAllString(strings.ToLower(text), -1) {
		s = strings.TrimSpace(s)
		if len(s) < 8 {
			continue
		}
		if seen[s] {
			return true
		}
		seen[s] = true
	}
	ws := strings.Fields(strings.ToLower(text))
	runs := map[string]int{}
	for i := 0; i+4 <= len(ws); i++ {
		k := strings.Join(ws[i:i+4], " ")
		if runs[k]++; runs[k] >= 3 {
			return true
		}
	}
	return false
}
