// Command apron is the airport edge node: the event log, the state store,
// the API and the console in one process. See README.md and
// docs/architecture.md.
//
// This file holds the dispatch, the signals and the usage; the node's
// wiring is package node, and each command group has its file here:
// cmd_serve.go (serve, demo, health), cmd_data.go (rebuild, check, search, backup, restore, erase),
// cmd_users.go (user, token), cmd_model.go (model), cmd_bench.go (bench, eval).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the console shows local times even in a minimal container

	"github.com/apron-edge/apron/app"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `apron: the airport edge node

Usage:
  apron serve   [flags]   run the node
  apron demo    [flags]   run the node with a simulated airport day
  apron health [-ready]   ask the running node for /healthz (or /readyz); fails unless it answers 200
  apron rebuild [flags]   rebuild the state from the log, keeping users, tokens, proposals (node stopped)
  apron check   [flags]   prove the state store equals a rebuild (a running node checks itself: --token)
  apron search  WORDS...  hybrid search over the index
  apron backup DIR --token T   an online backup of the running node into the new directory DIR (admin token)
  apron restore DIR --data D   make the new data directory D from the backup DIR, and check it
  apron erase --passenger ID --token T   erase a passenger everywhere and wait for it (site admin; node running)
  apron cluster status --token T   peers, topic leaders and who runs each singleton (node running)
  apron model status      the configured models, present or not
  apron model import --name NAME PATH   create a model from a GGUF file or folder (offline)
  apron user add  --role ROLE NAME   add a console user (password on stdin)
  apron user list [--json]           the console users
  apron user remove NAME             disable a console user
  apron token add --role ROLE NAME   create an API token for a machine client
  apron token list [--json]          the API tokens
  apron token revoke ID|NAME         revoke an API token
  apron bench NAME        a benchmark: ingest, console, bridge, assist, assist-live, embed, search
  apron eval [-seed N] [-hub X] [-departures N] [-ollama URL]
                          score answers and rebooking on a simulated day with a known truth
  apron version           print the version

Every command and subcommand takes -h for its flags and their defaults;
list commands print a table, or JSON with --json.
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
	case "health":
		err = runHealth(ctx, args)
	case "rebuild":
		err = runRebuild(ctx, args)
	case "check":
		err = runCheck(ctx, args)
	case "bench":
		err = runBench(ctx, args)
	case "eval":
		err = runEval(ctx, args)
	case "search":
		err = runSearch(ctx, args)
	case "backup":
		err = runBackup(ctx, args)
	case "restore":
		err = runRestore(ctx, args)
	case "erase":
		err = runErase(ctx, args)
	case "cluster":
		err = runCluster(ctx, args)
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
