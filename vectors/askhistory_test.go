package vectors_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/vectors"
)

func TestAskHistoryPagesNewestFirstPerUser(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	agent := &app.Principal{UserID: 7, Name: "maria", Role: app.RoleAgent}
	script := &app.Principal{TokenID: 3, Name: "wallboard", Role: app.RoleAgent}
	for i := range 5 {
		p := agent
		if i%2 == 1 {
			p = script
		}
		ans := app.AskAnswer{Kind: app.AnswerFacts, Answer: "LH400 is cancelled [LH400-2026-11-25]", Freshness: "as of event 42, 2 s ago",
			Sources: []app.AskSource{{ID: "LH400-2026-11-25", Kind: "flight", Offset: uint64(40 + i)}}, ElapsedMS: 3}
		r := app.NewAskRecord(p, app.AskedByAPI, t0.Add(time.Duration(i)*time.Minute), app.AskRequest{Question: "status of LH400?", Flight: "LH400"}, ans, nil)
		if err := s.RecordAsk(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if r.ID == 0 {
			t.Fatal("RecordAsk did not set the id")
		}
	}
	all, err := s.AskHistory(ctx, app.AskHistoryFilter{Limit: 10})
	must(t, err)
	if len(all) != 5 || all[0].ID < all[4].ID {
		t.Fatalf("want 5 records newest first, got %d: %+v", len(all), all)
	}
	first := all[4]
	if first.AskedBy != "maria" || first.UserID != 7 || first.Via != app.AskedByAPI || first.Flight != "LH400" || first.Kind != app.AnswerFacts ||
		first.Freshness != "as of event 42, 2 s ago" || len(first.Sources) != 1 || first.Sources[0].Offset != 40 || !first.AskedAt.Equal(t0) {
		t.Fatalf("record did not round-trip: %+v", first)
	}
	if all[3].AskedBy != "token:wallboard" || all[3].TokenID != 3 {
		t.Fatalf("a token's question is recorded under the token: %+v", all[3])
	}

	// Maria's own questions, two per page, following the cursor.
	var seen []int64
	before := int64(0)
	for range 3 {
		page, err := s.AskHistory(ctx, app.AskHistoryFilter{AskedBy: "maria", Before: before, Limit: 2})
		must(t, err)
		for _, r := range page {
			if r.AskedBy != "maria" {
				t.Fatalf("another user's question in maria's history: %+v", r)
			}
			seen = append(seen, r.ID)
		}
		if len(page) < 2 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(seen) != 3 || seen[0] <= seen[1] || seen[1] <= seen[2] {
		t.Fatalf("want maria's 3 questions newest first over the pages, got ids %v", seen)
	}
}

func TestAskHistoryRefusesARecordWithoutItsAsker(t *testing.T) {
	s := MustOpenStore(t)
	for _, tc := range []struct {
		name string
		r    app.AskRecord
		want string
	}{
		{"no asker", app.AskRecord{Via: app.AskedByAPI, Question: "q"}, "asked_by: who asked is required"},
		{"bad origin", app.AskRecord{AskedBy: "maria", Via: "fax", Question: "q"}, `via: must be "console" or "api", got "fax"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.RecordAsk(context.Background(), &tc.r)
			if app.ErrorCode(err) != app.EINVALID || app.ErrorMessage(err) != tc.want {
				t.Fatalf("want EINVALID %q, got %v", tc.want, err)
			}
		})
	}
}

func TestErasureBlanksTheQuestionsAboutThePerson(t *testing.T) {
	s := MustOpenStore(t)
	ctx := context.Background()
	v := func(off uint64) app.Version { return app.Version{EventID: "x", EventTime: t0, Offset: off} }
	must(t, s.ApplyState(ctx, "state", "passengers", []app.StateChange{{Type: app.TypePassengerUpserted, Key: "P1", Version: v(1),
		Passenger: &app.Passenger{ID: "P1", Name: "Ada Lovelace"}}}, 1, t0))
	agent := &app.Principal{UserID: 1, Name: "maria", Role: app.RoleAgent}
	asks := []struct {
		q   string
		ans app.AskAnswer
	}{
		{"where is ada lovelace?", app.AskAnswer{Answer: "Ada Lovelace is on ABC123 [P1]", Sources: []app.AskSource{{ID: "P1", Kind: "passenger"}}}},
		{"who is on ABC123?", app.AskAnswer{Answer: "ABC123: Ada Lovelace, Alan Turing [ABC123]", Sources: []app.AskSource{{ID: "ABC123", Kind: "booking"}}}},
		{"hotel vouchers?", app.AskAnswer{Answer: "Vouchers for overnight cancellations [POL-1]", Sources: []app.AskSource{{ID: "POL-1", Kind: "document"}}}},
	}
	for _, a := range asks {
		r := app.NewAskRecord(agent, app.AskedInConsole, t0, app.AskRequest{Question: a.q}, a.ans, nil)
		must(t, s.RecordAsk(ctx, &r))
	}
	must(t, s.ApplyState(ctx, "state", "passengers", []app.StateChange{{Type: app.TypePassengerErased, Key: "P1", Version: v(2),
		Passenger: &app.Passenger{ID: "P1"}}}, 2, t0))
	if n := count(t, s, `SELECT COUNT(*) FROM ask_history WHERE question LIKE '%lovelace%' OR answer LIKE '%Lovelace%' OR sources LIKE '%"P1"%'`); n != 0 {
		t.Fatalf("%d recorded questions still name or cite the erased person", n)
	}
	hs, err := s.AskHistory(ctx, app.AskHistoryFilter{})
	must(t, err)
	if len(hs) != 3 || hs[0].Answer != "Vouchers for overnight cancellations [POL-1]" || hs[2].AskedBy != "maria" {
		t.Fatalf("the other questions and who asked stay: %+v", hs)
	}
}

func TestRebuildKeepsTheQuestionHistory(t *testing.T) {
	ctx := context.Background()
	old := MustOpenStore(t)
	r := app.NewAskRecord(&app.Principal{UserID: 1, Name: "maria", Role: app.RoleAgent}, app.AskedInConsole, t0, app.AskRequest{Question: "gate of LH400?"}, app.AskAnswer{Answer: "B44"}, nil)
	must(t, old.RecordAsk(ctx, &r))
	must(t, old.Close(ctx))
	fresh := vectors.NewStore(filepath.Join(t.TempDir(), "state.db"))
	must(t, fresh.Open())
	t.Cleanup(func() { _ = fresh.Close(ctx) })
	counts, err := fresh.CopyKept(ctx, old.Path)
	must(t, err)
	if counts["ask_history"] != 1 {
		t.Fatalf("rebuild copied %d questions, want 1 (%v)", counts["ask_history"], counts)
	}
}
