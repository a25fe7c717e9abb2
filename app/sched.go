package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Classes of model work, highest priority first. A site box has two cores
// and one model server: a staff question must never wait behind ranking,
// and the index's freshness (promised on every answer) comes before it.
const (
	ClassInteractive = "interactive" // staff questions and the query embedding of a search
	ClassFreshness   = "freshness"   // embedding the documents of fresh changes
	ClassBackfill    = "backfill"    // embedding a burst, or what was missed while the model was away
	ClassSummary     = "summary"     // the model's optional summary of an answer already given
	ClassBackground  = "background"  // ranking proposals
)

// Classes lists the classes in priority order.
var Classes = []string{ClassInteractive, ClassFreshness, ClassBackfill, ClassSummary, ClassBackground}

// ErrModelBusy marks a call that did not get the model: its class's queue
// was full or its deadline passed while it waited.
var ErrModelBusy = errors.New("model busy")

// ErrPreempted is the cause of a background call's cancellation when
// interactive work needed its slot; the work should be retried later.
var ErrPreempted = errors.New("preempted by interactive model work")

// ClassLimits bound one class of work.
type ClassLimits struct {
	MaxQueue  int           // waiting calls beyond which a new one is refused (EUNAVAILABLE)
	Timeout   time.Duration // for waiting and running together
	MaxTokens int           // generated tokens per chat call, 0: the caller's
}

// DefaultClassLimits are the limits for a two-core box.
func DefaultClassLimits() map[string]ClassLimits {
	return map[string]ClassLimits{
		ClassInteractive: {MaxQueue: 32, Timeout: 20 * time.Second, MaxTokens: 160},
		ClassFreshness:   {MaxQueue: 8, Timeout: 2 * time.Minute},
		ClassBackfill:    {MaxQueue: 4, Timeout: 2 * time.Minute},
		ClassSummary:     {MaxQueue: 4, Timeout: 20 * time.Second, MaxTokens: 160},
		ClassBackground:  {MaxQueue: 4, Timeout: 90 * time.Second, MaxTokens: 96},
	}
}

// ClassStats are one class's counters since the scheduler started.
type ClassStats struct {
	Class     string  `json:"class"`
	Queued    int     `json:"queued"`
	Running   int     `json:"running"`
	Served    uint64  `json:"served"`
	WaitSum   float64 `json:"wait_seconds_sum"`
	WaitMax   float64 `json:"wait_seconds_max"`
	Timeouts  uint64  `json:"timeouts"`
	Preempted uint64  `json:"preempted"`
	Rejected  uint64  `json:"rejected"`
}

// Scheduler runs all work for the local model server with priorities: a
// free slot goes to the highest class that waits, and interactive work
// or freshness work that finds every slot busy cancels a running
// background call.
type Scheduler struct {
	Slots  int // concurrent model calls; default 1
	Limits map[string]ClassLimits

	mu      sync.Mutex
	running map[*ticket]struct{}
	queues  map[string][]*ticket
	stats   map[string]*ClassStats
	// A chunked embedding releases the slot between its chunks: for a
	// moment after, the slot is kept for its next chunk (holdFor) rather
	// than given to a lower class that happened to be waiting.
	holdFor   string
	holdUntil time.Time
	holdTimer *time.Timer
	// lastInteractive is when the last interactive call (a question's or
	// a search's query embedding) asked for the model.
	lastInteractive time.Time
}

// chunkHold is how long a slot freed by a chunk of embedding waits for
// the next chunk of the same class before a lower class may take it.
const chunkHold = 5 * time.Millisecond

// rank is a class's place in Classes, 0 highest.
func rank(class string) int {
	for i, c := range Classes {
		if c == class {
			return i
		}
	}
	return len(Classes)
}

type ticket struct {
	class  string
	ready  chan struct{}
	cancel context.CancelCauseFunc
}

func (s *Scheduler) init() {
	if s.running == nil {
		s.running = map[*ticket]struct{}{}
		s.queues = map[string][]*ticket{}
		s.stats = map[string]*ClassStats{}
		for _, c := range Classes {
			s.stats[c] = &ClassStats{Class: c}
		}
		if s.Limits == nil {
			s.Limits = DefaultClassLimits()
		}
	}
}

func (s *Scheduler) slots() int { return max(1, s.Slots) }

// InteractiveWithin says whether an interactive call asked for the model
// in the last d: staff are using the node.
func (s *Scheduler) InteractiveWithin(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.lastInteractive.IsZero() && time.Since(s.lastInteractive) < d
}

// Limit returns the limits of class.
func (s *Scheduler) Limit(class string) ClassLimits {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	return s.Limits[class]
}

// Do runs fn in a slot of class. The context fn gets ends at the class's
// timeout (counted from the call, so queueing counts) and, for background
// work, when interactive work preempts it (context.Cause is ErrPreempted).
// Returns EUNAVAILABLE when the class's queue is full or the deadline
// passes while waiting.
func (s *Scheduler) Do(ctx context.Context, class string, fn func(ctx context.Context) error) error {
	return s.DoWithin(ctx, class, 0, fn)
}

// DoWithin is Do for a call that would rather not run than wait: when no
// slot is granted within wait (0: the class's deadline), it returns
// ErrModelBusy (EUNAVAILABLE) at once. A search uses it for its query
// embedding and answers from full text instead.
func (s *Scheduler) DoWithin(ctx context.Context, class string, wait time.Duration, fn func(ctx context.Context) error) error {
	s.mu.Lock()
	s.init()
	lim, st := s.Limits[class], s.stats[class]
	if st == nil {
		s.mu.Unlock()
		return Errorf(EINTERNAL, "model work class %q unknown", class)
	}
	if lim.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
		defer cancel()
	}
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := &ticket{class: class, ready: make(chan struct{}), cancel: cancel}
	if lim.MaxQueue > 0 && len(s.queues[class]) >= lim.MaxQueue {
		st.Rejected++
		s.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrModelBusy, Errorf(EUNAVAILABLE, "the model is busy: %d %s calls are waiting", lim.MaxQueue, class))
	}
	s.queues[class] = append(s.queues[class], t)
	st.Queued++
	if class == ClassInteractive {
		s.lastInteractive = time.Now()
	}
	// Ranking yields to both: a question, and the index's freshness.
	if class != ClassBackground && len(s.running) >= s.slots() {
		s.preemptLocked()
	}
	s.dispatchLocked()
	s.mu.Unlock()

	start := time.Now()
	waitCtx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	select {
	case <-t.ready:
	case <-waitCtx.Done():
		s.mu.Lock()
		select {
		case <-t.ready: // granted meanwhile: give the slot back below
			s.mu.Unlock()
			s.release(t)
		default:
			s.removeLocked(t)
			st.Queued--
			st.Timeouts++
			s.mu.Unlock()
		}
		return fmt.Errorf("%w: %w", ErrModelBusy, Errorf(EUNAVAILABLE, "the model did not become free in time for %s work: %v", class, context.Cause(waitCtx)))
	}
	waited := time.Since(start).Seconds()
	s.mu.Lock()
	st.WaitSum += waited
	st.WaitMax = max(st.WaitMax, waited)
	s.mu.Unlock()
	err := fn(rctx)
	s.mu.Lock()
	switch {
	case errors.Is(context.Cause(rctx), ErrPreempted):
		st.Preempted++
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		st.Timeouts++
	}
	st.Served++
	s.mu.Unlock()
	s.release(t)
	if err != nil && errors.Is(context.Cause(rctx), ErrPreempted) {
		return fmt.Errorf("%w: %v", ErrPreempted, err)
	}
	return err
}

func (s *Scheduler) release(t *ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, t)
	s.stats[t.class].Running--
	if t.class == ClassFreshness || t.class == ClassBackfill {
		s.holdFor, s.holdUntil = t.class, time.Now().Add(chunkHold)
	}
	s.dispatchLocked()
}

// dispatchLocked grants free slots to the waiting calls, highest class
// first, oldest first within a class; a class below the one the slot is
// held for waits until the hold ends.
func (s *Scheduler) dispatchLocked() {
	for len(s.running) < s.slots() {
		var next string
		for _, c := range Classes {
			if len(s.queues[c]) > 0 {
				next = c
				break
			}
		}
		if next == "" {
			return
		}
		if wait := time.Until(s.holdUntil); wait > 0 && rank(next) > rank(s.holdFor) {
			if s.holdTimer == nil {
				s.holdTimer = time.AfterFunc(wait, func() {
					s.mu.Lock()
					defer s.mu.Unlock()
					s.holdTimer = nil
					s.dispatchLocked()
				})
			}
			return
		}
		q := s.queues[next]
		t := q[0]
		s.queues[next] = q[1:]
		st := s.stats[t.class]
		st.Queued--
		st.Running++
		s.running[t] = struct{}{}
		close(t.ready)
	}
}

// preemptLocked cancels one running background call, if there is one;
// its slot is given back when its function returns.
func (s *Scheduler) preemptLocked() {
	for t := range s.running {
		if t.class == ClassBackground {
			t.cancel(ErrPreempted)
			return
		}
	}
}

func (s *Scheduler) removeLocked(t *ticket) {
	q := s.queues[t.class]
	for i, x := range q {
		if x == t {
			s.queues[t.class] = append(q[:i:i], q[i+1:]...)
			return
		}
	}
}

// Stats returns each class's counters, in priority order.
func (s *Scheduler) Stats() []ClassStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	out := make([]ClassStats, 0, len(Classes))
	for _, c := range Classes {
		out = append(out, *s.stats[c])
	}
	return out
}

// Busy reports whether any work of a class above class waits or runs.
func (s *Scheduler) Busy(class string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	for _, c := range Classes {
		if c == class {
			return false
		}
		if st := s.stats[c]; st.Queued > 0 || st.Running > 0 {
			return true
		}
	}
	return false
}

// ScheduledChat is a chat model whose calls go through a scheduler in one
// class, with the class's token cap.
type ScheduledChat struct {
	Model ChatModel
	Sched *Scheduler
	Class string
}

// Chat runs the call in the scheduler. See Scheduler.Do for the errors.
func (c ScheduledChat) Chat(ctx context.Context, req ChatRequest, onToken func(string)) (ChatReply, error) {
	if lim := c.Sched.Limit(c.Class); lim.MaxTokens > 0 && (req.MaxTokens == 0 || req.MaxTokens > lim.MaxTokens) {
		req.MaxTokens = lim.MaxTokens
	}
	var reply ChatReply
	err := c.Sched.Do(ctx, c.Class, func(ctx context.Context) error {
		var err error
		reply, err = c.Model.Chat(ctx, req, onToken)
		return err
	})
	return reply, err
}

// ScheduledEmbedder is an embedder whose calls go through a scheduler. A
// long list of texts is embedded in chunks, each taking the model on its
// own, so that a question waits at most one chunk, never a whole batch.
type ScheduledEmbedder struct {
	Embedder
	Sched *Scheduler
	Class string
	Chunk int // texts per model call; default 16
	// QuietChunk, when larger than Chunk, is the chunk used while no
	// interactive call asked for the model in the last QuietFor (default
	// 10 s): on two cores a call of 4 texts gets 60-75% of the texts per
	// second of a call of 64, and one of 16 about 95%, but holds the
	// slot four times as long before a question's embedding gets it.
	QuietChunk int
	QuietFor   time.Duration
	// MaxWait, when set, is how long a call waits for the model before
	// giving up with ErrModelBusy (see Scheduler.DoWithin).
	MaxWait time.Duration
}

// Embed runs the call in the scheduler, chunk by chunk. See Scheduler.Do
// for the errors.
func (e ScheduledEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for i := 0; i < len(texts); {
		part := texts[i:min(len(texts), i+e.chunk())]
		i += len(part)
		err := e.Sched.DoWithin(ctx, e.Class, e.MaxWait, func(ctx context.Context) error {
			vs, err := e.Embedder.Embed(ctx, part)
			out = append(out, vs...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chunk is the size of the next call: QuietChunk while staff do not use
// the model, else Chunk.
func (e ScheduledEmbedder) chunk() int {
	chunk := e.Chunk
	if chunk <= 0 {
		chunk = 16
	}
	quiet := e.QuietFor
	if quiet <= 0 {
		quiet = 10 * time.Second
	}
	if e.QuietChunk > chunk && !e.Sched.InteractiveWithin(quiet) {
		return e.QuietChunk
	}
	return chunk
}

// WithModel returns the scheduled embedder of another model of the same
// server, when the embedder can switch (see ModelSwitcher).
func (e ScheduledEmbedder) WithModel(name string) Embedder {
	sw, ok := e.Embedder.(ModelSwitcher)
	if !ok {
		return e
	}
	e.Embedder = sw.WithModel(name)
	return e
}
