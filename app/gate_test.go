package app

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestModelGateLetsQuestionsGoFirst(t *testing.T) {
	release := make(chan struct{})
	order := make(chan string, 3)
	slow := chatFunc(func(ctx context.Context, req ChatRequest, _ func(string)) (ChatReply, error) {
		if req.MaxTokens == 1 { // the question in flight
			<-release
		}
		order <- req.Messages[0].Content
		return ChatReply{}, nil
	})
	g := &ModelGate{Model: slow}
	go func() {
		_, _ = g.Foreground().Chat(context.Background(), ChatRequest{Messages: []ChatMessage{{Content: "question"}}, MaxTokens: 1}, nil)
	}()
	checkFor(t, 5*time.Second, func() error {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.fg != 1 {
			return fmt.Errorf("%d questions in flight, want 1", g.fg)
		}
		return nil
	})
	done := make(chan struct{})
	go func() {
		_, _ = g.Background().Chat(context.Background(), ChatRequest{Messages: []ChatMessage{{Content: "background"}}}, nil)
		close(done)
	}()
	close(release)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the background call did not finish after the question")
	}
	if first := <-order; first != "question" {
		t.Fatalf("%s ran before the question", first)
	}
}
