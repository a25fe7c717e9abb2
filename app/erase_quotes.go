package app

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// personTerms are the strings that identify an erased person in records
// the node wrote about them (rebooking events, answers, dead letters):
// the names they were known by (whole and each part of three letters or
// more), their id, the seats that were theirs alone and their needs.
type personTerms struct {
	id    string
	names []string
	seats []string
	needs []string
}

func (t *personTerms) addName(name string) {
	name = strings.TrimSpace(name)
	if name == "" || name == ErasedName {
		return
	}
	t.names = appendNew(t.names, name)
	for _, part := range strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == '-' || r == ',' || r == '/' }) {
		if utf8.RuneCountInString(part) >= 3 {
			t.names = appendNew(t.names, part)
		}
	}
}

func (t *personTerms) addNeeds(ssr []string) {
	for _, s := range ssr {
		t.needs = appendNew(t.needs, s)
		if n, ok := ssrNames[s]; ok {
			t.needs = appendNew(t.needs, n)
		}
	}
}

// learn adds what booking b says of the erased: their names and needs,
// and its seats when nobody else travels on it.
func (t *personTerms) learn(b Booking, erased map[string]bool) {
	all := len(b.Passengers) > 0
	for _, p := range b.Passengers {
		if !erased[p.ID] {
			all = false
			continue
		}
		t.addName(p.Name)
		t.addNeeds(p.SSR)
	}
	if all {
		for _, sg := range b.Segments {
			t.seats = appendNew(t.seats, sg.Seat)
		}
	}
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// quoted matches the person's names or id: a record that holds one of
// them quotes the person.
func (t *personTerms) quoted() *regexp.Regexp { return wordsRegexp(append([]string{t.id}, t.names...)) }

// described matches everything of the person a rebooking event's text
// may hold: names, seats and needs (the id stays, as on the booking).
func (t *personTerms) described() *regexp.Regexp {
	return wordsRegexp(slices.Concat(t.names, t.seats, t.needs))
}

// wordsRegexp matches any of words as a whole word, case-insensitive,
// longest first (a full name before its parts); nil for none.
func wordsRegexp(words []string) *regexp.Regexp {
	var ws []string
	for _, w := range words {
		if strings.TrimSpace(w) != "" {
			ws = append(ws, regexp.QuoteMeta(w))
		}
	}
	if len(ws) == 0 {
		return nil
	}
	sort.SliceStable(ws, func(i, j int) bool { return len(ws[i]) > len(ws[j]) })
	return regexp.MustCompile(`(?i)\b(?:` + strings.Join(ws, "|") + `)\b`)
}

// redactJSON replaces every match of re in the string values of the JSON
// value raw with ErasedName, and reports whether anything changed.
func redactJSON(raw json.RawMessage, re *regexp.Regexp) (json.RawMessage, bool, error) {
	if re == nil || !re.Match(raw) {
		return raw, false, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, err
	}
	changed := false
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case string:
			if re.MatchString(t) {
				changed = true
				return re.ReplaceAllLiteralString(t, ErasedName)
			}
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
		case map[string]any:
			for k := range t {
				t[k] = walk(t[k])
			}
		}
		return x
	}
	v = walk(v)
	out, err := json.Marshal(v)
	return out, changed, err
}

// RedactedCopyAttr is the CloudEvents extension attribute of a redacted
// copy: the id of the event it replaces, which the eraser has erased.
const RedactedCopyAttr = "redacts"

// redactedCopy returns a copy of the rebooking event raw with the person
// left out of its data, under a new id derived from the original's (so a
// retry appends it once) and naming the original in RedactedCopyAttr;
// nil when raw does not describe the person.
func redactedCopy(raw []byte, re *regexp.Regexp) (*Event, error) {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	data, changed, err := redactJSON(env["data"], re)
	if err != nil || !changed {
		return nil, err
	}
	var id string
	if err := json.Unmarshal(env["id"], &id); err != nil {
		return nil, fmt.Errorf("event id: %w", err)
	}
	env["data"] = data
	env["id"], _ = json.Marshal("redacted-" + id)
	env[RedactedCopyAttr], _ = json.Marshal(id)
	out, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return ParseTrusted(out)
}

// quoteCounts is what eraseQuotes removed.
type quoteCounts struct{ rebookings, answers, deadLetters, proposals, proposalEntries int }

// eraseQuotes removes the person from the records the node wrote about
// them: each rebooking event of their bookings that describes them is
// replaced by a redacted copy, each assist request or answer and each
// dead letter that quotes them is erased, and their bookings' proposals
// lose the text and priorities that describe them.
func (e *Eraser) eraseQuotes(ctx context.Context, t *personTerms, locators []string, erased map[string]bool) (quoteCounts, error) {
	var n quoteCounts
	described := t.described()
	for _, loc := range locators {
		k, err := e.rewriteRebookings(ctx, loc, described)
		if err != nil {
			return n, err
		}
		n.rebookings += k
	}
	quoted := t.quoted()
	var err error
	if n.answers, err = e.eraseQuoting(ctx, TopicAssist, quoted); err != nil {
		return n, err
	}
	if n.deadLetters, err = e.eraseQuoting(ctx, TopicDeadLetter, quoted); err != nil {
		return n, err
	}
	if len(locators) > 0 {
		n.proposals, err = e.Store.RedactProposals(ctx, locators, func(p *Proposal) bool { return RedactProposal(p, described, erased) })
		if err != nil {
			return n, fmt.Errorf("redact proposals: %w", err)
		}
	}
	for _, loc := range locators {
		k, err := e.rewriteProposalLog(ctx, loc, described)
		if err != nil {
			return n, err
		}
		n.proposalEntries += k
	}
	return n, nil
}

// rewriteProposalLog replaces the control topic's history of booking
// loc's proposals (offers, rankings, commands, outcomes: they carry the
// person's priorities and what staff wrote about them) by one entry that
// restores the redacted rows the store now holds, then erases the
// history. Re-appending the history redacted would change its order,
// and with it what a replay decides; a restore entry that a replay
// meets where the erased history was gives the same rows (decision 0028).
func (e *Eraser) rewriteProposalLog(ctx context.Context, loc string, re *regexp.Regexp) (int, error) {
	var originals []uint64
	if err := e.Erase.Entries(ctx, TopicControl, proposalKey(loc), func(le LogEntry) error {
		originals = append(originals, le.Offset)
		return nil
	}); err != nil || len(originals) == 0 {
		return 0, err
	}
	rows, err := e.Store.ProposalRecords(ctx, loc)
	if err != nil {
		return 0, fmt.Errorf("proposal records of %s: %w", loc, err)
	}
	raw, err := json.Marshal(rows)
	if err != nil {
		return 0, err
	}
	if raw, _, err = redactJSON(raw, re); err != nil {
		return 0, err
	}
	var redacted TableRows
	if err := json.Unmarshal(raw, &redacted); err != nil {
		return 0, err
	}
	flight := "-"
	if ps := redacted["proposals"]; len(ps) > 0 {
		if f, ok := ps[0]["flight"].(string); ok && f != "" {
			flight = f
		}
	}
	last := originals[len(originals)-1]
	// Named by the history it replaces: every node's eraser appends it once.
	ev, err := NewEvent(fmt.Sprintf("proposal-restored-%s-%d", loc, last), ErasureSource, TypeProposalChanged, proposalKey(loc), e.now(),
		ProposalChange{Op: OpRestored, ProposalID: loc, Locator: loc, Flight: flight, Records: redacted, At: e.now()})
	if err != nil {
		return 0, err
	}
	res, err := e.Log.Append(ctx, TopicControl, []*Event{ev})
	if err != nil {
		return 0, fmt.Errorf("append the restore of %s's proposals: %w", loc, err)
	}
	erased := 0
	for _, off := range originals {
		if off >= res[0].Offset {
			continue
		}
		if err := e.Erase.EraseEntry(ctx, TopicControl, off); err != nil {
			return erased, fmt.Errorf("erase control@%d: %w", off, err)
		}
		erased++
	}
	return erased, nil
}

// rewriteRebookings replaces each rebookings entry of booking loc that
// describes the person by a redacted copy, and erases the original.
func (e *Eraser) rewriteRebookings(ctx context.Context, loc string, re *regexp.Regexp) (int, error) {
	if re == nil {
		return 0, nil
	}
	var originals []uint64
	var copies []*Event
	err := e.Erase.Entries(ctx, TopicRebookings, loc, func(le LogEntry) error {
		c, err := redactedCopy(le.Data, re)
		if err != nil {
			return fmt.Errorf("rebookings@%d: %w", le.Offset, err)
		}
		if c != nil {
			originals, copies = append(originals, le.Offset), append(copies, c)
		}
		return nil
	})
	if err != nil || len(copies) == 0 {
		return 0, err
	}
	if _, err := e.Log.Append(ctx, TopicRebookings, copies); err != nil {
		return 0, fmt.Errorf("append redacted rebookings of %s: %w", loc, err)
	}
	for _, off := range originals {
		if err := e.Erase.EraseEntry(ctx, TopicRebookings, off); err != nil {
			return 0, fmt.Errorf("erase rebookings@%d: %w", off, err)
		}
	}
	return len(copies), nil
}

// eraseQuoting erases every entry of topic that quotes the person.
func (e *Eraser) eraseQuoting(ctx context.Context, topic string, re *regexp.Regexp) (int, error) {
	if re == nil {
		return 0, nil
	}
	var hits []uint64
	err := e.Erase.Entries(ctx, topic, "", func(le LogEntry) error {
		if re.Match(le.Data) {
			hits = append(hits, le.Offset)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan %s: %w", topic, err)
	}
	for _, off := range hits {
		if err := e.Erase.EraseEntry(ctx, topic, off); err != nil {
			return 0, fmt.Errorf("erase %s@%d: %w", topic, off, err)
		}
	}
	return len(hits), nil
}

// RedactProposal leaves out of p what describes an erased traveller of
// its booking: matches of re in its rationale and decision reason, and,
// when every traveller it moves is erased, the tier and needs in its
// priority. It reports whether p changed.
func RedactProposal(p *Proposal, re *regexp.Regexp, erased map[string]bool) bool {
	changed := false
	if re != nil {
		for _, s := range []*string{&p.Rationale, &p.DecisionReason} {
			if re.MatchString(*s) {
				*s, changed = re.ReplaceAllLiteralString(*s, ErasedName), true
			}
		}
	}
	all := len(p.Need.PassengerIDs) > 0
	for _, id := range p.Need.PassengerIDs {
		all = all && erased[id]
	}
	if all && (p.Need.Priority.SSR != 0 || p.Need.Priority.Tier != 0 || p.Need.WCHR) {
		p.Need.Priority.SSR, p.Need.Priority.Tier, p.Need.WCHR = 0, 0, false
		changed = true
	}
	return changed
}
