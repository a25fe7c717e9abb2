package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
)

// runBench implements `apron bench NAME [flags]`: it runs one harness of
// package bench in a temporary directory with the sizes the README quotes.
func runBench(ctx context.Context, args []string) error {
	const usage = "usage: apron bench ingest|console|bridge|assist|assist-live|embed|search [flags]"
	if len(args) < 1 {
		return fmt.Errorf(usage)
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, usage)
		return flag.ErrHelp
	}
	// The harnesses without flags of their own still answer -h, and
	// refuse what they do not know, before anything runs.
	switch args[0] {
	case "console", "bridge", "embed":
		fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("bench %s takes no arguments, got %q", args[0], fs.Args())
		}
	}
	dir, err := os.MkdirTemp("", "apron-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := node.DefaultConfig()
	switch args[0] {
	case "ingest":
		return bench.Ingest(ctx, bench.IngestConfig{Dir: filepath.Join(dir, "x"), Out: os.Stdout, Events: 100000, Timeout: 10 * time.Minute}, args[1:])
	case "console":
		return bench.Console(ctx, dir, os.Stdout, 750, 40)
	case "bridge":
		return bench.Bridge(ctx, dir, os.Stdout, 20000)
	case "embed":
		return bench.Embed(ctx, dir, os.Stdout, cfg.Ollama.URL, cfg.Ollama.EmbedModel, 30, bench.MinSamplesP99)
	case "search":
		return bench.Search(ctx, bench.SearchConfig{Dir: dir, Out: os.Stdout, Sizes: []int{100_000, 1_000_000}, Dim: 384, K: 10, Queries: 200,
			Oversample: 8, OllamaURL: cfg.Ollama.URL, EmbedModel: cfg.Ollama.EmbedModel, RecallDocs: 3000}, args[1:])
	case "assist":
		fs := flag.NewFlagSet("bench assist", flag.ContinueOnError)
		rounds := fs.Int("rounds", bench.MinSamplesP95, "ranking calls of each kind, through apron and straight to Ollama, after a warm-up "+
			"(p95 from 20, p99 from 100; a call takes a few seconds on two cores)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("bench assist takes no arguments, got %q", fs.Args())
		}
		if *rounds < 1 {
			return fmt.Errorf("bench assist: -rounds must be at least 1, got %d", *rounds)
		}
		return bench.Assist(ctx, os.Stdout, cfg.Ollama.URL, cfg.Ollama.ChatModel, *rounds)
	case "assist-live":
		fs := flag.NewFlagSet("bench assist-live", flag.ContinueOnError)
		duration := fs.Duration("duration", 10*time.Minute, "how long the simulated day plays while questions are asked")
		speed := fs.Float64("speed", 60, "the simulated clock's speed (the demo's default)")
		departures := fs.Int("departures", 300, "departures of the simulated day")
		every := fs.Duration("every", 2*time.Second, "one question and one search this often")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return bench.AssistLive(ctx, bench.LiveConfig{Dir: dir, Out: os.Stdout, OllamaURL: cfg.Ollama.URL, Duration: *duration, Speed: *speed,
			Departures: *departures, Seed: 3, Every: *every})
	}
	return fmt.Errorf("unknown benchmark %q (have: ingest, console, bridge, assist, assist-live, embed, search)", args[0])
}

// runEval implements `apron eval [-seed N] [-hub X] [-departures N]
// [-ollama URL]`: a simulated disruption day with a known truth, played
// into a node in a temporary directory, and the figures of how well it
// answers (bench.Eval).
func runEval(ctx context.Context, args []string) error {
	var ollama *string
	cfg, fs, err := node.LoadConfigWithFlags("eval", args, func(fs *flag.FlagSet) {
		ollama = fs.String("ollama", "", `Ollama URL (default: the node's ollama.url); "off" runs without models`)
	})
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	ec := bench.EvalConfig{Seed: cfg.Demo.Seed, Hub: cfg.Hub, Departures: 40, OllamaURL: cfg.Ollama.URL,
		ChatModel: cfg.Ollama.ChatModel, EmbedModel: cfg.Ollama.EmbedModel}
	if set["departures"] {
		ec.Departures = cfg.Demo.Departures
	}
	if set["ollama"] {
		ec.OllamaURL = *ollama
		if ec.OllamaURL == "off" {
			ec.OllamaURL = ""
		}
	}
	_, err = bench.Eval(ctx, os.Stdout, ec)
	return err
}
