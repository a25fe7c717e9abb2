package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/apron-edge/apron/app/sim"
	"github.com/apron-edge/apron/node"
)

// runServe implements `apron serve` and `apron demo`: the node until a
// signal, with the simulated day played into its log in a demo.
func runServe(ctx context.Context, args []string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	cfg, _, err := node.LoadConfig(name, args)
	if err != nil {
		return err
	}
	// The default is ./data; say which directory this is, before it is
	// created on a first start.
	fmt.Fprintf(os.Stderr, "apron %s: data directory %s\n", name, cfg.AbsData())
	logger := node.NewLogger(cfg.LogLevel)
	m := node.NewMain(cfg, logger)
	m.Version = version
	var day *sim.Day
	var clock *sim.Clock
	if demo {
		zone, _ := time.LoadLocation(cfg.TimeZone)
		day = sim.Generate(sim.Config{Seed: cfg.Demo.Seed, Hub: cfg.Hub, Departures: cfg.Demo.Departures, Now: time.Now().In(zone)})
		clock = sim.NewClock(day.Start, cfg.Demo.Speed)
		m.Clock, m.Demo = clock.Now, true
	}
	if err := m.Open(ctx); err != nil {
		_ = m.Close(context.Background())
		return err
	}
	if demo {
		password, err := m.DemoAdminPassword(ctx)
		if err != nil {
			_ = m.Close(context.Background())
			return err
		}
		fmt.Printf("apron demo: console at %s (simulated %s day at %gx speed)\n", m.HTTP.URL(), cfg.Hub, cfg.Demo.Speed)
		fmt.Printf("apron demo: log in as \"admin\" with password %s\n", password)
		go func() {
			if err := sim.Play(ctx, m.Broker, day, clock, logger.With("subsystem", "simulator")); err != nil && ctx.Err() == nil {
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
