package app

import (
	"regexp"
	"regexp/syntax"
	"unicode/utf8"
)

// A pattern is a schema's "pattern" keyword: a regular expression and,
// when it is anchored at the start and uses nothing but runes and the
// start and end of the text, a DFA over ASCII built from the same
// compiled program. The event contract's patterns (codes, flight ids,
// locators) are of that kind, and a table lookup a byte costs a tenth of
// the regexp package's one-pass matcher: about 2 µs an event of batched
// ingest (decision 0019). The regexp decides any value with a byte
// outside ASCII, and any pattern the DFA does not cover.
type pattern struct {
	re  *regexp.Regexp
	dfa *asciiDFA // nil: the regexp decides every value
}

func compilePattern(expr string) (*pattern, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	return &pattern{re: re, dfa: compileASCIIDFA(expr)}, nil
}

// Match is regexp.Match: whether v holds a match of the pattern.
func (p *pattern) Match(v []byte) bool {
	if p.dfa != nil {
		if m, sure := p.dfa.match(v); sure {
			return m
		}
	}
	return p.re.Match(v)
}

// asciiDFA is a deterministic automaton over the bytes below 0x80 of an
// expression anchored at the start of the text.
type asciiDFA struct {
	next  [][utf8.RuneSelf]int32 // the next state, or -1 where no match can follow
	final []bool                 // a match ends at the end of the text
	early []bool                 // a match has ended: the rest does not matter
}

// dfaMaxStates bounds the automaton; an expression that needs more is
// left to the regexp.
const dfaMaxStates = 256

// compileASCIIDFA builds the automaton by subset construction over the
// program regexp itself compiles from expr (syntax.Perl, as
// regexp.Compile), or returns nil when expr is not anchored at the start,
// uses an assertion other than the start and end of the text, or needs
// more than dfaMaxStates states.
func compileASCIIDFA(expr string) *asciiDFA {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil || prog.StartCond()&syntax.EmptyBeginText == 0 {
		return nil
	}
	for _, in := range prog.Inst {
		if in.Op == syntax.InstEmptyWidth && syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
			return nil
		}
	}
	b := dfaBuilder{prog: prog, index: map[string]int32{}, d: &asciiDFA{}}
	start := b.closure([]uint32{uint32(prog.Start)}, true, false)
	if b.state(start, true) < 0 {
		return nil
	}
	for s := 0; s < len(b.sets); s++ {
		for c := 0; c < utf8.RuneSelf; c++ {
			var out []uint32
			for _, pc := range b.sets[s] {
				in := &prog.Inst[pc]
				if isRuneInst(in.Op) && in.MatchRune(rune(c)) {
					out = append(out, in.Out)
				}
			}
			next := int32(-1)
			if len(out) > 0 {
				if next = b.state(b.closure(out, false, false), false); next < 0 {
					return nil
				}
			}
			b.d.next[s][c] = next
		}
	}
	return b.d
}

type dfaBuilder struct {
	prog  *syntax.Prog
	index map[string]int32
	sets  [][]uint32 // each state's instructions: runes, assertions of the end and matches
	d     *asciiDFA
}

func isRuneInst(op syntax.InstOp) bool {
	return op == syntax.InstRune || op == syntax.InstRune1 || op == syntax.InstRuneAny || op == syntax.InstRuneAnyNotNL
}

// closure follows the empty moves from pcs: alternations, captures and
// no-ops, the start of the text when atStart and its end when atEnd. It
// keeps the rune instructions, the matches, and the assertions it cannot
// decide, in order of discovery.
func (b *dfaBuilder) closure(pcs []uint32, atStart, atEnd bool) []uint32 {
	seen := make(map[uint32]bool)
	var out []uint32
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(in.Out)
			visit(in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			visit(in.Out)
		case syntax.InstEmptyWidth:
			switch op := syntax.EmptyOp(in.Arg); {
			case op == syntax.EmptyBeginText && atStart, op == syntax.EmptyEndText && atEnd:
				visit(in.Out)
			case op == syntax.EmptyEndText:
				out = append(out, pc) // decided by the state's final
			}
		case syntax.InstMatch:
			out = append(out, pc)
		case syntax.InstFail:
		default:
			out = append(out, pc)
		}
	}
	for _, pc := range pcs {
		visit(pc)
	}
	return out
}

// state returns the state of a set of instructions, at the start of the
// text or past it, adding it if new, or -1 when the automaton would grow
// past dfaMaxStates.
func (b *dfaBuilder) state(set []uint32, atStart bool) int32 {
	key := make([]byte, 1, 1+4*len(set))
	if atStart {
		key[0] = 1
	}
	for _, pc := range set {
		key = append(key, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
	}
	if s, ok := b.index[string(key)]; ok {
		return s
	}
	if len(b.sets) >= dfaMaxStates {
		return -1
	}
	s := int32(len(b.sets))
	b.index[string(key)] = s
	b.sets = append(b.sets, set)
	early, final := false, false
	for _, pc := range set {
		early = early || b.prog.Inst[pc].Op == syntax.InstMatch
	}
	// At the end of the text its assertions hold, and the start's too
	// when nothing was read.
	for _, pc := range b.closure(set, atStart, true) {
		final = final || b.prog.Inst[pc].Op == syntax.InstMatch
	}
	b.d.next = append(b.d.next, [utf8.RuneSelf]int32{})
	b.d.final = append(b.d.final, final)
	b.d.early = append(b.d.early, early)
	return s
}

// match reports whether b holds a match; sure is false when b has a byte
// outside ASCII before the answer is known.
func (d *asciiDFA) match(b []byte) (matched, sure bool) {
	s := int32(0)
	for _, c := range b {
		if d.early[s] {
			return true, true
		}
		if c >= utf8.RuneSelf {
			return false, false
		}
		if s = d.next[s][c]; s < 0 {
			return false, true
		}
	}
	return d.final[s], true
}
