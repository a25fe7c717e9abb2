package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/node"
)

// The commands that work on a node's data directory: rebuild and check
// (node stopped), search (while it runs, too), backup (of a running node)
// and restore (into a new directory), erase (through the running node).

// runRebuild implements `apron rebuild`: it replays the log into a fresh
// state store, keeps the tables the log cannot recreate (users, tokens,
// proposals, ...) and puts it in place of the old one (node stopped).
func runRebuild(ctx context.Context, args []string) error {
	cfg, _, err := node.LoadConfig("rebuild", args)
	if err != nil {
		return err
	}
	lock, err := node.LockData(cfg.Data, false)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	fmt.Fprintf(os.Stderr, "apron rebuild: data directory %s\n", cfg.AbsData())
	logger := node.NewLogger(cfg.LogLevel)
	b, err := node.OpenLogOnly(cfg, logger)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close(context.Background()) }()
	sum, err := node.Rebuild(ctx, cfg, b, logger)
	if err != nil {
		return err
	}
	fmt.Println(sum)
	return nil
}

// runCheck implements `apron check`: the state store against a rebuild
// from the log up to the store's positions. With the node stopped the
// command opens the log itself; while the node runs (it holds the data
// directory), the node checks its own store over its API, which is also
// the only way to check a cluster node's (its log opens only with its
// cluster).
func runCheck(ctx context.Context, args []string) error {
	var token *string
	cfg, _, err := node.LoadConfigWithFlags("check", args, func(fs *flag.FlagSet) {
		token = fs.String("token", os.Getenv("APRON_TOKEN"), "admin API token, to check a running node (env APRON_TOKEN)")
	})
	if err != nil {
		return err
	}
	lock, err := node.LockData(cfg.Data, false)
	if app.ErrorCode(err) == app.ECONFLICT {
		fmt.Fprintf(os.Stderr, "apron check: data directory %s, in use by process %s: asking the node at %s\n", cfg.AbsData(), node.LockHolder(cfg.Data), cfg.HTTP)
		return checkRunningNode(ctx, cfg, *token)
	}
	if err != nil {
		return err
	}
	defer lock.Unlock()
	fmt.Fprintf(os.Stderr, "apron check: data directory %s\n", cfg.AbsData())
	if marker, ok := node.ClusterLogMarker(cfg); ok {
		return app.Errorf(app.EINVALID, "data directory %s belongs to a node of a cluster (%s exists) and its node is stopped: "+
			"its log opens only with its cluster, so start the node and run apron check --token T --http ADDR beside it", cfg.AbsData(), marker)
	}
	logger := node.NewLogger(cfg.LogLevel)
	b, err := node.OpenLogOnly(cfg, logger)
	if err != nil {
		return err
	}
	defer func() { _ = b.Close(context.Background()) }()
	live, err := node.OpenStoreOnly(cfg)
	if err != nil {
		return err
	}
	defer func() { _ = live.Close(context.Background()) }()
	rep, err := node.CheckStoreReport(ctx, b, live, filepath.Join(cfg.Data, "check.db"), b.Trusted)
	if err != nil {
		return err
	}
	return printCheck(rep, "state store")
}

// checkRunningNode asks the running node to check its own state store
// against a rebuild from its log (POST /api/v1/admin/check).
func checkRunningNode(ctx context.Context, cfg node.Config, token string) error {
	if token == "" {
		return app.Errorf(app.EINVALID, "token: required: data directory %s is in use by process %s, and a running node checks its own state "+
			"over its API: give an admin token (--token or APRON_TOKEN) and the node's address (--http, now %s)", cfg.AbsData(), node.LockHolder(cfg.Data), cfg.HTTP)
	}
	body, err := callNode(ctx, http.MethodPost, nodeURL(cfg)+"/api/v1/admin/check", token, nil)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	var rep app.CheckReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("check: the node's answer: %w", err)
	}
	return printCheck(rep, "state store of the node at "+cfg.HTTP)
}

// printCheck says what a check found; a store that differs is an error.
func printCheck(rep app.CheckReport, what string) error {
	upto := rep.UptoString(append([]string{app.TopicControl}, app.StateTopics...))
	if !rep.Equal() {
		return app.Errorf(app.ECONFLICT, "%s differs from a rebuild from the log up to %s: %v", what, upto, rep.Tables())
	}
	fmt.Printf("%s equals a rebuild from the log up to %s (%d ms)\n", what, upto, rep.TookMS)
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
	r := &app.Retriever{Embedder: emb, Index: st, People: st}
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

// runErase implements `apron erase --passenger ID`: it appends a
// passenger.erased event through the running node's ingest API with a site
// admin's token (the node records the token's user as who asked), then
// waits for the node to report the erasure completed (the admin page and
// the audit topic show it too).
func runErase(ctx context.Context, args []string) error {
	var passenger, token *string
	var wait *time.Duration
	cfg, _, err := node.LoadConfigWithFlags("erase", args, func(fs *flag.FlagSet) {
		passenger = fs.String("passenger", "", "id of the passenger to erase")
		token = fs.String("token", os.Getenv("APRON_TOKEN"), "admin API token (env APRON_TOKEN)")
		wait = fs.Duration("wait", 2*time.Minute, "how long to wait for the erasure to complete (0: do not wait)")
	})
	if err != nil {
		return err
	}
	if *passenger == "" {
		return app.Errorf(app.EINVALID, "passenger: required (the id of the person to erase)")
	}
	if *token == "" {
		return app.Errorf(app.EINVALID, "token: required (--token or APRON_TOKEN, an admin API token: apron token add --role admin NAME)")
	}
	now := time.Now().UTC()
	ev, err := app.NewEvent(fmt.Sprintf("erase-%d", now.UnixNano()), "apron/erase", app.TypePassengerErased, *passenger, now, map[string]string{"id": *passenger})
	if err != nil {
		return err
	}
	base := nodeURL(cfg)
	if _, err := callNode(ctx, http.MethodPost, base+"/api/v1/topics/"+app.TopicPassengers+"/events", *token, ev.Raw); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	ref := app.ErasureRef(ev.ID)
	fmt.Printf("erasure %s appended (audit reference %s)\n", ev.ID, ref)
	if *wait <= 0 {
		return nil
	}
	rep, err := waitErasure(ctx, base, *token, ref, *wait)
	if err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	fmt.Printf("erasure %s completed: %d bookings redacted, %d rebooking events redacted, %d answers and %d dead letters erased, %d proposals redacted, %d log entries erased in %d ms (requested by %s)\n",
		ref, rep.BookingsRedacted, rep.RebookingsRedacted, rep.AnswersErased, rep.DeadLettersErased, rep.ProposalsRedacted, rep.LogEntriesErased, rep.DurationMS, rep.RequestedBy)
	return nil
}

func nodeURL(cfg node.Config) string {
	if cfg.TLSCert != "" {
		return "https://" + cfg.HTTP
	}
	return "http://" + cfg.HTTP
}

// callNode sends one request to the node's API with token and returns
// the body of a 200 answer.
func callNode(ctx context.Context, method, url, token string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the node at %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", method, req.URL.Path, resp.Status, firstLine(string(out)))
	}
	return out, nil
}

// waitErasure polls the node until the erasure ref is completed.
func waitErasure(ctx context.Context, base, token, ref string, wait time.Duration) (*app.ErasureReport, error) {
	deadline := time.Now().Add(wait)
	for {
		body, err := callNode(ctx, http.MethodGet, base+"/api/v1/erasures", token, nil)
		if err != nil {
			return nil, err
		}
		var list struct{ Erasures []app.ErasureStatus }
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, fmt.Errorf("erasures: %w", err)
		}
		for _, e := range list.Erasures {
			if e.Erasure == ref && e.Report != nil {
				return e.Report, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, app.Errorf(app.EUNAVAILABLE, "erasure %s not completed after %s; the admin page shows its progress", ref, wait)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runBackup implements `apron backup DIR`: an online backup of the running
// node, streamed over its API with an admin token into the new directory
// DIR (written as DIR.partial and renamed once complete and checked).
func runBackup(ctx context.Context, args []string) error {
	var token *string
	flags, dirs := splitArgs(args)
	cfg, _, err := node.LoadConfigWithFlags("backup", flags, func(fs *flag.FlagSet) {
		token = fs.String("token", os.Getenv("APRON_TOKEN"), "admin API token (env APRON_TOKEN)")
	})
	if err != nil {
		return err
	}
	if len(dirs) != 1 || *token == "" {
		return app.Errorf(app.EINVALID, "usage: apron backup [--token T] DIR (DIR must not exist; an admin token in --token or APRON_TOKEN)")
	}
	dir := filepath.Clean(dirs[0])
	if _, err := os.Stat(dir); err == nil {
		return app.Errorf(app.ECONFLICT, "backup directory %s exists; give a new one", dir)
	}
	start := time.Now()
	resp, err := postNode(ctx, cfg, "/api/v1/admin/backup", *token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || err != nil || params["boundary"] == "" {
		out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return fmt.Errorf("backup: %s: %s", resp.Status, firstLine(string(out)))
	}
	partial := dir + ".partial"
	_ = os.RemoveAll(partial)
	m, err := app.ReadBackup(multipart.NewReader(resp.Body, params["boundary"]), partial)
	if err != nil {
		return err
	}
	if err := os.Rename(partial, dir); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Printf("backup of the node at %s in %s: %d files, %d MiB, took %s (node %s)\n", cfg.HTTP, dir, len(m.Files), m.Bytes()>>20, time.Since(start).Round(time.Millisecond), m.Took)
	for _, t := range m.Topics {
		fmt.Printf("  %-12s offsets %d-%d, %d events\n", t.Topic, t.FirstOffset, t.LastOffset, t.Messages)
	}
	return nil
}

// runRestore implements `apron restore DIR --data D`: the backup in DIR
// becomes the data directory D, checked as `apron check` does.
func runRestore(ctx context.Context, args []string) error {
	flags, dirs := splitArgs(args)
	cfg, _, err := node.LoadConfig("restore", flags)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return app.Errorf(app.EINVALID, "usage: apron restore DIR --data D (D new or empty)")
	}
	fmt.Fprintf(os.Stderr, "apron restore: data directory %s\n", cfg.AbsData())
	sum, err := node.Restore(ctx, cfg, dirs[0], node.NewLogger(cfg.LogLevel))
	if err != nil {
		return err
	}
	fmt.Println(sum)
	return nil
}

// splitArgs separates flags (with their values) from positional arguments,
// so that a directory may come before or after the flags.
func splitArgs(args []string) (flags, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "-help" || a == "--help" {
			flags = append(flags, a)
			continue
		}
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
			if !strings.Contains(a, "=") && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		rest = append(rest, a)
	}
	return flags, rest
}

// postNode sends an empty POST with an API token to the running node's API.
func postNode(ctx context.Context, cfg node.Config, path, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, nodeURL(cfg)+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the node at %s: %w", cfg.HTTP, err)
	}
	return resp, nil
}
