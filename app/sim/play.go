package sim

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/apron-edge/apron/app"
)

// Clock is a clock that starts at a simulated moment and runs Speed
// times faster than real time.
type Clock struct {
	start time.Time
	began time.Time
	speed float64
}

// NewClock starts a simulated clock at start.
func NewClock(start time.Time, speed float64) *Clock {
	return &Clock{start: start, began: time.Now(), speed: speed}
}

// Now returns the simulated time.
func (c *Clock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.began)) * c.speed))
}

// Play appends the day's events to log when clock reaches them, batching
// whatever falls due together.
func Play(ctx context.Context, log app.Log, day *Day, clock *Clock, logger *slog.Logger) error {
	logger.Info("simulated day", "events", len(day.Events), "start", day.Start, "end", day.End)
	i := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i < len(day.Events) {
		simNow := clock.Now()
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
			// The morning's whole booking book arrives at once; a log
			// takes a bounded number of events per append.
			for chunk := range slices.Chunk(byTopic[t], playChunk) {
				if _, err := log.Append(ctx, t, chunk); err != nil {
					return err
				}
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

// playChunk is the most events Play appends at once.
const playChunk = 1000
