// Package node wires apron's parts into one running node: Main opens the
// log, the bridge, the state store, the supervised Ollama, the model
// clients, the pipeline stages and the HTTP server in dependency order and
// closes them in reverse. It holds no rules of its own: the decisions live
// in app, the technology in the adapters. The command (package main) and
// the end-to-end tests (e2e) and benchmarks (bench) all start a node here.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/ui"
	"github.com/apron-edge/apron/vectors"
)

// Main is the node: its configuration and its opened components.
type Main struct {
	Config Config
	Logger *slog.Logger
	// Clock is the console's notion of now (the simulated clock in a demo).
	Clock func() time.Time
	// Demo skips the first-start admin with its one-time password (the
	// demo sets its own, DemoAdmin).
	Demo bool
	// Version is reported in the start-up log line ("dev" unless set).
	Version string
	// Stdout receives the first start's one-time admin password (nil:
	// os.Stdout); it is never logged.
	Stdout io.Writer

	Broker       *broker.Broker
	Bridge       *broker.Bridge // nil when the bridge is off
	Store        *vectors.Store
	Materializer *app.Materializer
	// Control applies users and tokens from the log; Accounts puts their
	// changes on it.
	Control    *app.ControlMaterializer
	Accounts   *app.Accounts
	Proposer   *app.Proposer
	Ollama     *inference.Server     // nil unless ollama.serve: the supervised `ollama serve`
	Chat       *inference.ChatClient // nil without a chat model
	Embed      *inference.Client     // nil without an embedding model
	EmbedStage *app.EmbedStage
	Search     *app.Retriever
	Sched      *app.Scheduler // all model work, by priority
	Fresh      *app.FreshnessMeter
	Asker      *app.Asker
	Assist     *app.AssistStage
	HTTP       *ui.Server
	// In a cluster: the singleton lease and what runs while this node
	// holds it (nil on a single node).
	Lease      *broker.Lease
	Singletons *app.Singletons
	bridgeDuty *bridgeDuty

	lock    *DataLock                     // the data directory, held from openLog to Close
	closers []func(context.Context) error // pushed by Open, popped by Close
}

// NewMain returns a node for cfg.
func NewMain(cfg Config, logger *slog.Logger) *Main {
	return &Main{Config: cfg, Logger: logger, Version: "dev"}
}

// Open starts the components in dependency order; each step pushes the
// closer of what it opened, so Close after a failed Open closes exactly
// what was opened.
func (m *Main) Open(ctx context.Context) error {
	steps := []func(context.Context) error{
		m.openLog, m.openBridge, m.openStore, m.startOllama, m.newHTTP,
		m.openControl, m.bootstrapAdmin, m.openEmbedder, m.newProposer, m.openChat,
		m.openPipeline, m.openSingletons, m.openHTTP,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	m.warnMissingModels(ctx)
	m.Logger.Info("apron ready", "version", m.Version, "console", m.HTTP.URL(), "nats", m.Broker.ClientURL(), "data", m.Config.Data)
	return nil
}

// newBackup configures the online backup: the state store, the log, and
// the keys the node made for itself (without them a restored log would not
// be trusted, and site applications would need new NATS credentials).
func (m *Main) newBackup() *app.Backup {
	bc := m.Config.BrokerConfig()
	files := map[string]string{}
	// A cluster node has no seal key file: its key comes from the
	// cluster's secret, which a restore needs anyway.
	if !bc.Cluster.Clustered() {
		files["log/"+broker.SealKeyFile] = filepath.Join(bc.Dir, broker.SealKeyFile)
	}
	if _, err := os.Stat(bc.CredentialsFile); err == nil {
		files["nats-credentials.json"] = bc.CredentialsFile
	}
	return &app.Backup{State: m.Store, Log: m.Broker, Files: files, TempDir: m.Config.Data}
}

// push records the closer of a component that opened.
func (m *Main) push(closer func(context.Context) error) {
	m.closers = append(m.closers, closer)
}

// closerName names a closer for the error of a shutdown that failed.
func closerName(f func(context.Context) error) string {
	fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer())
	if fn == nil {
		return "a step"
	}
	name := fn.Name()
	name = name[strings.LastIndex(name, "/")+1:]
	return strings.TrimSuffix(name, "-fm")
}

// Close shuts down in reverse order of opening: HTTP (with ctx's
// deadline), the pipeline stages, the supervised Ollama once nothing uses
// it, the state store, the bridge, the log.
func (m *Main) Close(ctx context.Context) error {
	if dl, ok := ctx.Deadline(); ok && m.Broker != nil {
		// Appends still waiting for a cluster's quorum give up before the
		// deadline, so the stages waiting on them stop in time.
		m.Broker.FailAppendsAt(dl.Add(-time.Until(dl) / 4))
	}
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](ctx); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", closerName(m.closers[i]), err))
		}
	}
	m.closers = nil
	return errors.Join(errs...)
}

func (m *Main) openLog(context.Context) error {
	// First: nothing else of this node touches the directory before it
	// holds it.
	lock, err := LockData(m.Config.Data, true)
	if err != nil {
		return err
	}
	m.lock = lock
	m.push(func(context.Context) error { return m.lock.Unlock() })
	m.Broker = broker.New(m.Config.BrokerConfig())
	m.Broker.Logger = m.Logger
	if err := m.Broker.Open(); err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	m.push(m.Broker.Close)
	return nil
}

func (m *Main) openBridge(context.Context) error {
	// In a cluster the bridge is a singleton (openSingletons).
	if len(m.Config.Kafka.Brokers) == 0 || m.Config.Cluster.Name != "" {
		return nil
	}
	m.Bridge = broker.NewBridge(m.Config.BridgeConfig(), m.Broker)
	m.Bridge.Logger = m.Logger
	m.Bridge.Validator = m.Config.Validator()
	// Open does not need the cluster: the node runs while it is away.
	if err := m.Bridge.Open(); err != nil {
		return fmt.Errorf("open bridge: %w", err)
	}
	m.push(m.Bridge.Close)
	return nil
}

func (m *Main) openStore(context.Context) error {
	m.Store = vectors.NewStore(m.Config.StatePath())
	m.Store.Logger = m.Logger
	m.Store.Quantize, m.Store.Oversample, m.Store.Shards = m.Config.Index.Quantize == "binary", m.Config.Index.Oversample, m.Config.Index.Shards
	if err := m.Store.Open(); err != nil {
		return fmt.Errorf("open state store: %w", err)
	}
	m.push(m.Store.Close)
	return nil
}

// startOllama starts the supervised `ollama serve` before the model
// clients, so that their first calls find it up; after the data
// directory's lock (openLog), so that a second node on this data stops
// before it starts a second server on the same models.
func (m *Main) startOllama(ctx context.Context) error {
	if !m.Config.Ollama.Serve {
		return nil
	}
	srv := m.Config.OllamaServer(m.Logger)
	if err := srv.Open(ctx); err != nil {
		return fmt.Errorf("start ollama: %w", err)
	}
	m.Ollama = srv
	m.push(m.Ollama.Close)
	return nil
}

// newHTTP configures the HTTP server; the later steps add search, the
// asker and the proposals, openHTTP starts it.
func (m *Main) newHTTP(context.Context) error {
	zone, err := time.LoadLocation(m.Config.TimeZone)
	if err != nil {
		return err
	}
	m.HTTP = &ui.Server{
		Addr: m.Config.HTTP, Log: m.Broker, State: m.Store, Logger: m.Logger,
		MaxBodyBytes: m.Config.MaxBody, Hub: m.Config.Hub, Zone: zone, Ready: m.ready, Now: m.Clock,
		Auth: m.Store, Link: m.linkState, Cluster: m.clusterState, TLSCert: m.Config.TLSCert, TLSKey: m.Config.TLSKey, Models: m.ModelRows,
		Validator: m.Config.Validator(),
		Rebooking: m.Config.RebookRules(),
		Backup:    m.newBackup(),
		Check:     &StateCheck{Log: m.Broker.LogOnly(), Store: m.Store, Dir: m.Config.Data, Trusted: m.Broker.Trusted},
	}
	limits := app.DefaultClassLimits()
	for _, c := range []string{app.ClassInteractive, app.ClassSummary} {
		l := limits[c]
		l.Timeout = time.Duration(m.Config.Ollama.AskTimeout)
		limits[c] = l
	}
	m.Sched = &app.Scheduler{Slots: 1, Limits: limits}
	m.Fresh = &app.FreshnessMeter{Log: m.Broker, Positions: m.Store, Bound: time.Duration(m.Config.FreshnessBound)}
	m.HTTP.Fresh, m.HTTP.Sched = m.Fresh, m.Sched
	m.Asker = &app.Asker{Facts: &app.Facts{Store: m.Store, Rules: m.Config.RebookRules(), Zone: zone, Hub: m.Config.Hub}, Passages: &app.Passages{Docs: m.Store},
		Fresh: m.Fresh, Now: m.Clock, Timeout: time.Duration(m.Config.Ollama.AskTimeout)}
	m.HTTP.Asker, m.HTTP.History = m.Asker, m.Store
	return nil
}

func (m *Main) openEmbedder(context.Context) error {
	if m.Config.Ollama.URL == "" || m.Config.Ollama.EmbedModel == "" {
		return nil
	}
	m.Embed = &inference.Client{BaseURL: m.Config.Ollama.URL, EmbedModel: m.Config.Ollama.EmbedModel, Timeout: time.Duration(m.Config.Ollama.Timeout),
		MaxConcurrency: 2, BatchSize: 64, Logger: m.Logger}
	if err := m.Embed.Open(); err != nil {
		return err
	}
	// Embedding fresh changes comes after staff questions and before
	// ranking; a search's query embedding is interactive work.
	// Fresh changes before a burst's backlog; the backlog in small chunks,
	// so that a question's query embedding waits little behind one.
	// A fresh change waits at most two seconds for the model before its
	// text goes in without the vector (the catch-up adds it).
	m.EmbedStage = &app.EmbedStage{Log: m.Broker, Index: m.Store, Embedder: app.ScheduledEmbedder{Embedder: m.Embed, Sched: m.Sched, Class: app.ClassFreshness, MaxWait: 2 * time.Second},
		Backfill: app.ScheduledEmbedder{Embedder: m.Embed, Sched: m.Sched, Class: app.ClassBackfill, Chunk: 4, QuietChunk: 16},
		Trusted:  m.Broker.Trusted, Logger: m.Logger}
	// A search waits briefly for the model, then answers from full text
	// and exact matches (degraded) rather than keep a person waiting.
	m.Search = &app.Retriever{Embedder: app.ScheduledEmbedder{Embedder: m.Embed, Sched: m.Sched, Class: app.ClassInteractive, MaxWait: 150 * time.Millisecond}, Index: m.Store, People: m.Store}
	m.HTTP.Search = m.Search
	m.Asker.Search = m.Search
	return nil
}

func (m *Main) newProposer(context.Context) error {
	m.Proposer = &app.Proposer{Store: m.Store, Log: m.Broker, Logger: m.Logger, Now: m.Clock, Rules: m.Config.RebookRules(),
		Standby: m.Config.Cluster.Name != "", DuplicateWindow: m.Config.BrokerConfig().DuplicateWindow}
	if m.Config.Cluster.Name != "" {
		// An approval sent as the booking engine's node fails waits for the
		// next holder: the old lease runs out, the lease bucket and the
		// control topic elect new leaders, and the engine catches up. In the
		// SIGKILL process test the next node held a 3 s lease 5-12 s later.
		m.Proposer.CommandTimeout = 10*time.Second + 2*time.Duration(m.Config.Cluster.LeaseTTL)
	}
	return nil
}

func (m *Main) openChat(context.Context) error {
	if m.Config.Ollama.URL == "" || m.Config.Ollama.ChatModel == "" {
		return nil
	}
	m.Chat = &inference.ChatClient{BaseURL: m.Config.Ollama.URL, Model: m.Config.Ollama.ChatModel, Logger: m.Logger}
	if err := m.Chat.Open(); err != nil {
		return err
	}
	// The answer is given without the model; its summary comes after the
	// index's freshness, before the ranking.
	m.Asker.Model = app.ScheduledChat{Model: m.Chat, Sched: m.Sched, Class: app.ClassSummary}
	m.Proposer.Ranker = &app.Ranker{Model: app.ScheduledChat{Model: m.Chat, Sched: m.Sched, Class: app.ClassBackground},
		Timeout: time.Duration(m.Config.Ollama.Timeout), MaxTokens: m.Config.Ollama.MaxTokens}
	policies := &app.PolicyRetriever{Documents: m.Store}
	if m.Search != nil {
		policies.Search = m.Search
	}
	m.Proposer.Policies = policies
	return nil
}

// openPipeline starts the stages that follow the log: the proposer, the
// materialiser, the embedding stage and the assist stage.
func (m *Main) openPipeline(context.Context) error {
	m.HTTP.Proposals = m.Proposer
	m.Materializer = &app.Materializer{
		Log: m.Broker, Store: m.Store, Logger: m.Logger, Trusted: m.Broker.Trusted, Validator: m.Config.Validator(),
		Listener: app.StateListeners{m.Proposer, m.HTTP},
		Eraser:   &app.Eraser{Log: m.Broker, Erase: m.Broker, Store: m.Store, Erased: m.Store.ErasedPassengers, Logger: m.Logger},
	}
	m.HTTP.Erasures = m.Materializer.Eraser
	if err := m.Proposer.Open(); err != nil {
		return err
	}
	m.push(m.Proposer.Close)
	if err := m.Materializer.Open(); err != nil {
		return err
	}
	m.push(m.Materializer.Close)
	if m.EmbedStage != nil {
		if err := m.EmbedStage.Open(); err != nil {
			return err
		}
		m.push(m.EmbedStage.Close)
	}
	m.Assist = &app.AssistStage{Log: m.Broker, Positions: m.Store, Proposer: m.Proposer, Logger: m.Logger, Now: m.Clock, Asker: m.Asker}
	if err := m.Assist.Open(); err != nil {
		return err
	}
	m.push(m.Assist.Close)
	return nil
}

func (m *Main) openHTTP(context.Context) error {
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	m.push(m.HTTP.Close)
	return nil
}

// warnMissingModels says at start-up which configured model does not
// answer, and how to make it available; the node runs without it.
func (m *Main) warnMissingModels(ctx context.Context) {
	if m.Embed != nil {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := m.Embed.Health(cctx); err != nil {
			m.Logger.Warn("embedding model unavailable: the index waits and catches up when it is back", "model", m.Config.Ollama.EmbedModel, "reason", app.ErrorMessage(err),
				"fix", m.modelFix(m.Config.Ollama.EmbedModel))
		}
		cancel()
	}
	if m.Chat != nil {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if _, err := m.Chat.Digest(cctx); err != nil {
			m.Logger.Warn("chat model unavailable: proposals keep the rules' choice until it is", "model", m.Config.Ollama.ChatModel, "url", m.Config.Ollama.URL, "reason", app.ErrorMessage(err),
				"fix", m.modelFix(m.Config.Ollama.ChatModel)+", or set ollama.url to an empty string to run without a model")
		}
		cancel()
	}
}

// modelFix says how to make model available.
func (m *Main) modelFix(model string) string {
	if m.Ollama != nil {
		return "apron model import --name " + model + " PATH (the supervised server keeps its models in " + m.Ollama.ModelsDir + ")"
	}
	return "run scripts/setup-models.sh (or apron model import)"
}

// bootstrapAdmin creates the first admin with a one-time password printed
// once, when the node starts with no users at all. The event's id is
// fixed, so that of the nodes of a new cluster starting together only
// the first one's admin is stored; the others say so and print nothing.
func (m *Main) bootstrapAdmin(ctx context.Context) error {
	n, err := m.Store.CountUsers(ctx)
	if err != nil || n > 0 || m.Demo {
		return err
	}
	password := app.NewSecret("")[:20]
	hash, err := app.HashPassword(password)
	if err != nil {
		return err
	}
	now := time.Now()
	if m.Clock != nil {
		now = m.Clock()
	}
	e, err := app.NewEvent("user-admin-first-start", "apron/node", app.TypeUserChanged, "admin", now,
		app.UserData{Name: "admin", Role: app.RoleAdmin, PasswordHash: hash, CreatedAt: now.UTC(), Actor: "first start"})
	if err != nil {
		return err
	}
	// Another node appending the same id at the same moment makes the log
	// answer "in process" until its append lands; then it is a duplicate.
	var res []app.AppendResult
	for try := 0; ; try++ {
		if res, err = m.Broker.Append(ctx, app.TopicControl, []*app.Event{e}); err == nil || try == 10 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("first start admin: %w", err)
	}
	if err := m.Accounts.Applied(ctx, res[0].Offset); err != nil {
		return err
	}
	if res[0].Duplicate {
		m.Logger.Info("first start: the admin was created by another node of the cluster")
		return nil
	}
	out := m.Stdout
	if out == nil {
		out = os.Stdout
	}
	fmt.Fprintf(out, "apron: first start: created user \"admin\" with one-time password %s (change it, or add users with apron user add)\n", password)
	m.Logger.Warn("first start: created user admin with a one-time password printed on standard output")
	return nil
}

// DemoAdmin makes sure the demo has its admin and returns the admin's
// new password, or "" when keep is set and the admin of an earlier run
// stays as it was (a resumed demo: the password printed at its first
// start still works).
func (m *Main) DemoAdmin(ctx context.Context, keep bool) (string, error) {
	u, _, err := m.Store.UserByName(ctx, "admin")
	if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
		return "", err
	}
	if u != nil && keep && !u.Disabled && u.Role == app.RoleAdmin {
		return "", nil
	}
	password := app.NewSecret("")[:20]
	hash, err := app.HashPassword(password)
	if err != nil {
		return "", err
	}
	if u == nil {
		_, err = m.Accounts.CreateUser(ctx, "admin", app.RoleAdmin, hash)
		return password, err
	}
	if err := m.Accounts.SetUserRole(ctx, u.ID, app.RoleAdmin, false); err != nil {
		return "", err
	}
	return password, m.Accounts.SetPassword(ctx, u.ID, hash)
}

// ModelRows reports the configured models and the index's for the admin page.
func (m *Main) ModelRows(ctx context.Context) []ui.ModelRow {
	if m.Config.Ollama.URL == "" {
		return []ui.ModelRow{{Role: "all", Name: "-", State: "off", Detail: "no ollama.url: proposals keep the rules' choice, no search"}}
	}
	var rows []ui.ModelRow
	if m.Ollama != nil {
		st := m.Ollama.State()
		r := ui.ModelRow{Role: "server", Name: "ollama serve (supervised)", State: "running",
			Detail: fmt.Sprintf("pid %d since %s, %d restarts", st.PID, st.Since.Format(time.RFC3339), st.Restarts)}
		if !st.Running {
			r.State, r.Detail = "restarting", fmt.Sprintf("%d restarts", st.Restarts)
		}
		if st.LastError != "" {
			r.Detail += "; last error: " + st.LastError
		}
		rows = append(rows, r)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sts, err := inference.Status(cctx, m.Config.Ollama.URL, map[string]string{m.Config.Ollama.ChatModel: "chat", m.Config.Ollama.EmbedModel: "embed"})
	if err != nil {
		rows = append(rows, ui.ModelRow{Role: "server", Name: m.Config.Ollama.URL, State: "unreachable", Detail: app.ErrorMessage(err)})
	}
	for _, s := range sts {
		r := ui.ModelRow{Role: s.Role, Name: s.Name, State: "present", Detail: s.Digest}
		if !s.Present {
			r.State, r.Detail = "missing", s.Problem
		}
		rows = append(rows, r)
	}
	if ms, err := m.Store.IndexModels(ctx); err == nil {
		for _, im := range ms {
			rows = append(rows, ui.ModelRow{Role: "index", Name: im.Name, State: im.State, Detail: fmt.Sprintf("%d dims, %d documents without a vector", im.Dim, im.Missing)})
		}
	}
	return rows
}

// linkState reports the central link for the console and the API.
func (m *Main) linkState(ctx context.Context, full bool) (ui.LinkState, any) {
	br := m.bridge()
	if br == nil {
		if len(m.Config.Kafka.Brokers) > 0 {
			return ui.LinkState{}, map[string]any{"enabled": false, "elsewhere": "the bridge runs on the node holding the singleton lease; see /api/v1/cluster"}
		}
		return ui.LinkState{}, map[string]any{"enabled": false}
	}
	st := br.Summary(ctx)
	if full {
		st = br.Status(ctx)
	}
	ls := ui.LinkState{Enabled: true, Connected: st.Connected, Since: st.Since, LastError: st.LastError}
	for _, t := range st.Outbound {
		if t.Backlog > 0 {
			ls.Backlog += t.Backlog
		}
	}
	for _, dir := range []struct {
		name string
		ts   []broker.BridgeTopicStatus
	}{{"in", st.Inbound}, {"out", st.Outbound}} {
		for _, t := range dir.ts {
			ls.Topics = append(ls.Topics, ui.LinkTopic{Direction: dir.name, Local: t.Local, Remote: t.Remote, Records: t.Records, Bytes: t.Bytes,
				DeadLetters: t.DeadLetters, Backlog: t.Backlog, LastRecordAge: t.LastRecordAge, Latency: t.LatencySeconds})
		}
	}
	return ls, map[string]any{"enabled": true, "status": st}
}

// ready reports not ready while the log cannot write (its disk is full)
// or the state store is far behind the log.
func (m *Main) ready(ctx context.Context) error {
	if err := m.Broker.Writable(); err != nil {
		return err
	}
	topics, err := m.Broker.Topics(ctx)
	if err != nil {
		return app.Errorf(app.EUNAVAILABLE, "log: %v", err)
	}
	pos, err := m.Store.Positions(ctx)
	if err != nil {
		return app.Errorf(app.EUNAVAILABLE, "state store: %v", err)
	}
	at := map[string]uint64{}
	for _, p := range pos {
		if p.Consumer == app.StateConsumer {
			at[p.Topic] = p.Offset
		}
	}
	for _, t := range topics {
		for _, st := range app.StateTopics {
			if t.Name == st && t.LastOffset > at[st]+10000 {
				return app.Errorf(app.EUNAVAILABLE, "state store is %d events behind on %s", t.LastOffset-at[st], st)
			}
		}
	}
	return nil
}
