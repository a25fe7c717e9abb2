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
	return PlayFrom(ctx, log, day, clock, 0, nil, logger)
}

// PlayFrom is Play from the day's event number from on, the events before
// it played already (a resumed day). After each batch the log acknowledged
// it reports to played how many of the day's events are in the log, so
// that a resume neither skips nor repeats them; an event sent twice (the
// report lost in a crash) is a duplicate of the same id, which the log
// drops.
func PlayFrom(ctx context.Context, log app.Log, day *Day, clock *Clock, from int, played func(n int), logger *slog.Logger) error {
	logger.Info("simulated day", "events", len(day.Events), "from", from, "start", day.Start, "end", day.End, "sim_now", clock.Now())
	i := min(max(from, 0), len(day.Events))
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
			if played != nil {
				played(i)
			}
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
