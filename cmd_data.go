package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/node"
	"github.com/apron-edge/apron/vectors"
)

// The commands that work on a node's data directory: rebuild and check
// (node stopped) and search (while it runs, too).

func logHeads(ctx context.Context, b *broker.Broker) (map[string]uint64, error) {
	heads := map[string]uint64{}
	for _, t := range app.StateTopics {
		ti, err := b.Topic(ctx, t)
		if err != nil {
			return nil, err
		}
		heads[t] = ti.LastOffset
	}
	return heads, nil
}

// runRebuild implements `apron rebuild`: it replays the log into a fresh
// state store and puts it in place of the old one (node stopped).
func runRebuild(ctx context.Context, args []string) error {
	cfg, _, err := node.LoadConfig("rebuild", args)
	if err != nil {
		return err
	}
	logger := node.NewLogger(cfg.LogLevel)
	b, err := node.OpenLogOnly(cfg, logger)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close(context.Background()) }()
	tmp := cfg.StatePath() + ".rebuild"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(tmp + suffix)
	}
	st := vectors.NewStore(tmp)
	st.Logger = logger
	if err := st.Open(); err != nil {
		return err
	}
	heads, err := logHeads(ctx, b)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := app.Replay(ctx, b, st, heads, b.Trusted); err != nil {
		_ = st.Close(context.Background())
		return err
	}
	if err := st.Close(context.Background()); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		_ = os.Remove(cfg.StatePath() + suffix)
	}
	if err := os.Rename(tmp, cfg.StatePath()); err != nil {
		return err
	}
	fmt.Printf("rebuilt %s from the log up to %v in %s\n", filepath.Base(cfg.StatePath()), heads, time.Since(start).Round(time.Millisecond))
	return nil
}

// runCheck implements `apron check`: the state store against a rebuild
// from the log up to the store's positions (node stopped).
func runCheck(ctx context.Context, args []string) error {
	cfg, _, err := node.LoadConfig("check", args)
	if err != nil {
		return err
	}
	logger := node.NewLogger(cfg.LogLevel)
	b, err := node.OpenLogOnly(cfg, logger)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close(context.Background()) }()
	live := vectors.NewStore(cfg.StatePath())
	live.Logger = logger
	if err := live.Open(); err != nil {
		return err
	}
	defer func() { _ = live.Close(context.Background()) }()
	diff, err := node.CheckStore(ctx, b, live, filepath.Join(cfg.Data, "check.db"), b.Trusted)
	if err != nil {
		return err
	}
	if len(diff) > 0 {
		return app.Errorf(app.ECONFLICT, "state store differs from a rebuild: %v", diff)
	}
	fmt.Println("state store equals a rebuild from the log")
	return nil
}

// runSearch implements `apron search [flags] QUERY...`: the hybrid search
// over the node's index, from the command line.
func runSearch(ctx context.Context, args []string) error {
	var query []string
	var rest []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) {
				rest = append(rest, args[i+1])
				i++
			}
			continue
		}
		query = append(query, args[i])
	}
	cfg, _, err := node.LoadConfig("search", rest)
	if err != nil {
		return err
	}
	if len(query) == 0 {
		return app.Errorf(app.EINVALID, "query: usage: apron search [--data DIR] WORDS...")
	}
	st, err := node.OpenStoreOnly(cfg)
	if err != nil {
		return err
	}
	defer st.Close(ctx)
	emb := &inference.Client{BaseURL: cfg.Ollama.URL, EmbedModel: cfg.Ollama.EmbedModel, Timeout: 30 * time.Second}
	if err := emb.Open(); err != nil {
		return err
	}
	r := &app.Retriever{Embedder: emb, Index: st}
	hits, degraded, err := r.Search(ctx, app.SearchQuery{Text: strings.Join(query, " "), K: 10})
	if err != nil {
		return err
	}
	if degraded {
		fmt.Println("(the embedding model is unavailable: full-text and exact matches only)")
	}
	for i, h := range hits {
		fmt.Printf("%2d. %-9s %-24s score %.4f  (vector #%d, text #%d, boost %.2f)  offset %d\n    %s\n", i+1, h.Kind, h.EntityKey, h.Score, h.VectorRank, h.TextRank, h.Boost, h.Version.Offset, firstLine(h.Text))
	}
	if len(hits) == 0 {
		fmt.Println("nothing found")
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 110 {
		s = s[:110] + "…"
	}
	return s
}
