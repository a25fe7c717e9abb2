package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is the singleton lease of a cluster: one key in a replicated
// JetStream key-value bucket whose entries expire LeaseTTL after they are
// written. The holder renews it every TTL/4 by a compare-and-set on its
// revision; a node acquires it by creating the key, which succeeds only
// when no live entry exists. docs/decisions/0024 says what it guarantees.
type Lease struct {
	Broker *Broker
	Key    string // default "singletons"
	Logger *slog.Logger
	Now    func() time.Time

	epoch atomic.Uint64
}

// Epoch is the KV revision at which this node last acquired the lease.
// Revisions only grow, so a later holder's epoch is higher: the booking
// engine stamps it on each outcome, and an outcome with a lower epoch than
// one already believed is ignored (decision 0028).
func (l *Lease) Epoch() uint64 { return l.epoch.Load() }

// NewLease returns the singleton lease of b's cluster.
func NewLease(b *Broker) *Lease {
	return &Lease{Broker: b, Key: "singletons", Logger: b.Logger.With("subsystem", "lease"), Now: time.Now}
}

func (l *Lease) ttl() time.Duration { return l.Broker.Config.Cluster.LeaseTTL }

func (l *Lease) kv(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := l.Broker.js.KeyValue(ctx, LeaseBucket)
	if err != nil {
		return nil, fmt.Errorf("lease bucket: %w", err)
	}
	return kv, nil
}

// Holder returns the node that holds the lease, "" when none does.
func (l *Lease) Holder(ctx context.Context) (string, error) {
	kv, err := l.kv(ctx)
	if err != nil {
		return "", err
	}
	e, err := kv.Get(ctx, l.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("lease holder: %w", err)
	}
	return string(e.Value()), nil
}

// Acquire blocks until this node holds the lease or ctx ends. The held
// context ends when the lease is lost, released or ctx ends; release
// deletes the key so that another node takes over at once.
//
// The holder counts its lease as lost TTL/2 after the sending of the last
// renewal that succeeded: the bucket's entry expires TTL after the server
// stored that renewal, which is later, so the holder gives up at least
// TTL/2 before any other node can create the key (clock rates, not clocks,
// must agree).
func (l *Lease) Acquire(ctx context.Context) (held context.Context, release func(context.Context), err error) {
	me := l.Broker.Config.Cluster.NodeName()
	poll := l.ttl() / 4
	for {
		sent := l.Now()
		rev, err := l.tryAcquire(ctx, me)
		if err == nil {
			return l.hold(ctx, me, rev, sent)
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			l.Logger.Debug("lease not acquired", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// tryAcquire creates the key; an entry that already names this node (the
// node restarted within the TTL) is taken over by revision.
func (l *Lease) tryAcquire(ctx context.Context, me string) (uint64, error) {
	kv, err := l.kv(ctx)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, l.ttl()/2)
	defer cancel()
	rev, err := kv.Create(rctx, l.Key, []byte(me))
	if errors.Is(err, jetstream.ErrKeyExists) {
		if e, gerr := kv.Get(rctx, l.Key); gerr == nil && string(e.Value()) == me {
			return kv.Update(rctx, l.Key, []byte(me), e.Revision())
		}
	}
	return rev, err
}

func (l *Lease) hold(ctx context.Context, me string, rev uint64, sent time.Time) (context.Context, func(context.Context), error) {
	l.epoch.Store(rev)
	held, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel()
		l.renew(held, me, rev, sent)
	}()
	release := func(rctx context.Context) {
		cancel()
		<-done
		kv, err := l.kv(rctx)
		if err != nil {
			return
		}
		// Only our own entry: a deadline passed means it may be another's.
		e, err := kv.Get(rctx, l.Key)
		if err == nil && string(e.Value()) == me {
			if err := kv.Delete(rctx, l.Key, jetstream.LastRevision(e.Revision())); err != nil {
				l.Logger.Warn("lease release", "err", err)
			}
		}
	}
	l.Logger.Info("lease acquired", "node", me, "key", l.Key)
	return held, release, nil
}

// renew keeps the lease until held ends, it is taken by another node or
// the last successful renewal was sent TTL/2 ago.
func (l *Lease) renew(held context.Context, me string, rev uint64, lastOK time.Time) {
	tick := time.NewTicker(l.ttl() / 4)
	defer tick.Stop()
	for {
		select {
		case <-held.Done():
			return
		case <-tick.C:
		}
		if l.Now().Sub(lastOK) >= l.ttl()/2 {
			l.Logger.Warn("lease lost: no renewal succeeded in time", "node", me, "since", l.Now().Sub(lastOK).Round(time.Millisecond))
			return
		}
		// Every call of a renewal ends by the deadline of the lease itself:
		// a request to a server that is gone would otherwise wait for
		// JetStream's default timeout, past the point of giving up.
		sent := l.Now()
		rctx, cancel := context.WithDeadline(held, lastOK.Add(l.ttl()/2))
		next, err := l.update(rctx, me, rev)
		cancel()
		switch {
		case err == nil:
			rev, lastOK = next, sent
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists):
			l.Logger.Warn("lease lost: it expired or another node holds it", "node", me)
			return
		case held.Err() == nil:
			l.Logger.Debug("lease renewal failed", "err", err)
		}
		if err != nil && l.Now().Sub(lastOK) >= l.ttl()/2 {
			l.Logger.Warn("lease lost: no renewal succeeded in time", "node", me, "since", l.Now().Sub(lastOK).Round(time.Millisecond))
			return
		}
	}
}

func (l *Lease) update(ctx context.Context, me string, rev uint64) (uint64, error) {
	kv, err := l.kv(ctx)
	if err != nil {
		return 0, err
	}
	return kv.Update(ctx, l.Key, []byte(me), rev)
}
