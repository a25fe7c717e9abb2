package app

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Passage is one section of a policy document: what an extractive answer
// quotes.
type Passage struct {
	DocID   string  `json:"doc_id"`
	Title   string  `json:"title"`
	Heading string  `json:"heading"`
	Text    string  `json:"text"`
	Offset  uint64  `json:"offset"` // the log offset of the document version
	Score   float64 `json:"score"`
}

// DocumentReader lists the current documents.
type DocumentReader interface {
	Documents(ctx context.Context) ([]*DocumentRecord, error)
}

// Passages finds the passages of the current policy documents that answer
// a question, with BM25 over sections and the site's vocabulary folded
// (WCHR and wheelchair are one word to it). It needs no model, so policy
// questions are answered while the embedding model is away; the hybrid
// search's ranking of documents, when given, breaks near ties.
type Passages struct {
	Docs DocumentReader
	// MinCoverage is the share of the question's weight (IDF) that the
	// best passage must match for the question to count as answered;
	// below it the answer is "Not in the data". Default 0.5.
	MinCoverage float64

	mu    sync.Mutex
	index *passageIndex
	stamp string
}

type passageIndex struct {
	passages []Passage
	terms    []map[string]int // per passage: term -> count
	lengths  []int
	avgLen   float64
	df       map[string]int
}

// Find returns up to k passages for question, best first, or none when
// no passage covers enough of it. prior ranks documents (first is best)
// and may be nil.
func (p *Passages) Find(ctx context.Context, question string, k int, prior []string, now time.Time) ([]Passage, error) {
	idx, err := p.load(ctx, now)
	if err != nil {
		return nil, err
	}
	qterms := uniqueTerms(question)
	if len(qterms) == 0 || len(idx.passages) == 0 {
		return nil, nil
	}
	// A word no passage has weighs as much as the rarest word that
	// some passage has: in a small corpus an unknown word must not
	// outweigh everything the question does match.
	idf := func(t string) float64 {
		n, df := float64(len(idx.passages)), float64(max(idx.df[t], 1))
		return math.Log(1 + (n-df+0.5)/(df+0.5))
	}
	var total float64
	for _, t := range qterms {
		total += idf(t)
	}
	type scored struct {
		i        int
		score    float64
		coverage float64
	}
	var out []scored
	for i, tf := range idx.terms {
		var s, covered float64
		for _, t := range qterms {
			n := float64(tf[t])
			if n == 0 {
				continue
			}
			w := idf(t)
			covered += w
			const k1, b = 1.2, 0.75
			s += w * n * (k1 + 1) / (n + k1*(1-b+b*float64(idx.lengths[i])/idx.avgLen))
		}
		if s == 0 {
			continue
		}
		if r := slices.Index(prior, idx.passages[i].DocID); r >= 0 {
			s *= 1 + 0.15/float64(r+1)
		}
		out = append(out, scored{i, s, covered / total})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].score > out[b].score })
	minCov := p.MinCoverage
	if minCov == 0 {
		minCov = 0.5
	}
	var got []Passage
	for _, s := range out {
		if len(got) == k || len(got) > 0 && s.score < 0.6*got[0].Score {
			break
		}
		// A passage that scores on the question's common words alone
		// does not answer it, and does not hide one further down that
		// matches more of it ("pay" and "taxi": the compensation
		// sections say the first often, the hotel section the second).
		if s.coverage < minCov {
			continue
		}
		ps := idx.passages[s.i]
		ps.Score = s.score
		got = append(got, ps)
	}
	return got, nil
}

// load returns the index of the current policy documents, rebuilt when a
// document changed.
func (p *Passages) load(ctx context.Context, now time.Time) (*passageIndex, error) {
	docs, err := p.Docs.Documents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read documents: %w", err)
	}
	var stamp strings.Builder
	var valid []*DocumentRecord
	for _, d := range docs {
		if d.ValidFrom != nil && now.Before(*d.ValidFrom) || d.ValidTo != nil && now.After(*d.ValidTo) {
			continue
		}
		valid = append(valid, d)
		fmt.Fprintf(&stamp, "%s@%d;", d.ID, d.Version.Offset)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index != nil && p.stamp == stamp.String() {
		return p.index, nil
	}
	idx := &passageIndex{df: map[string]int{}}
	var sum int
	for _, d := range valid {
		for _, ps := range SplitPassages(d) {
			tf := map[string]int{}
			words := terms(ps.Title + " " + ps.Heading + " " + ps.Heading + " " + ps.Text)
			for _, t := range words {
				tf[t]++
			}
			for t := range tf {
				idx.df[t]++
			}
			idx.passages = append(idx.passages, ps)
			idx.terms = append(idx.terms, tf)
			idx.lengths = append(idx.lengths, len(words))
			sum += len(words)
		}
	}
	if len(idx.passages) > 0 {
		idx.avgLen = float64(sum) / float64(len(idx.passages))
	}
	p.index, p.stamp = idx, stamp.String()
	return idx, nil
}

// SplitPassages cuts a document into its sections: a Markdown heading
// starts one; text before the first heading is a section of its own; a
// section longer than about 700 characters is cut at paragraphs.
func SplitPassages(d *DocumentRecord) []Passage {
	var out []Passage
	heading := ""
	var body []string
	flush := func() {
		text := strings.TrimSpace(strings.Join(body, "\n"))
		body = body[:0]
		if text == "" {
			return
		}
		for _, chunk := range splitParagraphs(text, 700) {
			out = append(out, Passage{DocID: d.ID, Title: d.Title, Heading: heading, Text: chunk, Offset: d.Version.Offset})
		}
	}
	for _, line := range strings.Split(d.Body, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "#") {
			flush()
			if h := strings.TrimSpace(strings.TrimLeft(t, "#")); h != d.Title || heading != "" {
				heading = h
			}
			continue
		}
		body = append(body, line)
	}
	flush()
	return out
}

func splitParagraphs(text string, limit int) []string {
	if len(text) <= limit {
		return []string{text}
	}
	var out []string
	var cur strings.Builder
	for _, para := range strings.Split(text, "\n\n") {
		if cur.Len() > 0 && cur.Len()+len(para) > limit {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
		cur.WriteString(para)
		cur.WriteString("\n\n")
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// stopTerms carry no meaning for finding a passage.
var stopTerms = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or of to in on at for from by with about into over under is are was were be been being
		do does did done have has had what which who whom whose when where why how can could should would may might must shall will
		i we you he she it they me us them my our your their his her its this that these those there here if then than so as not no yes any all
		some each every say says said tell policy policies rule rules procedure procedure document documents staff agent agents
		please need needs get gets give given allowed allow ok okay our there's what's let lets know
		much many long people person passenger passengers someone anyone non
		after before during also just only still yet again ever fly flie flying put`) {
		stopTerms[w] = true
	}
}

// synonyms fold the words staff use into the words of the documents.
var synonyms = map[string]string{
	"wchr": "wheelchair", "wchs": "wheelchair", "wchc": "wheelchair", "prm": "mobility", "umnr": "unaccompanied",
	"minor": "unaccompanied", "child": "unaccompanied", "children": "unaccompanied", "kid": "unaccompanied", "kids": "unaccompanied",
	"accommodation": "hotel", "overnight": "overnight", "night": "overnight", "food": "meal", "drink": "refreshment",
	"voucher": "voucher", "money": "compensation", "refund": "compensation", "pay": "compensation", "payment": "compensation",
	"eu261": "compensation", "261": "compensation", "mct": "connection", "transfer": "connection", "connecting": "connection",
	"misconnect": "misconnect", "cancel": "cancellation", "cancelled": "cancellation", "canceled": "cancellation",
	"cancellations": "cancellation", "late": "delay", "delayed": "delay", "upgrade": "cabin", "downgrade": "cabin",
	"euro": "eur", "economy": "cabin",
	"minute": "time", "hour": "time", "wait": "delay",
	"alone": "unaccompanied", "taxi": "transport", "cab": "transport", "shuttle": "transport",
	// A disruption is what the documents call a cancellation, a delay or
	// a missed connection; folded to one of them on both sides.
	"disrupt": "cancellation", "disruption": "cancellation", "irregular": "cancellation", "irop": "cancellation",
}

// phrases fold two words staff say into the one the documents use: a
// miss word (missWords, the question parser's) and a connection is a
// misconnect, "looks after" is care.
type phrase struct {
	first        []string
	second, term string
}

var phrases = []phrase{
	{missWords, "connection", "misconnect"},
	{[]string{"look", "looks", "looked", "looking"}, "after", "care"},
	{[]string{"business", "economy", "premium", "first"}, "class", "cabin"}, // not "business days"
}

// terms returns the meaningful words of text, stemmed lightly and folded.
func terms(text string) []string {
	var out []string
	prev := "" // the last meaningful word as written
	for _, w := range reAskWord.FindAllString(strings.ToLower(text), -1) {
		// A phrase's second word may be a stop word ("looks after").
		if i := slices.IndexFunc(phrases, func(p phrase) bool { return p.second == w && slices.Contains(p.first, prev) }); i >= 0 && len(out) > 0 {
			out[len(out)-1], prev = phrases[i].term, ""
			continue
		}
		if stopTerms[w] {
			continue
		}
		raw := w
		w = stem(w)
		if s, ok := synonyms[w]; ok {
			w = s
		}
		if stopTerms[w] || len(w) < 2 {
			continue
		}
		// And a phrase's second word as the documents write it.
		if i := slices.IndexFunc(phrases, func(p phrase) bool { return p.second == w && slices.Contains(p.first, prev) }); i >= 0 && len(out) > 0 {
			out[len(out)-1], prev = phrases[i].term, ""
			continue
		}
		prev = raw
		out = append(out, w)
	}
	return out
}

func uniqueTerms(text string) []string {
	var out []string
	for _, t := range terms(text) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// stem strips the common English plural and verb endings, so that
// "vouchers", "voucher", "connections", "connection" and "handled",
// "handling" meet.
func stem(w string) string {
	if s, ok := synonyms[w]; ok {
		return s
	}
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 4 && strings.HasSuffix(w, "sses"):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us"):
		return stem(w[:len(w)-1])
	case len(w) > 5 && strings.HasSuffix(w, "ing"):
		return w[:len(w)-3]
	case len(w) > 4 && strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "eed"):
		return w[:len(w)-2] // "handled" and "handling" meet at "handl"
	case len(w) > 4 && (strings.HasSuffix(w, "le") || strings.HasSuffix(w, "ve") || strings.HasSuffix(w, "ue") || strings.HasSuffix(w, "se")):
		return w[:len(w)-1] // and "handle", "approve", "issue", "propose" with them
	case len(w) > 6 && (strings.HasSuffix(w, "val") || strings.HasSuffix(w, "sal")):
		return w[:len(w)-2] // "approval" meets "approves", "arrival" "arrived", "proposal" "proposed"
	}
	return w
}
