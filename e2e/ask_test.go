package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
)

// TestAskThroughTheRealModels asks over the API with the real embedding and
// chat models: a streamed answer grounded in the retrieved policy, with
// the freshness stamp, and "not in the data" for a question the data does
// not cover.
func TestAskThroughTheRealModels(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	m := MustRunMain(t, func(c *node.Config) {
		c.Ollama.URL = ollamaTestURL()
		c.Ollama.Timeout = node.Duration(3 * time.Minute)
	})
	day := sim.Generate(sim.Config{Seed: 4, Date: "2026-11-25", Departures: 4, Bookings: 5})
	if err := sim.Play(context.Background(), m.Broker, day, sim.NewClock(day.Start, 1e9), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 3*time.Minute, func() error {
		off, age, lag := m.IndexFreshness(context.Background())
		ti, _ := m.Broker.Topic(context.Background(), app.TopicDocuments)
		pos, _ := m.Store.Position(context.Background(), app.IndexConsumer, app.TopicDocuments)
		if lag || pos < ti.LastOffset || off == 0 {
			return fmt.Errorf("index at %d (%s behind)", off, age)
		}
		return nil
	})
	ask := func(body string, stream bool) *http.Response {
		req, _ := http.NewRequest("POST", m.HTTP.URL()+"/api/v1/ask", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if stream {
			req.Header.Set("Accept", "text/event-stream")
		}
		authorize(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// Streamed: token events, then the answer.
	resp := ask(`{"question":"What does the policy say about a hotel room for an overnight cancellation?"}`, true)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	tokens, streamed := 0, ""
	var ans app.AskAnswer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "token":
			tokens++
			streamed += strings.TrimPrefix(line, "data: ")
		case strings.HasPrefix(line, "data: ") && event == "answer":
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ans); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "data: ") && event == "error":
			t.Fatalf("error event: %s", line)
		}
	}
	resp.Body.Close()
	t.Logf("tokens=%d answer=%q citations=%v findings=%v freshness=%q", tokens, ans.Answer, ans.Citations, ans.Findings, ans.Freshness)
	found := false
	for _, s := range ans.Sources {
		if s.ID == "policy-care" {
			found = true
		}
	}
	if ans.Answer == "" || !found || !strings.Contains(ans.Freshness, "as of index offset") || ans.Model != "gemma3:270m" {
		t.Fatalf("streamed answer: %+v", ans)
	}
	// The small base model often repeats its prompt: then nothing of it may
	// have reached the client and the answer says it was withheld.
	if strings.Contains(ans.Answer, "You answer questions") || strings.Contains(streamed, "You answer questions") || strings.Contains(streamed, "<data>") {
		t.Fatalf("the instructions leaked: %q", streamed)
	}
	if tokens == 0 && !strings.Contains(ans.Answer, "withheld") {
		t.Fatalf("no tokens streamed and no reason given: %+v", ans)
	}
	for _, c := range ans.Citations {
		if c != "policy-care" && !strings.HasPrefix(c, "policy-") && !strings.Contains(c, "-2026-") {
			t.Fatalf("citation %q is not a retrieved source", c)
		}
	}
	// JSON, about something the data does not hold.
	resp = ask(`{"question":"zebra migration kilimanjaro"}`, false)
	var notIn app.AskAnswer
	_ = json.NewDecoder(resp.Body).Decode(&notIn)
	resp.Body.Close()
	if resp.StatusCode != 200 || !notIn.NotInData {
		t.Fatalf("unrelated question: %d %+v", resp.StatusCode, notIn)
	}
	if resp := ask(`{"question":"x","booking":"nope"}`, false); resp.StatusCode != 400 {
		t.Fatalf("bad booking scope: %d", resp.StatusCode)
	}
	// The same question on the log: the answer comes back on the log with
	// the correlation id.
	if code, body := post(t, m.HTTP.URL()+"/api/v1/topics/assist/events", assistRequest(t, "ask-1", app.AssistRequest{CorrelationID: "desk-7", Question: "hotel room overnight cancellation"})); code != 200 {
		t.Fatal(code, body)
	}
	got := waitAssistAnswer(t, m, "desk-7", 3*time.Minute)
	if got.Answer == nil || got.Answer.Freshness == "" || len(got.Answer.Sources) == 0 {
		t.Fatalf("assist answer: %+v", got)
	}
}

func TestBenchAssistRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Ollama")
	}
	var out strings.Builder
	if err := bench.Assist(context.Background(), &out, ollamaTestURL(), "gemma3:270m", 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "overhead ratio") || !strings.Contains(out.String(), "300 stranded bookings") {
		t.Fatalf("output: %s", out.String())
	}
}
