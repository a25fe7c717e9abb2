package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

// openControl starts the control materialiser (users and tokens from the
// log) and puts the console's account changes through the log. It first
// catches up with the control topic, so that the first-start admin sees
// the users another node of the cluster made, then puts on the log the
// accounts a store made before they went through it.
func (m *Main) openControl(ctx context.Context) error {
	m.Control = &app.ControlMaterializer{Log: m.Broker, Store: m.Store, Trusted: m.Broker.Trusted, Logger: m.Logger, Proposals: m.HTTP}
	if err := m.catchUpControl(ctx); err != nil {
		return err
	}
	if err := m.Control.Open(); err != nil {
		return err
	}
	m.push(m.Control.Close)
	m.Accounts = &app.Accounts{AuthStore: m.Store, Records: m.Store, Log: m.Broker, Source: "apron/console", Now: m.Clock,
		Applied: func(ctx context.Context, offset uint64) error {
			return app.WaitForPosition(ctx, m.Store, app.ControlConsumer, app.TopicControl, offset, 10*time.Second)
		}}
	m.HTTP.Auth = m.Accounts
	if err := adoptUnlogged(ctx, m.Store, m.Broker, m.Accounts.Applied); err != nil {
		return err
	}
	return adoptUnloggedProposals(ctx, m.Store, m.Broker, time.Now().UTC(), m.Accounts.Applied)
}

// catchUpControl applies the control topic up to its head before the
// node serves, so it knows every account. A node starting with its
// cluster may find the topic's replicas still electing a leader ("no
// responders"): it tries again for up to a minute, where a single node
// fails at once.
func (m *Main) catchUpControl(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := m.tryCatchUpControl(ctx)
		if err == nil || m.Config.Cluster.Name == "" || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		m.Logger.Warn("control topic not ready yet, trying again", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (m *Main) tryCatchUpControl(ctx context.Context) error {
	ti, err := m.Broker.Topic(ctx, app.TopicControl)
	if err != nil {
		return fmt.Errorf("control topic: %w", err)
	}
	if err := m.Control.CatchUp(ctx, ti.LastOffset); err != nil {
		return fmt.Errorf("catch up with the control topic: %w", err)
	}
	return nil
}

// adoptUnlogged appends, for every user and token the store holds that
// is not from the log (made before this version), its record to the
// control topic, with an id fixed by its name or hash so that a repeat
// stores it once, and waits until the store has applied them.
func adoptUnlogged(ctx context.Context, st *vectors.Store, log app.Log, applied func(context.Context, uint64) error) error {
	users, tokens, err := st.UnloggedAccounts(ctx)
	if err != nil || len(users)+len(tokens) == 0 {
		return err
	}
	var evs []*app.Event
	for _, u := range users {
		e, err := app.NewEvent("user-adopted-"+u.Name, "apron/node", app.TypeUserChanged, u.Name, u.CreatedAt, u)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	for _, t := range tokens {
		e, err := app.NewEvent("token-adopted-"+t.Hash[:16], "apron/node", app.TypeTokenChanged, t.Hash, t.CreatedAt, t)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	res, err := log.Append(ctx, app.TopicControl, evs)
	if err != nil {
		return fmt.Errorf("put %d users and %d tokens on the log: %w", len(users), len(tokens), err)
	}
	var last uint64
	for _, r := range res {
		last = max(last, r.Offset)
	}
	return applied(ctx, last)
}

// adoptAll puts on the log the accounts and proposals a store made
// before they went through it, without waiting for the store to apply
// them (a rebuild replays them into a new store).
func adoptAll(ctx context.Context, st *vectors.Store, log app.Log) error {
	if err := adoptUnlogged(ctx, st, log, func(context.Context, uint64) error { return nil }); err != nil {
		return err
	}
	return adoptUnloggedProposals(ctx, st, log, time.Now().UTC(), nil)
}

// adoptUnloggedProposals appends, for every booking whose proposals the
// store made before they went onto the log, one proposal.changed
// (adopted) entry holding those rows with their executions and seat
// holds, named by the booking so that a repeat stores it once, and waits
// until the store has applied them (which marks them as from the log).
// A rebuild then recreates them. applied may be nil (a rebuild replays
// the log into a new store instead).
func adoptUnloggedProposals(ctx context.Context, st *vectors.Store, log app.Log, now time.Time, applied func(context.Context, uint64) error) error {
	locators, err := st.UnloggedProposals(ctx)
	if err != nil || len(locators) == 0 {
		return err
	}
	var evs []*app.Event
	for _, loc := range locators {
		recs, err := st.UnloggedProposalRecords(ctx, loc)
		if err != nil {
			return err
		}
		flight := "-"
		if ps := recs["proposals"]; len(ps) > 0 {
			if f, ok := ps[0]["flight"].(string); ok && f != "" {
				flight = f
			}
		}
		e, err := app.NewProposalChange("proposal-adopted-"+loc, "apron/node", now, app.ProposalChange{Op: app.OpAdopted, ProposalID: loc, Locator: loc, Flight: flight, Records: recs, At: now})
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	var last uint64
	for start := 0; start < len(evs); start += 500 {
		res, err := log.Append(ctx, app.TopicControl, evs[start:min(start+500, len(evs))])
		if err != nil {
			return fmt.Errorf("put the proposals of %d bookings on the log: %w", len(locators), err)
		}
		for _, r := range res {
			last = max(last, r.Offset)
		}
	}
	if applied == nil {
		return nil
	}
	return applied(ctx, last)
}

// OpenAccounts opens what `apron user` and `apron token` need to change
// accounts through the log. With the node stopped, the command holds the
// data directory, appends to the log itself and applies the control topic
// to the store; with the node running, the change goes into the store's
// outbox, the node appends it and the command waits to see it applied.
// close releases what was opened.
func OpenAccounts(ctx context.Context, cfg Config) (acc *app.Accounts, close func(), err error) {
	st, err := OpenStoreToProvision(cfg)
	if err != nil {
		return nil, nil, err
	}
	acc = &app.Accounts{AuthStore: st, Records: st, Source: "apron/cli"}
	lock, err := LockData(cfg.Data, false)
	if app.ErrorCode(err) == app.ECONFLICT {
		acc.Queue = st
		return acc, func() { _ = st.Close(context.Background()) }, nil
	} else if err != nil {
		_ = st.Close(ctx)
		return nil, nil, err
	}
	b, err := OpenLogOnly(cfg, NewLogger("warn"))
	if err != nil {
		_ = lock.Unlock()
		_ = st.Close(ctx)
		return nil, nil, err
	}
	cm := &app.ControlMaterializer{Log: b, Store: st, Trusted: b.Trusted}
	acc.Log, acc.Applied = b, cm.CatchUp
	if err := adoptUnlogged(ctx, st, b, cm.CatchUp); err != nil {
		_ = b.Close(ctx)
		_ = lock.Unlock()
		_ = st.Close(ctx)
		return nil, nil, err
	}
	return acc, func() {
		c := context.Background()
		_ = errors.Join(b.Close(c), st.Close(c), lock.Unlock())
	}, nil
}
