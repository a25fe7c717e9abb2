package app

import (
	"context"
	"fmt"
	"time"
)

// AccountRecords reads the whole records that a change of a user or a
// token carries on the log.
type AccountRecords interface {
	// UserRecord returns a user's record by id. Returns ENOTFOUND.
	UserRecord(ctx context.Context, id int64) (UserData, error)
	// TokenRecord returns a token's record by id. Returns ENOTFOUND.
	TokenRecord(ctx context.Context, id int64) (TokenData, error)
	// TokenByHash returns the token whose secret hashes to hash. Returns
	// ENOTFOUND.
	TokenByHash(ctx context.Context, hash string) (*APIToken, error)
}

// EventQueue queues events for the node to append (the outbox of a
// running node, which a command can reach only through the store).
type EventQueue interface {
	QueueEvents(ctx context.Context, events []*Event) error
}

// Accounts is the AuthStore whose changes of users and tokens go through
// the log: each is a user.changed or token.changed event on the control
// topic carrying the whole record, and returns once the local store has
// applied it, so that the caller reads its own write. Reads and sessions
// (which stay local) go to the embedded AuthStore.
type Accounts struct {
	AuthStore
	Records AccountRecords
	// Log takes the events; without it they go to Queue, and the change
	// is awaited in the store.
	Log   Log
	Queue EventQueue
	// Applied returns once the store reflects the control topic up to
	// offset (the running materialiser's wait, or a command's catch-up).
	Applied func(ctx context.Context, offset uint64) error
	// Source is the events' source ("apron/console", "apron/cli").
	Source  string
	Now     func() time.Time
	Timeout time.Duration // for a queued change to show (default 15s)
}

var _ AuthStore = (*Accounts)(nil)

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// CreateUser adds a user. Returns ECONFLICT if the name is taken.
func (a *Accounts) CreateUser(ctx context.Context, name, role, passwordHash string) (*User, error) {
	if _, _, err := a.AuthStore.UserByName(ctx, name); err == nil {
		return nil, Errorf(ECONFLICT, "name: user %q exists", name)
	} else if ErrorCode(err) != ENOTFOUND {
		return nil, err
	}
	d := UserData{Name: name, Role: role, PasswordHash: passwordHash, CreatedAt: a.now().UTC()}
	if err := a.putUser(ctx, d); err != nil {
		return nil, err
	}
	u, _, err := a.AuthStore.UserByName(ctx, name)
	return u, err
}

// SetUserRole changes a user's role and enabled state. Returns ENOTFOUND.
func (a *Accounts) SetUserRole(ctx context.Context, id int64, role string, disabled bool) error {
	d, err := a.Records.UserRecord(ctx, id)
	if err != nil {
		return err
	}
	d.Role, d.Disabled = role, disabled
	return a.putUser(ctx, d)
}

// SetPassword replaces a user's password hash. Returns ENOTFOUND.
func (a *Accounts) SetPassword(ctx context.Context, id int64, passwordHash string) error {
	d, err := a.Records.UserRecord(ctx, id)
	if err != nil {
		return err
	}
	d.PasswordHash = passwordHash
	return a.putUser(ctx, d)
}

// CreateToken stores a new API token by its hash.
func (a *Accounts) CreateToken(ctx context.Context, name, role, hash string, now time.Time) (*APIToken, error) {
	d := TokenData{Hash: hash, Name: name, Role: role, CreatedAt: now.UTC()}
	if err := a.putToken(ctx, d); err != nil {
		return nil, err
	}
	return a.Records.TokenByHash(ctx, hash)
}

// RevokeToken revokes a token. Returns ENOTFOUND for an unknown or
// already revoked one.
func (a *Accounts) RevokeToken(ctx context.Context, id int64, now time.Time) error {
	d, err := a.Records.TokenRecord(ctx, id)
	if err != nil {
		return err
	}
	if !d.RevokedAt.IsZero() {
		return Errorf(ENOTFOUND, "token %d not found or already revoked", id)
	}
	d.RevokedAt = now.UTC()
	return a.putToken(ctx, d)
}

func (a *Accounts) putUser(ctx context.Context, d UserData) error {
	e, err := NewEvent(fmt.Sprintf("user-%s-%d", d.Name, a.now().UnixNano()), a.Source, TypeUserChanged, d.Name, a.now(), d)
	if err != nil {
		return err
	}
	return a.publish(ctx, e, func(ctx context.Context) (bool, error) {
		u, hash, err := a.AuthStore.UserByName(ctx, d.Name)
		if ErrorCode(err) == ENOTFOUND {
			return false, nil
		}
		return err == nil && hash == d.PasswordHash && u.Role == d.Role && u.Disabled == d.Disabled, err
	})
}

func (a *Accounts) putToken(ctx context.Context, d TokenData) error {
	e, err := NewEvent(fmt.Sprintf("token-%s-%d", d.Hash[:16], a.now().UnixNano()), a.Source, TypeTokenChanged, d.Hash, a.now(), d)
	if err != nil {
		return err
	}
	return a.publish(ctx, e, func(ctx context.Context) (bool, error) {
		t, err := a.Records.TokenByHash(ctx, d.Hash)
		if ErrorCode(err) == ENOTFOUND {
			return false, nil
		}
		return err == nil && t.RevokedAt.IsZero() == d.RevokedAt.IsZero(), err
	})
}

// publish appends e to the control topic and waits until the store has
// applied it; without a log it queues e and waits until done says the
// store shows it.
func (a *Accounts) publish(ctx context.Context, e *Event, done func(context.Context) (bool, error)) error {
	if a.Log != nil {
		res, err := a.Log.Append(ctx, TopicControl, []*Event{e})
		if err != nil {
			return fmt.Errorf("append %s: %w", e.Type, err)
		}
		return a.Applied(ctx, res[0].Offset)
	}
	if err := a.Queue.QueueEvents(ctx, []*Event{e}); err != nil {
		return fmt.Errorf("queue %s: %w", e.Type, err)
	}
	timeout := a.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	return pollUntil(ctx, timeout, 50*time.Millisecond, done,
		func() error {
			return Errorf(EUNAVAILABLE, "%s %s was queued for the running node, which has not applied it within %s (in a cluster, the lease holder publishes queued events)", e.Type, e.Subject, timeout)
		})
}

// WaitForPosition returns once consumer's position on topic in the store
// is at least offset, or EUNAVAILABLE after timeout, saying what waited.
func WaitForPosition(ctx context.Context, store interface {
	Position(ctx context.Context, consumer, topic string) (uint64, error)
}, consumer, topic string, offset uint64, timeout time.Duration) error {
	return pollUntil(ctx, timeout, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		pos, err := store.Position(ctx, consumer, topic)
		return pos >= offset, err
	}, func() error {
		return Errorf(EUNAVAILABLE, "%s@%d is on the log, but this node's state has not applied it within %s", topic, offset, timeout)
	})
}

// pollUntil calls done every interval until it says yes, fails, ctx ends
// or timeout passes (then the error late makes).
func pollUntil(ctx context.Context, timeout, interval time.Duration, done func(context.Context) (bool, error), late func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := done(ctx)
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return late()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
