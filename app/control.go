package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ControlConsumer is the consumer name of the control materialiser.
const ControlConsumer = "control"

// UserData is the data of user.changed: the user's whole record. The
// password travels only as its Argon2id hash.
type UserData struct {
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash string    `json:"password_hash"`
	Disabled     bool      `json:"disabled,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	Actor        string    `json:"actor,omitempty"`
}

// TokenData is the data of token.changed: the token's whole record, keyed
// by the SHA-256 hash of its secret; the secret itself is never stored.
type TokenData struct {
	Hash      string    `json:"hash"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	Actor     string    `json:"actor,omitempty"`
}

// ControlChange is one entry of the control topic turned into a change of
// the store's users or tokens.
type ControlChange struct {
	Type   string
	Offset uint64
	User   *UserData
	Token  *TokenData
	// Proposal and Command: the proposals' changes and the commands of
	// staff (decision 0028).
	Proposal *ProposalChange
	Command  *ProposalCommand
}

// ControlStore is what the control materialiser needs from the store.
type ControlStore interface {
	Position(ctx context.Context, consumer, topic string) (uint64, error)
	// ApplyControl applies changes and records upto as the control
	// consumer's position in one transaction.
	ApplyControl(ctx context.Context, changes []ControlChange, upto uint64, uptoTime time.Time) error
}

// ControlMaterializer keeps the store's users, tokens, proposals and
// commands in step with the control topic: it follows the topic from its
// stored position and applies each batch with its last offset, as the
// state materialiser does for the state topics. Only entries this node's log sealed are believed
// (a NATS client cannot forge an admin); the others go to the dead
// letters with the reason.
type ControlMaterializer struct {
	Log     Log
	Store   ControlStore
	Trusted func(LogEntry) bool
	Logger  *slog.Logger
	// Listener hears of each committed batch.
	Listener StateListener
	// Proposals hears of the flights whose proposals a committed batch
	// changed (the proposals' board).
	Proposals ProposalListener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open starts following the control topic.
func (m *ControlMaterializer) Open() error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	m.Logger = m.Logger.With("subsystem", "control")
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.run()
	return nil
}

// Close stops following after the current batch.
func (m *ControlMaterializer) Close(ctx context.Context) error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	return waitGroup(ctx, &m.wg)
}

func (m *ControlMaterializer) run() {
	defer m.wg.Done()
	f := &follower{
		stage: "control materializer", topic: TopicControl, log: m.Log, logger: m.Logger, batch: 500,
		// Approvals wait on this projection: after a failover, while the
		// topic elects a leader, it tries again every 2 s at most.
		minBackoff: 100 * time.Millisecond, maxBackoff: 2 * time.Second,
		start: func(ctx context.Context) (uint64, error) {
			return m.Store.Position(ctx, ControlConsumer, TopicControl)
		},
		handle: func(ctx context.Context, entries []LogEntry) error {
			return m.ApplyEntries(context.WithoutCancel(ctx), entries)
		},
	}
	f.run(m.ctx)
}

// ApplyEntries decodes and applies one batch of control entries and
// advances the position to the last of them.
func (m *ControlMaterializer) ApplyEntries(ctx context.Context, entries []LogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	changes := make([]ControlChange, 0, len(entries))
	var dead []*Event
	for _, le := range entries {
		ch, err := m.Decode(le)
		if err != nil {
			dl, derr := DeadLetter(le, err)
			if derr != nil {
				return fmt.Errorf("dead letter of control@%d: %w", le.Offset, derr)
			}
			dead = append(dead, dl)
			continue
		}
		changes = append(changes, ch)
	}
	if len(dead) > 0 {
		if _, err := m.Log.Append(ctx, TopicDeadLetter, dead); err != nil {
			return fmt.Errorf("dead-letter: %w", err)
		}
		m.logger().Warn("control events refused", "count", len(dead))
	}
	last := entries[len(entries)-1]
	if err := m.Store.ApplyControl(ctx, changes, last.Offset, last.Stored); err != nil {
		return fmt.Errorf("apply control up to %d: %w", last.Offset, err)
	}
	if m.Listener != nil {
		m.Listener.StateApplied(TopicControl, last.Offset, nil)
	}
	if m.Proposals != nil {
		seen := map[string]bool{}
		for _, ch := range changes {
			if f := changedFlight(ch); f != "" && !seen[f] {
				seen[f] = true
				m.Proposals.ProposalsChanged(ctx, f)
			}
		}
	}
	return nil
}

func changedFlight(ch ControlChange) string {
	switch {
	case ch.Proposal != nil:
		return ch.Proposal.Flight
	case ch.Command != nil:
		return ch.Command.Flight
	}
	return ""
}

func (m *ControlMaterializer) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.Default()
	}
	return m.Logger
}

// Decode turns one sealed control entry into a change. An entry the node
// did not seal is refused: control events are the node's alone.
func (m *ControlMaterializer) Decode(le LogEntry) (ControlChange, error) {
	if m.Trusted == nil || !m.Trusted(le) {
		return ControlChange{}, &ValidationError{Fields: []FieldError{{Field: "seal", Reason: "control events are accepted only as appended by a node of this site"}}}
	}
	e, err := ParseTrusted(le.Data)
	if err != nil {
		return ControlChange{}, err
	}
	if e.Subject != le.Key {
		return ControlChange{}, &ValidationError{Fields: []FieldError{{Field: "subject", Reason: fmt.Sprintf("%q does not match the log key %q", e.Subject, le.Key)}}}
	}
	ch := ControlChange{Type: e.Type, Offset: le.Offset}
	switch e.Type {
	case TypeUserChanged:
		ch.User = new(UserData)
		err = json.Unmarshal(e.Data, ch.User)
	case TypeTokenChanged:
		ch.Token = new(TokenData)
		err = json.Unmarshal(e.Data, ch.Token)
	case TypeProposalChanged:
		ch.Proposal = new(ProposalChange)
		err = json.Unmarshal(e.Data, ch.Proposal)
	case TypeProposalCommand:
		ch.Command = new(ProposalCommand)
		err = json.Unmarshal(e.Data, ch.Command)
	default:
		return ControlChange{}, &ValidationError{Fields: []FieldError{{Field: "type", Reason: fmt.Sprintf("%q is not a control event", e.Type)}}}
	}
	if err != nil {
		return ControlChange{}, &ValidationError{Fields: []FieldError{{Field: "data", Reason: err.Error()}}}
	}
	return ch, nil
}

// CatchUp applies the control topic from the stored position up to its
// end as the log reports it now; a command that changes an account of a
// stopped node uses it in place of the running loop.
func (m *ControlMaterializer) CatchUp(ctx context.Context, head uint64) error {
	pos, err := m.Store.Position(ctx, ControlConsumer, TopicControl)
	if err != nil || pos >= head {
		return err
	}
	r, err := m.Log.NewReader(ctx, TopicControl, pos+1)
	if err != nil {
		return fmt.Errorf("read control: %w", err)
	}
	defer r.Close()
	for pos < head {
		entries, err := r.Next(ctx, 500, 2*time.Second)
		if err != nil {
			return fmt.Errorf("read control: %w", err)
		}
		if len(entries) == 0 {
			return Errorf(EUNAVAILABLE, "control topic ended at %d before %d", pos, head)
		}
		n := len(entries)
		for n > 0 && entries[n-1].Offset > head {
			n--
		}
		if n == 0 {
			return nil
		}
		if err := m.ApplyEntries(ctx, entries[:n]); err != nil {
			return err
		}
		pos = entries[n-1].Offset
	}
	return nil
}
