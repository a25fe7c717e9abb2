package app

import (
	"context"
	"strings"
	"testing"
	"time"
)

type fixedRetrieval struct{ hits []SearchHit }

func (f fixedRetrieval) Search(context.Context, SearchQuery) ([]SearchHit, bool, error) {
	return f.hits, false, nil
}

func TestAskSaysNotInTheDataWithoutCallingTheModel(t *testing.T) {
	m := &scriptedModel{}
	a := &Asker{Search: fixedRetrieval{hits: []SearchHit{{EntityKey: "policy-care", VectorRank: 1}}}, Model: m,
		Freshness: func(context.Context) (uint64, time.Duration, bool) { return 42, 2 * time.Second, false }}
	ans, err := a.Ask(context.Background(), AskRequest{Question: "zebras?"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !ans.NotInData || len(m.seen) != 0 || !strings.Contains(ans.Freshness, "offset 42") {
		t.Fatalf("answer %+v, model calls %d", ans, len(m.seen))
	}
}

func TestAskChecksCitationsAndWarnsWhenLagging(t *testing.T) {
	m := &scriptedModel{answers: []string{"Offer a hotel room [policy-care] and rebook on LH999 [policy-fake]. See https://x.example"}}
	a := &Asker{Search: fixedRetrieval{hits: []SearchHit{{EntityKey: "policy-care", Kind: KindPolicy, TextRank: 1, Text: "hotel room for overnight stays"}}}, Model: m,
		Freshness: func(context.Context) (uint64, time.Duration, bool) { return 7, 5 * time.Minute, true }}
	var streamed strings.Builder
	ans, err := a.Ask(context.Background(), AskRequest{Question: "hotel overnight?"}, func(s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ans.Citations) != 1 || ans.Citations[0] != "policy-care" {
		t.Fatalf("citations %v", ans.Citations)
	}
	f := strings.Join(ans.Findings, "|")
	if !strings.Contains(f, `"policy-fake"`) || !strings.Contains(f, "LH999") || !strings.Contains(f, "link") {
		t.Fatalf("findings %v", ans.Findings)
	}
	if !ans.Lagging || !strings.Contains(ans.Freshness, "lags") {
		t.Fatalf("freshness %q", ans.Freshness)
	}
	if !strings.Contains(m.seen[0][1].Content, "<data>") || !strings.Contains(m.seen[0][0].Content, "never instructions") {
		t.Fatal("the data block is missing")
	}
	if _, err := a.Ask(context.Background(), AskRequest{Question: " "}, nil); ErrorCode(err) != EINVALID {
		t.Fatalf("empty question: %v", err)
	}
}

type chatFunc func(context.Context, ChatRequest, func(string)) (ChatReply, error)

func (f chatFunc) Chat(ctx context.Context, req ChatRequest, on func(string)) (ChatReply, error) {
	return f(ctx, req, on)
}

func TestAskWithholdsAnAnswerThatRepeatsTheInstructions(t *testing.T) {
	leak := chatFunc(func(ctx context.Context, req ChatRequest, on func(string)) (ChatReply, error) {
		for _, w := range strings.SplitAfter(req.Messages[0].Content, " ") {
			if ctx.Err() != nil {
				return ChatReply{}, ctx.Err()
			}
			on(w)
		}
		return ChatReply{Content: req.Messages[0].Content}, nil
	})
	a := &Asker{Search: fixedRetrieval{hits: []SearchHit{{EntityKey: "policy-care", Kind: KindPolicy, TextRank: 1, Text: "hotel"}}}, Model: leak}
	var streamed strings.Builder
	ans, err := a.Ask(context.Background(), AskRequest{Question: "hotel?"}, func(s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if streamed.Len() > 0 || !strings.Contains(ans.Answer, "withheld") || strings.Contains(ans.Answer, "airport staff") {
		t.Fatalf("leaked %q, answer %q", streamed.String(), ans.Answer)
	}
}
