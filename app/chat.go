package app

import (
	"context"
	"encoding/json"
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
	Messages []ChatMessage
	// Prompt, when set, is sent as a completion instead of Messages: a
	// base model continues it as it stands, with no chat template.
	Prompt    string
	Format    json.RawMessage
	MaxTokens int
	Stop      []string // sequences that end the answer
}

// ChatReply is the model's answer and what produced it.
type ChatReply struct {
	Content      string
	Model        string
	Digest       string
	OutputTokens int
	Truncated    bool // stopped at MaxTokens: the answer may be cut short
	FirstToken   time.Duration
	Total        time.Duration
}

// ChatModel is a local chat model. Chat calls onToken, if not nil, with
// each piece of the answer as it is produced. It returns EUNAVAILABLE when
// the model server cannot be reached.
type ChatModel interface {
	Chat(ctx context.Context, req ChatRequest, onToken func(string)) (ChatReply, error)
}
