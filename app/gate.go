package app

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// ChatMessage is one turn of a conversation with the model.
type ChatMessage struct {
	Role    string `json:"role"` // system, user or assistant
	Content string `json:"content"`
}

// ChatRequest asks the model for one answer. Format, when set, is a JSON
// Schema the answer must follow (constrained decoding).
type ChatRequest struct {
	Messages  []ChatMessage
	Format    json.RawMessage
	MaxTokens int
}

// ChatReply is the model's answer and what produced it.
type ChatReply struct {
	Content      string
	Model        string
	Digest       string
	OutputTokens int
	FirstToken   time.Duration
	Total        time.Duration
}

// ChatModel is a local chat model. Chat calls onToken, if not nil, with
// each piece of the answer as it is produced. It returns EUNAVAILABLE when
// the model server cannot be reached.
type ChatModel interface {
	Chat(ctx context.Context, req ChatRequest, onToken func(string)) (ChatReply, error)
}

// ModelGate shares one chat model between staff questions and background
// work: background calls wait while any question is being answered, so a
// person at the desk never queues behind the proposal ranking.
type ModelGate struct {
	Model ChatModel
	mu    sync.Mutex
	fg    int
	idle  *sync.Cond
}

// Foreground returns the model for staff questions.
func (g *ModelGate) Foreground() ChatModel { return gateModel{g, true} }

// Background returns the model for background work.
func (g *ModelGate) Background() ChatModel { return gateModel{g, false} }

type gateModel struct {
	g  *ModelGate
	fg bool
}

func (m gateModel) Chat(ctx context.Context, req ChatRequest, onToken func(string)) (ChatReply, error) {
	g := m.g
	g.mu.Lock()
	if g.idle == nil {
		g.idle = sync.NewCond(&g.mu)
	}
	if m.fg {
		g.fg++
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.fg--
			g.idle.Broadcast()
			g.mu.Unlock()
		}()
		return g.Model.Chat(ctx, req, onToken)
	}
	for g.fg > 0 && ctx.Err() == nil {
		g.idle.Wait()
	}
	g.mu.Unlock()
	return g.Model.Chat(ctx, req, onToken)
}
