package app

import (
	"context"
	"fmt"
	"testing"
)

// flakyEmbedder is a deterministic stand-in: it fails the calls listed in
// fail (1-based) and records every text it was asked to embed.
type flakyEmbedder struct {
	calls int
	fail  map[int]bool
	asked map[string]int
}

func (f *flakyEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.calls++
	if f.fail[f.calls] {
		return nil, Errorf(EUNAVAILABLE, "down")
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		f.asked[t]++
		out[i] = []float32{float32(len(t))}
	}
	return out, nil
}

func (f *flakyEmbedder) Model(ctx context.Context) (EmbedModel, error) {
	return EmbedModel{Name: "fake", Digest: "sha256:fake", Dim: 1}, nil
}

func TestEmbedKeepsChunksThatSucceededAcrossAFailure(t *testing.T) {
	f := &flakyEmbedder{fail: map[int]bool{3: true}, asked: map[string]int{}}
	s := &EmbedStage{Embedder: f, EmbedChunk: 2}
	model, _ := f.Model(context.Background())
	texts := map[string]string{}
	var hashes []string
	for i := range 5 {
		text := fmt.Sprintf("text %d", i)
		texts[TextHash(text)] = text
		hashes = append(hashes, TextHash(text))
	}
	// Chunks of 2: the first two calls succeed, the third fails.
	if _, _, err := s.embed(context.Background(), f, model, hashes, texts); ErrorCode(err) != EUNAVAILABLE {
		t.Fatalf("first try: %v", err)
	}
	vs, n, err := s.embed(context.Background(), f, model, hashes, texts)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || len(vs) != 5 {
		t.Fatalf("retry embedded %d texts and returned %d vectors, want 1 and 5", n, len(vs))
	}
	for text, times := range f.asked {
		if times != 1 {
			t.Errorf("%q embedded %d times", text, times)
		}
	}
	s.forget(model, texts)
	if len(s.pending) != 0 {
		t.Fatalf("%d vectors pending after the commit", len(s.pending))
	}
}
