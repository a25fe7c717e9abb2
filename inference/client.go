// Package inference owns the local model server, Ollama: embeddings in
// batches, model metadata and health. It speaks Ollama's HTTP API through
// github.com/ollama/ollama/api and never downloads a model.
package inference

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ollama/ollama/api"

	"github.com/apron-edge/apron/app"
)

// Defaults of the Client's fields.
const (
	DefaultBaseURL        = "http://127.0.0.1:11434"
	DefaultEmbedModel     = "all-minilm:l6-v2"
	DefaultTimeout        = 60 * time.Second
	DefaultMaxConcurrency = 2
	DefaultBatchSize      = 64
	DefaultRetries        = 3
)

// FixModelHint says how to make a missing model available.
const FixModelHint = "run scripts/setup-models.sh, or import it offline with `apron model import PATH`"

// Client talks to one Ollama server. Set the fields, then Open.
type Client struct {
	BaseURL        string        // e.g. http://127.0.0.1:11434
	EmbedModel     string        // e.g. all-minilm:l6-v2
	Timeout        time.Duration // per HTTP call
	MaxConcurrency int           // embed calls in flight at once
	BatchSize      int           // inputs per /api/embed call
	Retries        int           // attempts after the first, on transient errors
	RetryMin       time.Duration // first wait between attempts
	RetryMax       time.Duration
	Logger         *slog.Logger
	HTTPClient     *http.Client

	api  *api.Client
	http *http.Client
	sem  chan struct{}

	mu    sync.Mutex
	model *app.EmbedModel // cached ModelInfo of EmbedModel
}

// Open checks the configuration and prepares the client. It does not
// contact the server: a node starts even while Ollama is down, and the
// embedding stage waits for it.
func (c *Client) Open() error {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.EmbedModel == "" {
		c.EmbedModel = DefaultEmbedModel
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxConcurrency <= 0 {
		c.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 200 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("subsystem", "inference")
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return app.Errorf(app.EINVALID, "ollama URL %q: want http://host:port", c.BaseURL)
	}
	c.http = c.HTTPClient
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:               nil, // the model server is local; never route it through a proxy
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: c.MaxConcurrency + 2,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	c.api = api.NewClient(u, c.http)
	c.sem = make(chan struct{}, c.MaxConcurrency)
	return nil
}

// Close releases idle connections.
func (c *Client) Close(ctx context.Context) error {
	if c.http != nil {
		c.http.CloseIdleConnections()
	}
	return nil
}

// Health returns nil when the server answers and has the embedding model.
// Returns EUNAVAILABLE or ENOTFOUND.
func (c *Client) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(c.Timeout, 5*time.Second))
	defer cancel()
	if _, err := c.api.Version(ctx); err != nil {
		return c.classify(err, "")
	}
	_, err := c.ModelInfo(ctx, c.EmbedModel)
	return err
}

// ModelInfo returns the digest and embedding dimension of model name.
// Returns ENOTFOUND when the server lacks the model, EUNAVAILABLE when it
// cannot be reached.
func (c *Client) ModelInfo(ctx context.Context, name string) (app.EmbedModel, error) {
	m := app.EmbedModel{Name: name}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	list, err := c.api.List(ctx)
	if err != nil {
		return m, c.classify(err, name)
	}
	for _, lm := range list.Models {
		if sameModel(lm.Name, name) || sameModel(lm.Model, name) {
			m.Digest = lm.Digest
			break
		}
	}
	if m.Digest == "" {
		return m, c.missing(name)
	}
	show, err := c.api.Show(ctx, &api.ShowRequest{Model: name})
	if err != nil {
		return m, c.classify(err, name)
	}
	arch, _ := show.ModelInfo["general.architecture"].(string)
	if v, ok := show.ModelInfo[arch+".embedding_length"].(float64); ok {
		m.Dim = int(v)
	}
	if m.Dim == 0 {
		return m, app.Errorf(app.EINVALID, "model %s reports no embedding length; is it an embedding model?", name)
	}
	return m, nil
}

// sameModel compares model names, a missing tag meaning "latest".
func sameModel(a, b string) bool {
	norm := func(s string) string {
		if !strings.Contains(s, ":") {
			s += ":latest"
		}
		return s
	}
	return norm(a) == norm(b)
}

// WithModel returns a client of the same server for another embedding
// model, sharing connections and the concurrency bound.
func (c *Client) WithModel(name string) app.Embedder {
	return &Client{
		BaseURL: c.BaseURL, EmbedModel: name, Timeout: c.Timeout, MaxConcurrency: c.MaxConcurrency, BatchSize: c.BatchSize,
		Retries: c.Retries, RetryMin: c.RetryMin, RetryMax: c.RetryMax, Logger: c.Logger, HTTPClient: c.HTTPClient,
		api: c.api, http: c.http, sem: c.sem,
	}
}

// Model returns the embedding model's name, digest and dimension, asking
// the server once and remembering the answer.
func (c *Client) Model(ctx context.Context) (app.EmbedModel, error) {
	c.mu.Lock()
	if c.model != nil {
		m := *c.model
		c.mu.Unlock()
		return m, nil
	}
	c.mu.Unlock()
	m, err := c.ModelInfo(ctx, c.EmbedModel)
	if err != nil {
		return m, err
	}
	c.mu.Lock()
	c.model = &m
	c.mu.Unlock()
	return m, nil
}

// Embed returns one vector per text, in order. Texts go to the server in
// batches of BatchSize inputs per /api/embed call, at most MaxConcurrency
// calls at once; a call that fails for a transient reason (connection
// refused, 5xx, timeout) is retried with backoff. Returns EUNAVAILABLE when
// the server stays unreachable, ENOTFOUND when the model is missing.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for start := 0; start < len(texts); start += c.BatchSize {
		end := min(start+c.BatchSize, len(texts))
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			if firstErr != nil {
				return nil, firstErr
			}
			return nil, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-c.sem }()
			vs, err := c.embedBatch(ctx, texts[start:end])
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
				return
			}
			copy(out[start:end], vs)
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func (c *Client) embedBatch(ctx context.Context, texts []string) ([][]float32, error) {
	wait := c.RetryMin
	truncate := true
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.Timeout)
		resp, err := c.api.Embed(actx, &api.EmbedRequest{Model: c.EmbedModel, Input: texts, Truncate: &truncate})
		cancel()
		if err == nil {
			if len(resp.Embeddings) != len(texts) {
				return nil, app.Errorf(app.EINTERNAL, "ollama returned %d embeddings for %d inputs", len(resp.Embeddings), len(texts))
			}
			return resp.Embeddings, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !transient(err) || attempt >= c.Retries {
			return nil, c.classify(err, c.EmbedModel)
		}
		c.Logger.Debug("embed call failed, retrying", "err", err, "inputs", len(texts), "attempt", attempt+1, "in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wait = min(wait*2, c.RetryMax)
	}
}

// transient reports whether a failed call may succeed if repeated.
func transient(err error) bool {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne)
}

// classify turns an API or transport error into an app error.
func (c *Client) classify(err error, model string) error {
	var se api.StatusError
	if errors.As(err, &se) {
		switch {
		case se.StatusCode == http.StatusNotFound:
			return c.missing(model)
		case se.StatusCode >= 500 || se.StatusCode == http.StatusTooManyRequests:
			return &wrapped{app.Errorf(app.EUNAVAILABLE, "ollama at %s failed: %s", c.BaseURL, se.ErrorMessage), err}
		default:
			return &wrapped{app.Errorf(app.EINVALID, "ollama refused the request: %s", se.ErrorMessage), err}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &wrapped{app.Errorf(app.EUNAVAILABLE, "ollama at %s did not answer within %s", c.BaseURL, c.Timeout), err}
	}
	if transient(err) {
		return &wrapped{app.Errorf(app.EUNAVAILABLE, "ollama at %s is not reachable; start it with scripts/ollama.sh start", c.BaseURL), err}
	}
	return fmt.Errorf("ollama: %w", err)
}

func (c *Client) missing(model string) error {
	return app.Errorf(app.ENOTFOUND, "model %s is missing in ollama at %s: %s", model, c.BaseURL, FixModelHint)
}

// wrapped keeps the transport error in the chain under an app error, so
// logs show the cause while callers see the code.
type wrapped struct {
	code  *app.Error
	cause error
}

func (w *wrapped) Error() string   { return w.code.Error() + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.code, w.cause} }
