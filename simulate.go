package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
)

// runSimulation plays a generated airport day into the node's log on a
// simulated clock that runs Config.Demo.Speed times faster than real time.
func runSimulation(ctx context.Context, m *Main, logger *slog.Logger) error {
	zone, _ := time.LoadLocation(m.Config.TimeZone)
	day := sim.Generate(sim.Config{Seed: m.Config.Demo.Seed, Hub: m.Config.Hub, Departures: m.Config.Demo.Departures, Now: time.Now().In(zone)})
	logger = logger.With("subsystem", "simulator")
	logger.Info("simulated day", "events", len(day.Events), "start", day.Start, "end", day.End)
	return Play(ctx, m.Broker, day, m.Config.Demo.Speed, logger)
}

// Play appends the day's events to log when the simulated clock reaches
// them, batching whatever falls due together.
func Play(ctx context.Context, log app.Log, day *sim.Day, speed float64, logger *slog.Logger) error {
	began := time.Now()
	i := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i < len(day.Events) {
		simNow := day.Start.Add(time.Duration(float64(time.Since(began)) * speed))
		byTopic := map[string][]*app.Event{}
		var order []string
		for i < len(day.Events) && !day.Events[i].At.After(simNow) {
			e := day.Events[i].Event
			t := e.Topic()
			if _, ok := byTopic[t]; !ok {
				order = append(order, t)
			}
			byTopic[t] = append(byTopic[t], e)
			i++
		}
		for _, t := range order {
			if _, err := log.Append(ctx, t, byTopic[t]); err != nil {
				return err
			}
		}
		if len(order) > 0 {
			logger.Debug("simulated events", "sim_time", simNow.Format(time.DateTime), "done", i, "of", len(day.Events))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	logger.Info("simulated day complete", "events", len(day.Events))
	return nil
}
