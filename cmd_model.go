package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/inference"
	"github.com/apron-edge/apron/node"
)

// runModel implements `apron model status` and `apron model import`. Both
// read the node's configuration; with ollama.serve on and the node stopped
// they start the node's Ollama for the time of the command.
func runModel(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return app.Errorf(app.EINVALID, "usage: apron model status | apron model import --name NAME PATH")
	}
	if wantsHelp(args[:1]) {
		fmt.Fprintln(os.Stderr, "usage: apron model status | apron model import --name NAME PATH")
		return flag.ErrHelp
	}
	switch args[0] {
	case "status":
		cfg, _, err := node.LoadConfig("model status", args[1:])
		if err != nil {
			return err
		}
		stop, err := modelServer(ctx, cfg)
		if err != nil {
			return err
		}
		defer stop()
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		sts, err := inference.Status(cctx, cfg.Ollama.URL, map[string]string{cfg.Ollama.ChatModel: "chat", cfg.Ollama.EmbedModel: "embed"})
		if err != nil {
			return err
		}
		sort.Slice(sts, func(i, j int) bool { return sts[i].Role < sts[j].Role })
		missing := 0
		for _, s := range sts {
			if s.Present {
				fmt.Printf("%-5s %-22s present  %s  %d MB\n", s.Role, s.Name, s.Digest, s.SizeBytes>>20)
			} else {
				missing++
				fmt.Printf("%-5s %-22s %s\n", s.Role, s.Name, s.Problem)
			}
		}
		if st, err := node.OpenStoreOnly(cfg); err == nil {
			if ms, err := st.IndexModels(ctx); err == nil {
				for _, m := range ms {
					fmt.Printf("index %-22s %-8s %d dims, %d documents without a vector\n", m.Name, m.State, m.Dim, m.Missing)
				}
			}
			_ = st.Close(ctx)
		}
		if missing > 0 {
			return app.Errorf(app.ENOTFOUND, "%d configured model(s) missing", missing)
		}
		return nil
	case "import":
		var name, url *string
		cfg, fs, err := node.LoadConfigWithFlags("model import", args[1:], func(fs *flag.FlagSet) {
			name = fs.String("name", "", "name of the model to create, e.g. all-minilm:l6-v2")
			url = fs.String("ollama", "", "an Ollama server to use instead of the configured one (ollama.url, ollama.serve)")
		})
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return app.Errorf(app.EINVALID, "path: give one GGUF file or model folder")
		}
		if *url != "" {
			cfg.Ollama.URL, cfg.Ollama.Serve = *url, false
		}
		stop, err := modelServer(ctx, cfg)
		if err != nil {
			return err
		}
		defer stop()
		return inference.Import(ctx, cfg.Ollama.URL, *name, fs.Arg(0), func(s string) { fmt.Fprintln(os.Stderr, s) })
	}
	return app.Errorf(app.EINVALID, "usage: apron model status | apron model import --name NAME PATH")
}

// modelServer makes the node's Ollama reachable for a model command. With
// ollama.serve on and nothing listening at ollama.url (the node is
// stopped), it starts the server as the node would, with the same models
// directory, and stop ends it; when something listens there, the command
// uses it (normally the running node's own server).
func modelServer(ctx context.Context, cfg node.Config) (stop func(), err error) {
	if !cfg.Ollama.Serve {
		return func() {}, nil
	}
	// The models live in the data directory: the command holds it while
	// its own server runs. A running node holds it already, and its
	// server is the one to use. Models may be imported before the node's
	// first start, into a directory made for it, but never into one a
	// typo names.
	if _, err := os.Stat(cfg.Data); err != nil {
		return nil, node.RequireData(cfg.Data)
	}
	lock, err := node.LockData(cfg.Data, true)
	if app.ErrorCode(err) == app.ECONFLICT {
		return func() {}, nil
	} else if err != nil {
		return nil, err
	}
	srv := cfg.OllamaServer(node.NewLogger(cfg.LogLevel))
	err = srv.Open(ctx)
	if app.ErrorCode(err) == app.ECONFLICT {
		_ = lock.Unlock()
		return func() {}, nil
	} else if err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "apron model: nothing listened at %s; started ollama serve for this command (models in %s)\n", cfg.Ollama.URL, srv.ModelsDir)
	fmt.Fprintf(os.Stderr, "apron model: data directory %s\n", cfg.AbsData())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Close(sctx)
		_ = lock.Unlock()
	}, nil
}
