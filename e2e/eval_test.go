package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/apron-edge/apron/bench"
)

// TestEvalMeetsItsAims runs `apron eval` at a small size and holds the
// figures to the aims of issue 11: facts right with their citations at
// least 95% of the time, the right policy document first at least 90%,
// "Not in the data" for every nonexistent entity and unanswerable
// question, and no citation of anything the store does not hold. Without
// -short it runs with the real models.
func TestEvalMeetsItsAims(t *testing.T) {
	cases := []struct {
		name   string
		ollama string
	}{{"rules only", ""}}
	if !testing.Short() {
		cases = append(cases, struct {
			name   string
			ollama string
		}{"real models", ollamaTestURL()})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			res, err := bench.Eval(context.Background(), &out, bench.EvalConfig{Dir: t.TempDir(), Seed: 21, Hub: "ZRH", Departures: 8, OllamaURL: c.ollama})
			t.Logf("\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
			if res.Factual.Rate() < 0.95 || res.Policy.Rate() < 0.9 || res.NotInData.Rate() < 1 || res.Invented != 0 {
				for _, q := range res.Failed() {
					t.Errorf("[%s/%s] %q: %s %v", q.Class, q.Topic, q.Text, q.Why, q.Invented)
				}
				t.Fatalf("facts %s, policy %s, not in the data %s, invented %d", res.Factual, res.Policy, res.NotInData, res.Invented)
			}
			if res.Factual.Asked < 30 || res.Policy.Asked < 10 || res.NotInData.Asked < 8 {
				t.Fatalf("too few questions: %d facts, %d policy, %d not in the data", res.Factual.Asked, res.Policy.Asked, res.NotInData.Asked)
			}
			// At this size the day has few alternatives: proposals without
			// options are honest; an invalid option never is.
			if res.Disrupted > 0 && res.Proposals == 0 || res.Options.Right != res.Options.Asked {
				t.Fatalf("rebooking: %d of %d disrupted bookings covered, %s options valid", res.Covered, res.Disrupted, res.Options)
			}
			if c.ollama != "" && (res.SummaryAsked == 0 || !res.IndexSampled) {
				t.Fatalf("with models: %d summaries asked, index sampled %v", res.SummaryAsked, res.IndexSampled)
			}
		})
	}
}
