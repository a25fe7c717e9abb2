package e2e

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// TestUsersAndTokensComeFromTheLog changes users and tokens on a running
// node and shows that each change is a sealed event on the control topic
// with hashes only (neither the password nor the token's secret is on
// the log), that an unsealed user.changed published straight into the
// topic (a forged admin) is refused, and that `apron rebuild` of the
// stopped node recreates exactly the same users and tokens, including a
// user a store held from before users went through the log.
func TestUsersAndTokensComeFromTheLog(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	ctx := context.Background()
	cfg := node.DefaultConfig()
	cfg.Data = data
	legacy, err := node.OpenStoreToProvision(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.CreateUser(ctx, "legacy", app.RoleViewer, "$argon2id$legacy"); err != nil {
		t.Fatal(err)
	}
	if err := legacy.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m := MustRunMain(t, func(c *node.Config) { c.Data = data })
	const password = "correct horse battery staple"
	addUser(t, m, "gate1", app.RoleAgent, password)
	addUser(t, m, "super", app.RoleSupervisor, "another long password")
	secret := namedToken(t, m, "ci", app.RoleViewer)
	revoked := namedToken(t, m, "old", app.RoleAgent)
	old, err := m.Accounts.Records.TokenByHash(ctx, app.HashSecret(revoked))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Accounts.RevokeToken(ctx, old.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	u, _, err := m.Store.UserByName(ctx, "super")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Accounts.SetUserRole(ctx, u.ID, app.RoleAgent, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Accounts.CreateUser(ctx, "gate1", app.RoleAdmin, "$argon2id$x"); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("a second gate1: %v", err)
	}

	// A forged admin, published into the topic without the node's seal.
	forged, err := app.NewEvent("forged-1", "mallory", app.TypeUserChanged, "mallory", time.Now(),
		app.UserData{Name: "mallory", Role: app.RoleAdmin, PasswordHash: "$argon2id$forged", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := m.Broker.JetStream().Publish(ctx, app.LogSubject(app.TopicControl, "mallory"), forged.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := app.WaitForPosition(ctx, m.Store, app.ControlConsumer, app.TopicControl, ack.Sequence, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Store.UserByName(ctx, "mallory"); app.ErrorCode(err) != app.ENOTFOUND {
		t.Fatalf("the forged admin exists: %v", err)
	}

	var types []string
	r, err := m.Broker.NewReader(ctx, app.TopicControl, 1)
	if err != nil {
		t.Fatal(err)
	}
	// A read gives up to its max: read up to the forged entry.
	var entries []app.LogEntry
	for len(entries) == 0 || entries[len(entries)-1].Offset < ack.Sequence {
		es, err := r.Next(ctx, 100, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			t.Fatalf("the control topic ended after %d entries, before the forged one at %d", len(entries), ack.Sequence)
		}
		entries = append(entries, es...)
	}
	r.Close()
	for _, le := range entries {
		for _, s := range []string{password, secret, revoked} {
			if strings.Contains(string(le.Data), s) {
				t.Fatalf("control@%d holds a secret in clear: %s", le.Offset, le.Data)
			}
		}
		if m.Broker.Trusted(le) {
			e, _ := app.ParseTrusted(le.Data)
			types = append(types, e.Type)
		}
	}
	if len(types) != len(entries)-1 {
		t.Fatalf("%d sealed of %d entries: %v", len(types), len(entries), types)
	}

	users, tokens := accountsOf(t, m.Store)
	if len(users) != 3 || len(tokens) != 3 { // legacy, gate1, super; the test client, ci, old
		t.Fatalf("before: %d users, %d tokens", len(users), len(tokens))
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := runApron(t, bin, "", "", "rebuild", "--data", data); err != nil {
		t.Fatalf("rebuild: %v\n%s%s", err, out, errOut)
	}
	st, err := node.OpenStoreOnly(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	users2, tokens2 := accountsOf(t, st)
	if !reflect.DeepEqual(users, users2) {
		t.Fatalf("users after the rebuild:\n%+v\nbefore:\n%+v", users2, users)
	}
	if !reflect.DeepEqual(tokens, tokens2) {
		t.Fatalf("tokens after the rebuild:\n%+v\nbefore:\n%+v", tokens2, tokens)
	}
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", data); err != nil {
		t.Fatalf("check: %v\n%s%s", err, out, errOut)
	}
}

// accountsOf lists the users with their password hashes and the tokens
// without when they were last used (which is local to a node).
func accountsOf(t *testing.T, st interface {
	Users(context.Context) ([]*app.User, error)
	Tokens(context.Context) ([]*app.APIToken, error)
	UserRecord(context.Context, int64) (app.UserData, error)
}) ([]app.UserData, []app.APIToken) {
	t.Helper()
	ctx := context.Background()
	us, err := st.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var users []app.UserData
	for _, u := range us {
		d, err := st.UserRecord(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, d)
	}
	ts, err := st.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []app.APIToken
	for _, tk := range ts {
		tk.LastUsed = time.Time{}
		tokens = append(tokens, *tk)
	}
	return users, tokens
}

// TestProposalIDsComeFromTheLog feeds the same events to two nodes whose
// clocks differ, as a planner and the node that takes the planning over
// after a failover: both plan the same proposals under the same ids, so
// that once proposals are appended to the log its de-duplication stores
// them once. A planner that stops and starts again proposes nothing new.
func TestProposalIDsComeFromTheLog(t *testing.T) {
	ids := func(s *scenario) []string {
		var out []string
		for _, p := range s.proposals("") {
			out = append(out, p.ID)
		}
		sort.Strings(out)
		return out
	}
	var got [][]string
	for i, late := range []time.Duration{0, 7 * time.Minute} {
		s := newScenario(t)
		s.now = s.now.Add(late)
		lh400 := "LH400-2026-11-25"
		s.ingest("flights",
			s.flight("f1", "LH", "400", "FRA", "JFK", 10, 9, app.FlightScheduled, 3),
			s.flight("f2", "LH", "402", "FRA", "JFK", 13, 9, app.FlightScheduled, 5),
		)
		s.ingest("bookings", s.booking("GOLD01", "P1", "gold", nil, lh400), s.booking("PLAIN1", "P3", "none", nil, lh400))
		s.ingest("flights", s.flight("f5", "LH", "400", "FRA", "JFK", 10, 9, app.FlightCancelled, 3))
		checkFor(t, 10*time.Second, func() error {
			if ps := s.proposals(app.ProposalPending); len(ps) != 2 {
				return fmt.Errorf("node %d: %d pending proposals", i, len(ps))
			}
			return nil
		})
		if i == 1 {
			ctx := context.Background()
			if err := s.m.Proposer.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.m.Proposer.Start(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.m.Proposer.PlanFlight(ctx, lh400, 0); err != nil {
				t.Fatal(err)
			}
		}
		got = append(got, ids(s))
	}
	if len(got[1]) != 2 || !reflect.DeepEqual(got[0], got[1]) {
		t.Fatalf("proposal ids of the two planners: %v and %v", got[0], got[1])
	}
}
