package app

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Stats come in the order of Classes.
func TestSchedulerStatsFollowTheClassOrder(t *testing.T) {
	var s Scheduler
	for i, st := range s.Stats() {
		if st.Class != Classes[i] {
			t.Fatalf("stats %d is %s, want %s", i, st.Class, Classes[i])
		}
	}
	if Classes[1] != ClassFreshness || Classes[2] != ClassBackfill || Classes[4] != ClassBackground {
		t.Fatalf("classes %v: fresh changes, then a burst's backlog, ranking last", Classes)
	}
}

func TestSchedulerServesHigherClassesFirstAndPreemptsBackground(t *testing.T) {
	s := &Scheduler{Slots: 1, Limits: map[string]ClassLimits{
		ClassInteractive: {Timeout: 5 * time.Second}, ClassFreshness: {Timeout: 5 * time.Second}, ClassBackground: {Timeout: 5 * time.Second, MaxQueue: 2},
	}}
	// A question arrives while a ranking runs: the ranking is cancelled.
	started := make(chan struct{})
	bgErr := make(chan error, 1)
	go func() {
		bgErr <- s.Do(context.Background(), ClassBackground, func(ctx context.Context) error {
			close(started)
			<-ctx.Done() // a long ranking call
			return ctx.Err()
		})
	}()
	<-started
	hold := make(chan struct{})
	running := make(chan struct{})
	go func() {
		_ = s.Do(context.Background(), ClassInteractive, func(context.Context) error { close(running); <-hold; return nil })
	}()
	if err := <-bgErr; !errors.Is(err, ErrPreempted) {
		t.Fatalf("background call ended with %v, want ErrPreempted", err)
	}
	<-running
	// While the question runs, a ranking and then an embedding queue: the
	// embedding goes first when the slot frees.
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	for i, c := range []string{ClassBackground, ClassFreshness} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Do(context.Background(), c, func(context.Context) error {
				mu.Lock()
				order = append(order, c)
				mu.Unlock()
				return nil
			})
		}()
		waitFor(t, func() bool {
			st := s.Stats()
			return st[1].Queued+st[4].Queued == i+1
		})
	}
	close(hold)
	wg.Wait()
	if len(order) != 2 || order[0] != ClassFreshness {
		t.Errorf("order %v, want freshness before background", order)
	}
	st := s.Stats()
	if st[4].Preempted != 1 || st[0].Served != 1 || st[1].Served != 1 || st[4].Served != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestSchedulerBoundsQueuesAndCountsQueueingInTheDeadline(t *testing.T) {
	s := &Scheduler{Slots: 1, Limits: map[string]ClassLimits{
		ClassInteractive: {Timeout: 50 * time.Millisecond}, ClassFreshness: {Timeout: 5 * time.Second, MaxQueue: 1}, ClassBackground: {},
	}}
	release := make(chan struct{})
	busy := make(chan struct{})
	go func() {
		_ = s.Do(context.Background(), ClassFreshness, func(context.Context) error { close(busy); <-release; return nil })
	}()
	<-busy
	go func() { _ = s.Do(context.Background(), ClassFreshness, func(context.Context) error { return nil }) }()
	waitFor(t, func() bool { return s.Stats()[1].Queued == 1 })
	if err := s.Do(context.Background(), ClassFreshness, func(context.Context) error { return nil }); ErrorCode(err) != EUNAVAILABLE {
		t.Errorf("a full queue answered %v, want EUNAVAILABLE", err)
	}
	// The interactive call cannot preempt an embedding: it waits, and its
	// deadline covers the wait.
	ran := false
	err := s.Do(context.Background(), ClassInteractive, func(context.Context) error { ran = true; return nil })
	if ErrorCode(err) != EUNAVAILABLE || ran {
		t.Errorf("waiting past the deadline: err %v ran %v", err, ran)
	}
	close(release)
	if st := s.Stats(); st[0].Timeouts != 1 || st[1].Rejected != 1 {
		t.Errorf("stats %+v", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

type countingEmbedder struct {
	calls [][]string
}

func (c *countingEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	c.calls = append(c.calls, texts)
	out := make([][]float32, len(texts))
	for i := range texts {
		out[i] = []float32{float32(len(c.calls))}
	}
	return out, nil
}

func (c *countingEmbedder) Model(context.Context) (EmbedModel, error) {
	return EmbedModel{Name: "x", Dim: 1}, nil
}

func TestScheduledEmbedderTakesTheModelChunkByChunkAndGivesUpWhenTold(t *testing.T) {
	s := &Scheduler{Slots: 1}
	c := &countingEmbedder{}
	e := ScheduledEmbedder{Embedder: c, Sched: s, Class: ClassFreshness, Chunk: 4}
	texts := make([]string, 10)
	vs, err := e.Embed(context.Background(), texts)
	if err != nil || len(vs) != 10 || len(c.calls) != 3 || len(c.calls[2]) != 2 || vs[9][0] != 3 {
		t.Fatalf("vectors %v calls %v err %v", vs, c.calls, err)
	}
	if st := s.Stats(); st[1].Served != 3 {
		t.Fatalf("stats %+v", st)
	}
	// A query embedding that would rather not wait: the slot is taken.
	hold, busy := make(chan struct{}), make(chan struct{})
	go func() {
		_ = s.Do(context.Background(), ClassFreshness, func(context.Context) error { close(busy); <-hold; return nil })
	}()
	<-busy
	q := ScheduledEmbedder{Embedder: c, Sched: s, Class: ClassInteractive, MaxWait: 20 * time.Millisecond}
	if _, err := q.Embed(context.Background(), []string{"LH400"}); !errors.Is(err, ErrModelBusy) || ErrorCode(err) != EUNAVAILABLE {
		t.Fatalf("err %v, want ErrModelBusy", err)
	}
	close(hold)
}

// A chunked embedding gives the slot back between its chunks; a summary
// that waits meanwhile must not take it from the next chunk.
func TestChunksOfEmbeddingKeepTheSlotFromLowerClasses(t *testing.T) {
	s := &Scheduler{Slots: 1}
	var mu sync.Mutex
	var order []string
	note := func(c string) {
		mu.Lock()
		order = append(order, c)
		mu.Unlock()
	}
	first := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Do(context.Background(), ClassBackfill, func(context.Context) error { close(first); <-release; note("chunk 1"); return nil })
		// The next chunk asks at once, as ScheduledEmbedder does.
		_ = s.Do(context.Background(), ClassBackfill, func(context.Context) error { note("chunk 2"); return nil })
	}()
	<-first
	summary := make(chan struct{})
	go func() {
		defer close(summary)
		_ = s.Do(context.Background(), ClassSummary, func(context.Context) error { note("summary"); return nil })
	}()
	waitFor(t, func() bool { return s.Stats()[3].Queued == 1 })
	close(release)
	<-done
	<-summary
	if len(order) != 3 || order[1] != "chunk 2" {
		t.Fatalf("order %v: the summary took the slot between two chunks", order)
	}
}

// The catch-up embeds in large chunks while nobody asks the model, and in
// small ones for a while after a question's embedding.
func TestBackfillChunksShrinkWhileStaffUseTheModel(t *testing.T) {
	s := &Scheduler{Slots: 1}
	c := &countingEmbedder{}
	e := ScheduledEmbedder{Embedder: c, Sched: s, Class: ClassBackfill, Chunk: 4, QuietChunk: 16, QuietFor: time.Hour}
	if _, err := e.Embed(context.Background(), make([]string, 40)); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 3 || len(c.calls[0]) != 16 || len(c.calls[2]) != 8 {
		t.Fatalf("quiet: calls of %v, want 16, 16, 8", sizes(c.calls))
	}
	q := ScheduledEmbedder{Embedder: c, Sched: s, Class: ClassInteractive}
	if _, err := q.Embed(context.Background(), []string{"LH400"}); err != nil {
		t.Fatal(err)
	}
	c.calls = nil
	if _, err := e.Embed(context.Background(), make([]string, 10)); err != nil {
		t.Fatal(err)
	}
	if got := sizes(c.calls); len(got) != 3 || got[0] != 4 || got[2] != 2 {
		t.Fatalf("after a question: calls of %v, want 4, 4, 2", got)
	}
}

func sizes(calls [][]string) []int {
	var out []int
	for _, c := range calls {
		out = append(out, len(c))
	}
	return out
}
