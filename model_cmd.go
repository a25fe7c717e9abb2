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
)

// runModel implements `apron model status` and `apron model import`.
func runModel(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return app.Errorf(app.EINVALID, "usage: apron model status | apron model import --name NAME PATH")
	}
	switch args[0] {
	case "status":
		cfg, _, err := LoadConfig("model status", args[1:])
		if err != nil {
			return err
		}
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
		if st, err := openStoreOnly(cfg); err == nil {
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
		fs := flag.NewFlagSet("model import", flag.ContinueOnError)
		name := fs.String("name", "", "name of the model to create, e.g. all-minilm:l6-v2")
		url := fs.String("ollama", DefaultConfig().Ollama.URL, "Ollama server")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return app.Errorf(app.EINVALID, "path: give one GGUF file or model folder")
		}
		return inference.Import(ctx, *url, *name, fs.Arg(0), func(s string) { fmt.Fprintln(os.Stderr, s) })
	}
	return app.Errorf(app.EINVALID, "usage: apron model status | apron model import --name NAME PATH")
}
