package inference

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/ollama/ollama/api"
)

// ChatClient talks to a local Ollama chat model through
// github.com/ollama/ollama/api. At most MaxConcurrency calls run at once,
// the caller's context bounds each call, and MaxTokens caps every answer.
type ChatClient struct {
	BaseURL        string // e.g. http://127.0.0.1:11434
	Model          string // e.g. gemma3:270m
	MaxConcurrency int
	Logger         *slog.Logger

	api    *api.Client
	sem    chan struct{}
	mu     sync.Mutex
	digest string
}

// Open prepares the client; it does not need the server to be up.
func (c *ChatClient) Open() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Host == "" {
		return app.Errorf(app.EINVALID, "ollama.url: %q is not a URL", c.BaseURL)
	}
	if c.Model == "" {
		return app.Errorf(app.EINVALID, "ollama.chat_model: must not be empty")
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("subsystem", "chat")
	c.api = api.NewClient(u, &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, ResponseHeaderTimeout: 2 * time.Minute}})
	c.sem = make(chan struct{}, c.MaxConcurrency)
	return nil
}

// Close releases nothing; it exists for the common lifecycle.
func (c *ChatClient) Close(context.Context) error { return nil }

// Digest returns the model's digest, looked up once.
func (c *ChatClient) Digest(ctx context.Context) (string, error) {
	c.mu.Lock()
	d := c.digest
	c.mu.Unlock()
	if d != "" {
		return d, nil
	}
	list, err := c.api.List(ctx)
	if err != nil {
		return "", unavailable(err)
	}
	for _, m := range list.Models {
		if m.Name == c.Model || m.Model == c.Model || strings.TrimSuffix(m.Name, ":latest") == c.Model {
			c.mu.Lock()
			c.digest = m.Digest
			c.mu.Unlock()
			return m.Digest, nil
		}
	}
	return "", app.Errorf(app.ENOTFOUND, "chat model %q is not in Ollama at %s: run scripts/setup-models.sh or apron model import", c.Model, c.BaseURL)
}

// Chat implements app.ChatModel.
func (c *ChatClient) Chat(ctx context.Context, req app.ChatRequest, onToken func(string)) (app.ChatReply, error) {
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	case <-ctx.Done():
		return app.ChatReply{}, app.Errorf(app.EUNAVAILABLE, "chat model busy: %v", ctx.Err())
	}
	digest, err := c.Digest(ctx)
	if err != nil {
		return app.ChatReply{}, err
	}
	msgs := make([]api.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = api.Message{Role: m.Role, Content: m.Content}
	}
	maxTokens := req.MaxTokens
	if maxTokens <= 0 {
		maxTokens = 256
	}
	opts := map[string]any{"num_predict": maxTokens, "temperature": 0, "seed": 42}
	if len(req.Stop) > 0 {
		opts["stop"] = req.Stop
	}
	stream := true
	start := time.Now()
	reply := app.ChatReply{Model: c.Model, Digest: digest}
	var b strings.Builder
	piece := func(content string, done bool, reason string, evals int) {
		if content != "" {
			if b.Len() == 0 {
				reply.FirstToken = time.Since(start)
			}
			b.WriteString(content)
			if onToken != nil {
				onToken(content)
			}
		}
		if done {
			reply.OutputTokens = evals
			reply.Truncated = reason == "length"
		}
	}
	if req.Prompt != "" {
		// A completion: a base model continues the text as it stands,
		// with no chat template around it.
		raw := true
		err = c.api.Generate(ctx, &api.GenerateRequest{Model: c.Model, Prompt: req.Prompt, Raw: raw, Format: req.Format, Stream: &stream, Options: opts},
			func(r api.GenerateResponse) error { piece(r.Response, r.Done, r.DoneReason, r.EvalCount); return nil })
	} else {
		// Deterministic answers make the audit trail reproducible.
		err = c.api.Chat(ctx, &api.ChatRequest{Model: c.Model, Messages: msgs, Format: req.Format, Stream: &stream, Options: opts},
			func(r api.ChatResponse) error {
				piece(r.Message.Content, r.Done, r.DoneReason, r.EvalCount)
				return nil
			})
	}
	reply.Total = time.Since(start)
	reply.Content = b.String()
	if err != nil {
		return reply, unavailable(err)
	}
	return reply, nil
}

// unavailable maps transport failures to EUNAVAILABLE and keeps the cause.
func unavailable(err error) error {
	var se api.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		return app.Errorf(app.ENOTFOUND, "ollama: %s", se.ErrorMessage)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return app.Errorf(app.EUNAVAILABLE, "chat model timed out")
	}
	return app.Errorf(app.EUNAVAILABLE, "ollama unreachable: %v", fmt.Sprint(err))
}
