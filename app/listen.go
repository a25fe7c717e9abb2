package app

import "context"

// StateListener hears of each batch of state changes the materialiser
// committed, in log order per topic. It is called on the materialiser's
// loop, so it hands slow work elsewhere.
type StateListener interface {
	StateApplied(topic string, offset uint64, changes []StateChange)
}

// StateListeners tells each of its listeners, in order.
type StateListeners []StateListener

// StateApplied implements StateListener.
func (ls StateListeners) StateApplied(topic string, offset uint64, changes []StateChange) {
	for _, l := range ls {
		if l != nil {
			l.StateApplied(topic, offset, changes)
		}
	}
}

// StateListenerFunc is a function as a StateListener (tests, benchmarks).
type StateListenerFunc func(topic string, offset uint64, changes []StateChange)

// StateApplied implements StateListener.
func (f StateListenerFunc) StateApplied(topic string, offset uint64, changes []StateChange) {
	f(topic, offset, changes)
}

// ProposalListener hears that the proposals of a flight changed: new ones
// were stored or one was ranked.
type ProposalListener interface {
	ProposalsChanged(ctx context.Context, flight string)
}
