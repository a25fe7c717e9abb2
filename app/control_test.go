package app

import (
	"context"
	"strings"
	"testing"
	"time"
)

type memControl struct {
	pos     uint64
	changes []ControlChange
}

func (m *memControl) Position(context.Context, string, string) (uint64, error) { return m.pos, nil }
func (m *memControl) ApplyControl(_ context.Context, chs []ControlChange, upto uint64, _ time.Time) error {
	m.changes = append(m.changes, chs...)
	m.pos = upto
	return nil
}

type recordingLog struct {
	sliceLog
	appended map[string][]*Event
}

func (l *recordingLog) Append(_ context.Context, topic string, evs []*Event) ([]AppendResult, error) {
	if l.appended == nil {
		l.appended = map[string][]*Event{}
	}
	l.appended[topic] = append(l.appended[topic], evs...)
	return make([]AppendResult, len(evs)), nil
}

type sliceLog struct{}

func (sliceLog) NewReader(context.Context, string, uint64) (LogReader, error) { return nil, nil }

func controlEntry(t *testing.T, off uint64, typ, key string, data any, sealed bool) LogEntry {
	t.Helper()
	e, err := NewEvent("e"+key, "apron/test", typ, key, time.Unix(1, 0), data)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string][]string{}
	if sealed {
		h["seal"] = []string{"ok"}
	}
	return LogEntry{Topic: TopicControl, Offset: off, Key: key, Data: e.Raw, Headers: h, Stored: time.Unix(2, 0)}
}

// A control entry is believed only when this site's log sealed it: an
// unsealed user.changed (a NATS client forging an admin) goes to the dead
// letters and changes nothing, while the position still moves past it.
func TestControlEntriesNeedTheSeal(t *testing.T) {
	store, log := &memControl{}, &recordingLog{}
	m := &ControlMaterializer{Log: log, Store: store, Trusted: func(le LogEntry) bool { return len(le.Headers["seal"]) > 0 }}
	admin := UserData{Name: "mallory", Role: RoleAdmin, PasswordHash: "$argon2id$x", CreatedAt: time.Unix(1, 0)}
	tok := TokenData{Hash: strings.Repeat("a", 64), Name: "ci", Role: RoleViewer, CreatedAt: time.Unix(1, 0)}
	entries := []LogEntry{
		controlEntry(t, 1, TypeUserChanged, "mallory", admin, false),
		controlEntry(t, 2, TypeUserChanged, "ada", UserData{Name: "ada", Role: RoleAgent, PasswordHash: "$argon2id$y", CreatedAt: time.Unix(1, 0)}, true),
		controlEntry(t, 3, TypeTokenChanged, tok.Hash, tok, true),
		controlEntry(t, 4, TypeFlightStatus, "LH400-2026-11-25", map[string]any{}, true),
	}
	if err := m.ApplyEntries(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
	if store.pos != 4 {
		t.Fatalf("position %d, want 4", store.pos)
	}
	if len(store.changes) != 2 || store.changes[0].User.Name != "ada" || store.changes[1].Token.Name != "ci" {
		t.Fatalf("applied %+v", store.changes)
	}
	dead := log.appended[TopicDeadLetter]
	if len(dead) != 2 || !strings.Contains(string(dead[0].Data), "seal") || !strings.Contains(string(dead[1].Data), "not a control event") {
		t.Fatalf("dead letters: %d", len(dead))
	}
}

// A change queued for a node that does not apply it says so, with the
// event's type and key, instead of returning as if it were done.
func TestQueuedAccountChangeThatIsNeverAppliedFails(t *testing.T) {
	q := &queueOnly{}
	a := &Accounts{AuthStore: noUsers{}, Queue: q, Source: "apron/cli", Timeout: 50 * time.Millisecond}
	_, err := a.CreateUser(context.Background(), "ada", RoleAgent, "$argon2id$z")
	if ErrorCode(err) != EUNAVAILABLE || !strings.Contains(ErrorMessage(err), "user.changed ada was queued") {
		t.Fatalf("err %v", err)
	}
	if len(q.events) != 1 || q.events[0].Topic() != TopicControl {
		t.Fatalf("queued %d events", len(q.events))
	}
}

type queueOnly struct{ events []*Event }

func (q *queueOnly) QueueEvents(_ context.Context, evs []*Event) error {
	q.events = append(q.events, evs...)
	return nil
}

type noUsers struct{ AuthStore }

func (noUsers) UserByName(context.Context, string) (*User, string, error) {
	return nil, "", Errorf(ENOTFOUND, "no user")
}

// A proposal's id is a function of what was disrupted and offered, never
// of when it was planned.
func TestProposalIDNamesTheDisruption(t *testing.T) {
	opts := []Option{{ID: "o1", Flights: []string{"LH402-2026-11-25"}, Cabin: "Y"}}
	base := ProposalID("ABC123", "LH400-2026-11-25", 42, []string{"LH400-2026-11-25"}, opts)
	if again := ProposalID("ABC123", "LH400-2026-11-25", 42, []string{"LH400-2026-11-25"}, opts); again != base {
		t.Fatalf("the same disruption: %s then %s", base, again)
	}
	for name, other := range map[string]string{
		"booking": ProposalID("XYZ789", "LH400-2026-11-25", 42, []string{"LH400-2026-11-25"}, opts),
		"flight":  ProposalID("ABC123", "LH404-2026-11-25", 42, []string{"LH400-2026-11-25"}, opts),
		"offset":  ProposalID("ABC123", "LH400-2026-11-25", 43, []string{"LH400-2026-11-25"}, opts),
		"options": ProposalID("ABC123", "LH400-2026-11-25", 42, []string{"LH400-2026-11-25"}, nil),
	} {
		if other == base {
			t.Errorf("another %s, the same id %s", name, base)
		}
	}
}
