package vectors_test

import (
	"context"
	"testing"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

// controlLog applies control changes to a store one offset after another,
// as the control materialiser does.
type controlLog struct {
	t   *testing.T
	s   *vectors.Store
	off uint64
}

func (l *controlLog) apply(ch app.ControlChange) uint64 {
	l.t.Helper()
	l.off++
	ch.Offset = l.off
	if err := l.s.ApplyControl(context.Background(), []app.ControlChange{ch}, l.off, t0); err != nil {
		l.t.Fatal(err)
	}
	return l.off
}

func (l *controlLog) plan(id, loc string) {
	p := &app.Proposal{ID: id, Locator: loc, Flight: "LH400-2026-11-25", Reason: "cancelled", CreatedAt: t0,
		Options: []app.Option{{ID: "opt-1", Flights: []string{"LH402-2026-11-25"}, Cabin: "Y"}}, Chosen: "opt-1"}
	l.apply(app.ControlChange{Type: app.TypeProposalChanged, Proposal: &app.ProposalChange{Op: app.OpPlanned, ProposalID: id, Locator: loc, Flight: p.Flight, Proposal: p}})
}

func (l *controlLog) approve(id, loc, key string) uint64 {
	return l.apply(app.ControlChange{Type: app.TypeProposalCommand, Command: &app.ProposalCommand{Kind: app.CommandApprove, ProposalID: id, Locator: loc, Flight: "LH400-2026-11-25", Key: key, Actor: "gate1", At: t0}})
}

func (l *controlLog) outcome(id, loc string, out app.Outcome) uint64 {
	out.Kind, out.Actor, out.At = app.CommandApprove, "gate1", t0
	return l.apply(app.ControlChange{Type: app.TypeProposalChanged, Proposal: &app.ProposalChange{Op: app.OpDecided, ProposalID: id, Locator: loc, Flight: "LH400-2026-11-25", Outcome: &out}})
}

// TestOutcomesAreBelievedOnceAndFenced: of the booking engine's outcomes
// on the control topic, the store believes the first for each command,
// and ignores one from an older epoch than an outcome it has believed,
// one decided on a state that lacked an outcome believed since, and one
// that would change a proposal that is no longer pending.
func TestOutcomesAreBelievedOnceAndFenced(t *testing.T) {
	ctx := context.Background()
	s := MustOpenStore(t)
	l := &controlLog{t: t, s: s}
	l.plan("p-A", "AAAAAA")
	l.plan("p-B", "BBBBBB")
	l.plan("p-C", "CCCCCC")

	ca := l.approve("p-A", "AAAAAA", "k-a")
	first := l.outcome("p-A", "AAAAAA", app.Outcome{Command: ca, Epoch: 7, Basis: ca, Result: app.ProposalExecuted, Detail: "moved", Key: "k-a",
		Holds: []app.SeatHold{{Flight: "LH402-2026-11-25", Cabin: "Y", Seats: 1, EventTime: t0}}})
	// The same command decided again (a second engine, or a replay).
	l.outcome("p-A", "AAAAAA", app.Outcome{Command: ca, Epoch: 8, Basis: first, Result: app.ProposalFailed, Detail: "second", Key: "k-a"})
	st, err := s.Command(ctx, ca)
	must(t, err)
	if st.Outcome == nil || st.OutcomeOff != first || st.Outcome.Detail != "moved" {
		t.Fatalf("command A: %+v (outcome %+v), want the first outcome at %d", st, st.Outcome, first)
	}
	if p, _ := s.Proposal(ctx, "p-A"); p.Status != app.ProposalExecuted || p.DecidedBy != "gate1" {
		t.Fatalf("p-A: %s by %q", p.Status, p.DecidedBy)
	}
	if ex, err := s.ExecutionByKey(ctx, "k-a"); err != nil || ex.Outcome != app.ProposalExecuted {
		t.Fatalf("execution of k-a: %+v %v", ex, err)
	}

	// An engine of an older epoch (it lost the lease and did not stop in
	// time) is not believed, nor one that decided before outcome A.
	cb := l.approve("p-B", "BBBBBB", "k-b")
	l.outcome("p-B", "BBBBBB", app.Outcome{Command: cb, Epoch: 6, Basis: cb, Result: app.ProposalExecuted, Key: "k-b"})
	l.outcome("p-B", "BBBBBB", app.Outcome{Command: cb, Epoch: 7, Basis: ca, Result: app.ProposalExecuted, Key: "k-b"})
	if st, _ := s.Command(ctx, cb); st.Outcome != nil {
		t.Fatalf("command B believed a fenced or stale outcome: %+v", st.Outcome)
	}
	if p, _ := s.Proposal(ctx, "p-B"); p.Status != app.ProposalPending {
		t.Fatalf("p-B: %s, want pending", p.Status)
	}
	undecided, err := s.UndecidedCommands(ctx, 10)
	must(t, err)
	if len(undecided) != 1 || undecided[0].Offset != cb {
		t.Fatalf("undecided: %+v, want command B only", undecided)
	}
	// The current engine decides it on the current state.
	basis := l.off
	good := l.outcome("p-B", "BBBBBB", app.Outcome{Command: cb, Epoch: 7, Basis: basis, Result: app.ProposalFailed, Detail: "only 0 seat(s) left", Key: "k-b"})
	if st, _ := s.Command(ctx, cb); st.Outcome == nil || st.OutcomeOff != good {
		t.Fatalf("command B: %+v", st)
	}
	if p, _ := s.Proposal(ctx, "p-B"); p.Status != app.ProposalFailed {
		t.Fatalf("p-B: %s, want failed", p.Status)
	}

	// A proposal expired after the engine read it pending: its outcome
	// would change a proposal that is no longer pending, so it is not
	// believed and the command stays open for the engine to refuse.
	cc := l.approve("p-C", "CCCCCC", "k-c")
	basis = l.off
	l.apply(app.ControlChange{Type: app.TypeProposalChanged, Proposal: &app.ProposalChange{Op: app.OpExpired, ProposalID: "p-C", Locator: "CCCCCC", Flight: "LH400-2026-11-25", Reason: "no option left", At: t0}})
	l.outcome("p-C", "CCCCCC", app.Outcome{Command: cc, Epoch: 7, Basis: basis, Result: app.ProposalExecuted, Key: "k-c"})
	if p, _ := s.Proposal(ctx, "p-C"); p.Status != app.ProposalExpired {
		t.Fatalf("p-C: %s, want expired", p.Status)
	}
	if st, _ := s.Command(ctx, cc); st.Outcome != nil {
		t.Fatalf("command C believed an outcome on an expired proposal: %+v", st.Outcome)
	}
}
