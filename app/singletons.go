package app

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Lease elects the one node of a cluster that runs the singletons (the
// bridge to central, the outbox publisher, disruption planning and the
// booking engine).
type Lease interface {
	// Acquire blocks until this node holds the lease or ctx ends. held
	// ends when the lease is lost or released, or ctx ends; release gives
	// the lease up (another node may take it at once).
	Acquire(ctx context.Context) (held context.Context, release func(context.Context), err error)
	// Holder names the node that holds the lease, "" when none does.
	Holder(ctx context.Context) (string, error)
}

// Duty is work that must run on one node at a time. Start begins it and
// returns at once; Stop ends it and returns when it has stopped, or with
// ctx's error.
type Duty interface {
	Start() error
	Stop(ctx context.Context) error
}

// NamedDuty gives a duty its name for logs and the cluster status.
type NamedDuty struct {
	Name string
	Duty
}

// Singletons runs its duties while this node holds the lease: it starts
// them when the lease is acquired and stops them, in reverse order, when
// it is lost, before trying again. A duty that fails to start gives the
// lease up, so that another node may try.
type Singletons struct {
	Lease  Lease
	Duties []NamedDuty
	Logger *slog.Logger
	Now    func() time.Time
	// StopTimeout bounds the stop of each duty (default 10s).
	StopTimeout time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	holding bool
	since   time.Time
	changes int
	stopBy  time.Time // set by Close: every stop step ends by then
}

// SingletonState is this node's part in the lease.
type SingletonState struct {
	Holding bool      `json:"holding"`
	Since   time.Time `json:"since"`   // when this node last acquired or lost it
	Changes int       `json:"changes"` // acquisitions and losses since start
	Duties  []string  `json:"duties"`
}

// Open starts the election loop.
func (s *Singletons) Open() error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.Logger = s.Logger.With("subsystem", "singletons")
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.StopTimeout == 0 {
		s.StopTimeout = 10 * time.Second
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.loop()
	return nil
}

// Close stops the duties, releases the lease and ends the loop.
func (s *Singletons) Close(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		// The duties stop and the lease is released within the node's
		// shutdown deadline, leaving a little of it to what closes after.
		s.mu.Lock()
		s.stopBy = dl.Add(-time.Until(dl) / 10)
		s.mu.Unlock()
	}
	s.cancel()
	return waitGroup(ctx, &s.wg)
}

// stopContext bounds one stop step: by d, and once Close has given a
// deadline, by that deadline too.
func (s *Singletons) stopContext(d time.Duration) (context.Context, context.CancelFunc) {
	s.mu.Lock()
	by := s.stopBy
	s.mu.Unlock()
	if !by.IsZero() && time.Until(by) < d {
		return context.WithDeadline(context.Background(), by)
	}
	return context.WithTimeout(context.Background(), d)
}

// State reports whether this node holds the lease.
func (s *Singletons) State() SingletonState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SingletonState{Holding: s.holding, Since: s.since, Changes: s.changes}
	for _, d := range s.Duties {
		st.Duties = append(st.Duties, d.Name)
	}
	return st
}

func (s *Singletons) setHolding(v bool) {
	s.mu.Lock()
	s.holding, s.since = v, s.Now()
	s.changes++
	s.mu.Unlock()
}

func (s *Singletons) loop() {
	defer s.wg.Done()
	for s.ctx.Err() == nil {
		held, release, err := s.Lease.Acquire(s.ctx)
		if err != nil {
			return
		}
		if started, err := s.start(); err != nil {
			s.Logger.Error("a singleton did not start; giving the lease up", "err", err)
			s.stop(started)
			s.release(release)
			select {
			case <-s.ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		s.setHolding(true)
		s.Logger.Info("running the singletons on this node")
		<-held.Done()
		// Fencing: the duties stop before the lease is given up, and when
		// it was lost, before it expires for the others.
		s.stop(len(s.Duties))
		s.setHolding(false)
		s.release(release)
		s.Logger.Info("singletons stopped on this node")
	}
}

// start starts the duties in order and returns how many started.
func (s *Singletons) start() (int, error) {
	for i, d := range s.Duties {
		if err := d.Start(); err != nil {
			return i, Errorf(EUNAVAILABLE, "start %s: %v", d.Name, err)
		}
	}
	return len(s.Duties), nil
}

// stop stops the first n duties in reverse order.
func (s *Singletons) stop(n int) {
	for i := n - 1; i >= 0; i-- {
		ctx, cancel := s.stopContext(s.StopTimeout)
		if err := s.Duties[i].Stop(ctx); err != nil {
			s.Logger.Error("stopping a singleton", "duty", s.Duties[i].Name, "err", err)
		}
		cancel()
	}
}

func (s *Singletons) release(release func(context.Context)) {
	ctx, cancel := s.stopContext(5 * time.Second)
	defer cancel()
	release(ctx)
}
