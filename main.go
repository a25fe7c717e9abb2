// Command apron is the airport edge node: the event log, the state store,
// the API and the console in one process. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the console shows local times even in a minimal container

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/ui"
	"github.com/apron-edge/apron/vectors"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `apron: the airport edge node

Usage:
  apron serve   [flags]   run the node
  apron demo    [flags]   run the node with a simulated airport day
  apron rebuild [flags]   rebuild the state store from the log (node stopped)
  apron check   [flags]   prove the state store equals a rebuild (node stopped)
  apron search  WORDS...  hybrid search over the index
  apron model status      the configured models, present or not
  apron model import --name NAME PATH   create a model from a GGUF file or folder (offline)
  apron user add  --role ROLE NAME   add a console user (password on stdin)
  apron token add --role ROLE NAME   create an API token for a machine client
  apron bench ingest      measure ingest against raw JetStream baselines
  apron version           print the version

Run "apron serve -h" for the flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal forces the exit.
		<-ctx.Done()
		stop()
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		<-ch
		fmt.Fprintln(os.Stderr, "apron: forced exit")
		os.Exit(1)
	}()
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, args, false)
	case "demo":
		err = runServe(ctx, args, true)
	case "rebuild":
		err = runRebuild(ctx, args)
	case "check":
		err = runCheck(ctx, args)
	case "bench":
		err = runBench(ctx, args)
	case "search":
		err = runSearch(ctx, args)
	case "model":
		err = runModel(ctx, args)
	case "user":
		err = runUser(ctx, args)
	case "token":
		err = runToken(ctx, args)
	case "version", "--version", "-v":
		fmt.Println("apron", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "apron: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "apron %s: %s\n", cmd, describe(err))
		os.Exit(1)
	}
}

func describe(err error) string {
	var e *app.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// Main is the node: its configuration and its opened components.
type Main struct {
	Config Config
	Logger *slog.Logger
	// Clock is the console's notion of now (the simulated clock in a demo).
	Clock func() time.Time
	demo  bool

	Broker       *broker.Broker
	Bridge       *broker.Bridge // nil when the bridge is off
	Store        *vectors.Store
	Materializer *app.Materializer
	Proposer     *app.Proposer
	Ollama       *inference.Server     // nil unless ollama.serve: the supervised `ollama serve`
	Chat         *inference.ChatClient // nil without a chat model
	Embed        *inference.Client     // nil without an embedding model
	EmbedStage   *app.EmbedStage
	Search       *app.Retriever
	Sched        *app.Scheduler // all model work, by priority
	Fresh        *app.FreshnessMeter
	Assist       *app.AssistStage
	HTTP         *ui.Server
}

// NewMain returns a node for cfg.
func NewMain(cfg Config, logger *slog.Logger) *Main {
	return &Main{Config: cfg, Logger: logger}
}

// Open starts the components in dependency order.
func (m *Main) Open(ctx context.Context) error {
	if err := os.MkdirAll(m.Config.Data, 0o750); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	zone, err := time.LoadLocation(m.Config.TimeZone)
	if err != nil {
		return err
	}
	m.Broker = broker.New(m.Config.BrokerConfig())
	m.Broker.Logger = m.Logger
	if err := m.Broker.Open(); err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	if len(m.Config.Kafka.Brokers) > 0 {
		m.Bridge = broker.NewBridge(m.Config.BridgeConfig(), m.Broker)
		m.Bridge.Logger = m.Logger
		// Open does not need the cluster: the node runs while it is away.
		if err := m.Bridge.Open(); err != nil {
			return fmt.Errorf("open bridge: %w", err)
		}
	}
	m.Store = vectors.NewStore(m.Config.StatePath())
	m.Store.Logger = m.Logger
	m.Store.Quantize, m.Store.Oversample, m.Store.Shards = m.Config.Index.Quantize == "binary", m.Config.Index.Oversample, m.Config.Index.Shards
	if err := m.Store.Open(); err != nil {
		return fmt.Errorf("open state store: %w", err)
	}
	if m.Config.Ollama.Serve {
		// Before the model clients, so that their first calls find it up;
		// after the log, whose lock tells a second node on this data apart.
		m.Ollama = m.Config.OllamaServer(m.Logger)
		if err := m.Ollama.Open(ctx); err != nil {
			m.Ollama = nil
			return fmt.Errorf("start ollama: %w", err)
		}
	}
	m.HTTP = &ui.Server{
		Addr: m.Config.HTTP, Log: m.Broker, State: m.Store, Logger: m.Logger,
		MaxBodyBytes: m.Config.MaxBody, Hub: m.Config.Hub, Zone: zone, Ready: m.ready, Now: m.Clock,
		Auth: m.Store, Link: m.linkState, TLSCert: m.Config.TLSCert, TLSKey: m.Config.TLSKey, Models: m.modelRows,
	}
	if err := m.bootstrapAdmin(ctx); err != nil {
		return err
	}
	m.Sched = &app.Scheduler{Slots: 1, Limits: app.DefaultClassLimits()}
	m.Fresh = &app.FreshnessMeter{Log: m.Broker, Positions: m.Store, Bound: 30 * time.Second}
	m.HTTP.Fresh, m.HTTP.Sched = m.Fresh, m.Sched
	if m.Config.Ollama.URL != "" && m.Config.Ollama.EmbedModel != "" {
		m.Embed = &inference.Client{BaseURL: m.Config.Ollama.URL, EmbedModel: m.Config.Ollama.EmbedModel, Timeout: time.Duration(m.Config.Ollama.Timeout),
			MaxConcurrency: 2, BatchSize: 64, Logger: m.Logger}
		if err := m.Embed.Open(); err != nil {
			return err
		}
		m.EmbedStage = &app.EmbedStage{Log: m.Broker, Index: m.Store, Embedder: app.ScheduledEmbedder{Embedder: m.Embed, Sched: m.Sched, Class: app.ClassFreshness},
			Trusted: m.Broker.Trusted, Logger: m.Logger}
		m.Search = &app.Retriever{Embedder: app.ScheduledEmbedder{Embedder: m.Embed, Sched: m.Sched, Class: app.ClassInteractive}, Index: m.Store}
		m.HTTP.Search = m.Search
	}
	m.Proposer = &app.Proposer{Store: m.Store, Engine: m.Store, Log: m.Broker, Logger: m.Logger, Now: m.Clock}
	asker := &app.Asker{Facts: &app.Facts{Store: m.Store, Rules: app.DefaultRebookRules(), Zone: zone}, Passages: &app.Passages{Docs: m.Store},
		Fresh: m.Fresh, Now: m.Clock, Timeout: 20 * time.Second}
	if m.Search != nil {
		asker.Search = m.Search
	}
	m.HTTP.Asker = asker
	if m.Config.Ollama.URL != "" && m.Config.Ollama.ChatModel != "" {
		m.Chat = &inference.ChatClient{BaseURL: m.Config.Ollama.URL, Model: m.Config.Ollama.ChatModel, Logger: m.Logger}
		if err := m.Chat.Open(); err != nil {
			return err
		}
		asker.Model = app.ScheduledChat{Model: m.Chat, Sched: m.Sched, Class: app.ClassInteractive}
		m.Proposer.Ranker = &app.Ranker{Model: app.ScheduledChat{Model: m.Chat, Sched: m.Sched, Class: app.ClassBackground},
			Timeout: time.Duration(m.Config.Ollama.Timeout), MaxTokens: m.Config.Ollama.MaxTokens}
		m.Proposer.Policies = func(ctx context.Context, p *app.Proposal, ssr []string) []app.PolicyExcerpt {
			if m.Search != nil {
				if got := m.searchPolicies(ctx, p, ssr); len(got) > 0 {
					return got
				}
			}
			// Without search, or when it finds nothing: pick by tags.
			docs, err := m.Store.Documents(ctx)
			if err != nil {
				return nil
			}
			return app.PoliciesFor(p, docs, ssr, 800)
		}
	}
	m.HTTP.Proposals = m.Proposer
	m.Proposer.OnProposed = func(flight string, _ []*app.Proposal) { m.HTTP.ProposalsChanged(context.Background(), flight) }
	m.Materializer = &app.Materializer{
		Log: m.Broker, Store: m.Store, Logger: m.Logger, Trusted: m.Broker.Trusted,
		OnApplied: func(topic string, offset uint64, changes []app.StateChange) {
			if topic == app.TopicBookings {
				m.Proposer.BookingsChanged(offset, changes)
			}
			if topic != app.TopicFlights {
				return
			}
			m.Proposer.FlightsChanged(offset, changes)
			var flights []*app.Flight
			for _, ch := range changes {
				flights = append(flights, ch.Flight)
			}
			m.HTTP.FlightsChanged(context.Background(), flights)
		},
	}
	if err := m.Proposer.Open(); err != nil {
		return err
	}
	if err := m.Materializer.Open(); err != nil {
		return err
	}
	if m.EmbedStage != nil {
		if err := m.EmbedStage.Open(); err != nil {
			return err
		}
	}
	m.Assist = &app.AssistStage{Log: m.Broker, Positions: m.Store, Proposer: m.Proposer, Logger: m.Logger, Now: m.Clock, Asker: asker}
	if err := m.Assist.Open(); err != nil {
		return err
	}
	if err := m.HTTP.Open(); err != nil {
		return err
	}
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
	m.Logger.Info("apron ready", "version", version, "console", m.HTTP.URL(), "nats", m.Broker.ClientURL(), "data", m.Config.Data)
	return nil
}

// modelFix says how to make model available.
func (m *Main) modelFix(model string) string {
	if m.Ollama != nil {
		return "apron model import --name " + model + " PATH (the supervised server keeps its models in " + m.Ollama.ModelsDir + ")"
	}
	return "run scripts/setup-models.sh (or apron model import)"
}

// bootstrapAdmin creates the first admin with a one-time password printed
// once, when the node starts with no users at all.
func (m *Main) bootstrapAdmin(ctx context.Context) error {
	n, err := m.Store.CountUsers(ctx)
	if err != nil || n > 0 || m.demo {
		return err
	}
	password := app.NewSecret("")[:20]
	hash, err := app.HashPassword(password)
	if err != nil {
		return err
	}
	if _, err := m.Store.CreateUser(ctx, "admin", app.RoleAdmin, hash); err != nil {
		return err
	}
	fmt.Printf("apron: first start: created user \"admin\" with one-time password %s (change it, or add users with apron user add)\n", password)
	m.Logger.Warn("first start: created user admin with a one-time password printed on standard output")
	return nil
}

// demoAdminPassword gives the demo's admin a fresh password at every start,
// so that a demo data directory kept from an earlier run stays usable.
func (m *Main) demoAdminPassword(ctx context.Context) (string, error) {
	password := app.NewSecret("")[:20]
	hash, err := app.HashPassword(password)
	if err != nil {
		return "", err
	}
	u, _, err := m.Store.UserByName(ctx, "admin")
	if app.ErrorCode(err) == app.ENOTFOUND {
		_, err = m.Store.CreateUser(ctx, "admin", app.RoleAdmin, hash)
		return password, err
	} else if err != nil {
		return "", err
	}
	if err := m.Store.SetUserRole(ctx, u.ID, app.RoleAdmin, false); err != nil {
		return "", err
	}
	return password, m.Store.SetPassword(ctx, u.ID, hash)
}

// modelRows reports the configured models and the index's for the admin page.
func (m *Main) modelRows(ctx context.Context) []ui.ModelRow {
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

// searchPolicies retrieves the policy text that applies to a proposal with
// the hybrid search.
func (m *Main) searchPolicies(ctx context.Context, p *app.Proposal, ssr []string) []app.PolicyExcerpt {
	q := "rebooking after " + p.Reason
	if p.Reason == app.ReasonMisconnect {
		q = "missed connection misconnect rebooking"
	}
	if len(ssr) > 0 {
		q += " special assistance " + strings.Join(ssr, " ")
	}
	hits, _, err := m.Search.Search(ctx, app.SearchQuery{Text: q, K: 3, Kinds: []string{app.KindPolicy}})
	if err != nil {
		return nil
	}
	var out []app.PolicyExcerpt
	for _, h := range hits {
		text := h.Text
		if len(text) > 800 {
			text = text[:800]
		}
		out = append(out, app.PolicyExcerpt{DocID: h.EntityKey, Title: h.Title, Text: text})
	}
	return out
}

// linkState reports the central link for the console and the API.
func (m *Main) linkState(ctx context.Context, full bool) (ui.LinkState, any) {
	if m.Bridge == nil {
		return ui.LinkState{}, map[string]any{"enabled": false}
	}
	st := m.Bridge.Summary(ctx)
	if full {
		st = m.Bridge.Status(ctx)
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

// ready reports not ready while the state store is far behind the log.
func (m *Main) ready(ctx context.Context) error {
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

// Close shuts down in reverse order: HTTP (with ctx's deadline), the
// pipeline stages, the supervised Ollama once nothing uses it, the log,
// the database.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.HTTP != nil {
		errs = append(errs, m.HTTP.Close(ctx))
	}
	if m.Assist != nil {
		errs = append(errs, m.Assist.Close(ctx))
	}
	if m.EmbedStage != nil {
		errs = append(errs, m.EmbedStage.Close(ctx))
	}
	if m.Materializer != nil {
		errs = append(errs, m.Materializer.Close(ctx))
	}
	if m.Proposer != nil {
		errs = append(errs, m.Proposer.Close(ctx))
	}
	if m.Ollama != nil {
		errs = append(errs, m.Ollama.Close(ctx))
	}
	if m.Bridge != nil {
		errs = append(errs, m.Bridge.Close(ctx))
	}
	if m.Broker != nil {
		errs = append(errs, m.Broker.Close(ctx))
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close(ctx))
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, args []string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	cfg, _, err := LoadConfig(name, args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	m := NewMain(cfg, logger)
	var day *sim.Day
	var clock *SimClock
	if demo {
		zone, _ := time.LoadLocation(cfg.TimeZone)
		day = sim.Generate(sim.Config{Seed: cfg.Demo.Seed, Hub: cfg.Hub, Departures: cfg.Demo.Departures, Now: time.Now().In(zone)})
		clock = NewSimClock(day.Start, cfg.Demo.Speed)
		m.Clock, m.demo = clock.Now, true
	}
	if err := m.Open(ctx); err != nil {
		_ = m.Close(context.Background())
		return err
	}
	if demo {
		password, err := m.demoAdminPassword(ctx)
		if err != nil {
			_ = m.Close(context.Background())
			return err
		}
		fmt.Printf("apron demo: console at %s (simulated %s day at %gx speed)\n", m.HTTP.URL(), cfg.Hub, cfg.Demo.Speed)
		fmt.Printf("apron demo: log in as \"admin\" with password %s\n", password)
		go func() {
			if err := Play(ctx, m.Broker, day, clock, logger.With("subsystem", "simulator")); err != nil && ctx.Err() == nil {
				logger.Error("simulation stopped", "err", err)
			}
		}()
	}
	<-ctx.Done()
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return m.Close(sctx)
}

// openLogOnly opens the log of a stopped node without its client port.
func openLogOnly(cfg Config, logger *slog.Logger) (*broker.Broker, error) {
	bc := cfg.BrokerConfig()
	bc.ClientAddr = ""
	b := broker.New(bc)
	b.Logger = logger
	if err := b.Open(); err != nil {
		return nil, fmt.Errorf("open log (is the node still running?): %w", err)
	}
	return b, nil
}

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

func runRebuild(ctx context.Context, args []string) error {
	cfg, _, err := LoadConfig("rebuild", args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	b, err := openLogOnly(cfg, logger)
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

func runCheck(ctx context.Context, args []string) error {
	cfg, _, err := LoadConfig("check", args)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	b, err := openLogOnly(cfg, logger)
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
	diff, err := CheckStore(ctx, b, live, filepath.Join(cfg.Data, "check.db"), b.Trusted)
	if err != nil {
		return err
	}
	if len(diff) > 0 {
		return app.Errorf(app.ECONFLICT, "state store differs from a rebuild: %v", diff)
	}
	fmt.Println("state store equals a rebuild from the log")
	return nil
}

// CheckStore replays the log into a fresh store at tmpPath, up to exactly
// the live store's positions, and returns the tables whose contents differ.
func CheckStore(ctx context.Context, log app.Log, live *vectors.Store, tmpPath string, trusted func(app.LogEntry) bool) ([]string, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(tmpPath + suffix)
	}
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(tmpPath + suffix)
		}
	}()
	fresh := vectors.NewStore(tmpPath)
	fresh.Logger = slog.New(slog.DiscardHandler)
	if err := fresh.Open(); err != nil {
		return nil, err
	}
	defer func() { _ = fresh.Close(context.Background()) }()
	upto := map[string]uint64{}
	for _, t := range app.StateTopics {
		p, err := live.Position(ctx, app.StateConsumer, t)
		if err != nil {
			return nil, err
		}
		upto[t] = p
	}
	if err := app.Replay(ctx, log, fresh, upto, trusted); err != nil {
		return nil, err
	}
	a, err := live.Checksum(ctx)
	if err != nil {
		return nil, err
	}
	b, err := fresh.Checksum(ctx)
	if err != nil {
		return nil, err
	}
	var diff []string
	for k, v := range a {
		if b[k] != v {
			diff = append(diff, fmt.Sprintf("%s (live %s, rebuild %s)", k, v, b[k]))
		}
	}
	return diff, nil
}
