package app

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"testing"
)

// schemaPatterns returns every "pattern" of the embedded schemas.
func schemaPatterns(t *testing.T) []string {
	t.Helper()
	entries, err := Schemas.ReadDir("schemas")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "pattern" {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, ent := range entries {
		b, err := Schemas.ReadFile("schemas/" + ent.Name())
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		walk(v)
	}
	if len(out) < 10 {
		t.Fatalf("found %d patterns in the schemas; expected the contract's codes, ids and locators", len(out))
	}
	return out
}

// TestPatternAgreesWithRegexp compares the DFA with the regexp package on
// every schema pattern and on expressions with alternations, groups,
// classes, case folding and assertions, over random strings and strings
// that walk the automaton (most of which match).
func TestPatternAgreesWithRegexp(t *testing.T) {
	exprs := append(schemaPatterns(t),
		`^(ab|a)c$`, `^a*$`, `^(a|b)*c?$`, `^\d{2,}x`, `^(?i)lh[0-9]+$`, `^$`, `^$^`, `^(a$|b)`,
		`^[^A-Z]{2}$`, `^.{3}$`, `^(x(y)?){2,3}$`, `^a+?b$`, `^(a*)*$`, `^\$argon2id\$`, `^[a-c]|z$`,
		`^é$`, `^[A-Z]{3}\z`, `^x.*`)
	alphabet := []byte("ABCLHZabcxyz019-$.\n \x00")
	r := rand.New(rand.NewPCG(1, 2))
	matched := 0
	for _, expr := range exprs {
		re := regexp.MustCompile(expr)
		p, err := compilePattern(expr)
		if err != nil {
			t.Fatal(err)
		}
		var inputs [][]byte
		for _, s := range []string{"", "\n", "A", "ABC", "ABC\n", "\nABC", "LH400", "LH400-2026-11-17", "LH400A-2026-11-17", "12A", "1234K", "ABC123",
			"WCHR", "$argon2id$v=19", "é", "Aé", "ABé", "ab c", "abc", "aac", "lh12", "LH12", "xyz", "xyy"} {
			inputs = append(inputs, []byte(s))
		}
		for i := 0; i < 2000; i++ {
			b := make([]byte, r.IntN(20))
			for j := range b {
				b[j] = alphabet[r.IntN(len(alphabet))]
			}
			inputs = append(inputs, b)
			if p.dfa != nil {
				inputs = append(inputs, walkDFA(p.dfa, r), append(walkDFA(p.dfa, r), "é"[0]))
			}
		}
		for _, in := range inputs {
			want := re.Match(in)
			if got := p.Match(in); got != want {
				t.Errorf("pattern %q on %q: %v, regexp says %v (dfa %v)", expr, in, got, want, p.dfa != nil)
			}
			if want {
				matched++
			}
		}
	}
	if matched < 5000 {
		t.Errorf("only %d inputs matched: the walks do not reach the matches", matched)
	}
}

// walkDFA returns a string read along the automaton's live transitions.
func walkDFA(d *asciiDFA, r *rand.Rand) []byte {
	var b []byte
	s := int32(0)
	for len(b) < 24 {
		if (d.final[s] || d.early[s]) && r.IntN(3) == 0 {
			break
		}
		var live []byte
		for c := range d.next[s] {
			if d.next[s][c] >= 0 {
				live = append(live, byte(c))
			}
		}
		if len(live) == 0 {
			break
		}
		c := live[r.IntN(len(live))]
		b = append(b, c)
		s = d.next[s][c]
	}
	return b
}

// TestSchemaPatternsHaveADFA: the contract's patterns take the fast path.
func TestSchemaPatternsHaveADFA(t *testing.T) {
	for _, expr := range schemaPatterns(t) {
		if compileASCIIDFA(expr) == nil {
			t.Errorf("pattern %q has no DFA: every value of it goes to the regexp", expr)
		}
	}
	for _, expr := range []string{`[A-Z]{3}`, `^\bA`, `^a(?m)$`} {
		if compileASCIIDFA(expr) != nil {
			t.Errorf("pattern %q has a DFA; it is not anchored at the start or asserts more than the text's ends", expr)
		}
	}
}

func BenchmarkPattern(b *testing.B) {
	const expr = `^[A-Z0-9]{2}[0-9]{1,4}[A-Z]?-[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	v := []byte("LH1234-2026-11-17")
	re := regexp.MustCompile(expr)
	p, _ := compilePattern(expr)
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			re.Match(v)
		}
	})
	b.Run("dfa", func(b *testing.B) {
		for b.Loop() {
			p.Match(v)
		}
	})
}
