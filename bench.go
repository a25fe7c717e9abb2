package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func runBench(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("usage: apron bench ingest|console|bridge|assist|embed|search [flags]")
	}
	dir, err := os.MkdirTemp("", "apron-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	switch args[0] {
	case "ingest":
		return BenchIngest(ctx, BenchIngestConfig{Dir: filepath.Join(dir, "x"), Out: os.Stdout, Events: 20000, Timeout: 10 * time.Minute}, args[1:])
	case "console":
		return BenchConsole(ctx, dir, os.Stdout, 750, 40)
	case "bridge":
		return BenchBridge(ctx, dir, os.Stdout, 20000)
	case "embed":
		cfg := DefaultConfig()
		return BenchEmbed(ctx, dir, os.Stdout, cfg.Ollama.URL, cfg.Ollama.EmbedModel, 30)
	case "search":
		cfg := DefaultConfig()
		return BenchSearch(ctx, BenchSearchConfig{Dir: dir, Out: os.Stdout, Sizes: []int{100_000, 1_000_000}, Dim: 384, K: 10, Queries: 200,
			Oversample: 8, OllamaURL: cfg.Ollama.URL, EmbedModel: cfg.Ollama.EmbedModel, RecallDocs: 3000}, args[1:])
	case "assist":
		cfg := DefaultConfig()
		return BenchAssist(ctx, os.Stdout, cfg.Ollama.URL, cfg.Ollama.ChatModel, 5)
	}
	return fmt.Errorf("unknown benchmark %q (have: ingest, console, bridge, assist, embed, search)", args[0])
}
