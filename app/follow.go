package app

import (
	"context"
	"log/slog"
	"time"
)

// follower is the loop of a pipeline stage over one topic: from the
// stage's stored position it reads batches in offset order and hands each
// to handle, which commits the stage's effect together with the position
// of the batch's last entry. After a failure it backs off and starts over
// from the stored position, so nothing is skipped and, the position being
// part of the effect, nothing is applied twice. It stops when ctx ends.
type follower struct {
	stage  string // in logs: "materializer", "embedding stage", ...
	topic  string
	log    Log
	logger *slog.Logger
	batch  int // entries per batch at most
	// start prepares a pass (the embedding stage looks up its model) and
	// returns the last offset the stage handled.
	start func(ctx context.Context) (uint64, error)
	// handle handles a batch and commits the position with its effect.
	handle func(ctx context.Context, entries []LogEntry) error
	// minBackoff and maxBackoff bound the waits after a failure.
	minBackoff, maxBackoff time.Duration
}

// run follows the topic until ctx ends.
func (f *follower) run(ctx context.Context) {
	r := newRetrier(f.logger, f.stage, f.minBackoff, f.maxBackoff, "topic", f.topic)
	for ctx.Err() == nil {
		if err := f.pass(ctx, r.ok); err != nil {
			r.failed(ctx, err)
		}
	}
}

// pass reads from the stored position until a failure or ctx ends,
// calling ok after each handled batch.
func (f *follower) pass(ctx context.Context, ok func()) error {
	pos, err := f.start(ctx)
	if err != nil {
		return err
	}
	rd, err := f.log.NewReader(ctx, f.topic, pos+1)
	if err != nil {
		return err
	}
	defer rd.Close()
	for ctx.Err() == nil {
		entries, err := rd.Next(ctx, f.batch, time.Second)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			continue
		}
		if err := f.handle(ctx, entries); err != nil {
			return err
		}
		ok()
	}
	return nil
}

// retrier paces a loop that retries after failures: a growing backoff
// with jitter, a warning when failures start, debug lines while they go
// on, a line when the loop recovers, and no wait past shutdown.
type retrier struct {
	logger  *slog.Logger
	what    string
	attrs   []any
	backoff *Backoff
	failing bool
}

func newRetrier(logger *slog.Logger, what string, minWait, maxWait time.Duration, attrs ...any) *retrier {
	if logger == nil {
		logger = slog.Default()
	}
	return &retrier{logger: logger, what: what, attrs: attrs, backoff: NewBackoff(minWait, maxWait)}
}

// ok records a success: the next failure waits the shortest time again.
func (r *retrier) ok() {
	if r.failing {
		r.logger.Info(r.what+" recovered", r.attrs...)
		r.failing = false
	}
	r.backoff.Reset()
}

// failed logs err and waits the next backoff, or until ctx ends. A
// failure because ctx ended is no failure: it returns at once.
func (r *retrier) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	d := r.backoff.Next()
	attrs := append(append([]any{}, r.attrs...), "code", ErrorCode(err), "err", err, "retry_in", d)
	if !r.failing {
		r.logger.Warn(r.what+" failing: retrying", attrs...)
		r.failing = true
	} else {
		r.logger.Debug(r.what+" retrying", attrs...)
	}
	pause(ctx, d)
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
