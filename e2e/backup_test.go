package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/app/sim"
	"github.com/nats-io/nats.go"
)

// apiGet gets path from the node at base with token into out.
func apiGet(t *testing.T, base, token, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

type topicsAndOffsets struct {
	Topics []app.TopicInfo `json:"topics"`
}

func (t topicsAndOffsets) last(name string) uint64 {
	for _, ti := range t.Topics {
		if ti.Name == name {
			return ti.LastOffset
		}
	}
	return 0
}

type proposalList struct {
	Proposals []*app.Proposal `json:"proposals"`
}

// loadDuringBackup posts padded flight events (of a day no booking uses,
// so they make no proposals) until stop is closed, and records the offset
// of every acknowledged one by id.
// It returns once the first request is acknowledged.
func loadDuringBackup(t *testing.T, base, token string, stop <-chan struct{}) (map[string]uint64, *sync.WaitGroup) {
	acked := map[string]uint64{}
	var wg sync.WaitGroup
	wg.Add(1)
	first := make(chan struct{})
	var once sync.Once
	go func() {
		defer wg.Done()
		defer once.Do(func() { close(first) })
		client := &http.Client{Timeout: 30 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := paddedFlights(t, fmt.Sprintf("load%d", i), "2026-12-24", 100, 512)
			req, _ := http.NewRequest("POST", base+"/api/v1/topics/flights/events", strings.NewReader(string(r.body)))
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				t.Errorf("load: %v", err)
				return
			}
			var out struct{ Results []app.AppendResult }
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != 200 || err != nil {
				t.Errorf("load: %d %v", resp.StatusCode, err)
				return
			}
			for _, res := range out.Results {
				acked[res.ID] = res.Offset
			}
			once.Do(func() { close(first) })
		}
	}()
	<-first
	return acked, &wg
}

// TestBackupUnderLoadRestoresAndChecks backs up a serving node through the
// real binary while a client keeps ingesting, restores the backup onto a
// fresh directory, and shows: restore refuses a directory that holds
// data; `apron check` passes on the copy; the restored node serves the
// backup's offsets, its users and tokens (the old tokens authenticate) and
// its proposals; every acknowledged event up to the backup's offset is in
// the restored log, and none after it.
func TestBackupUnderLoadRestoresAndChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	admin := crashToken(t, bin, data, app.RoleAdmin, "backup-admin")
	agent := crashToken(t, bin, data, app.RoleAgent, "loader")
	if _, errOut, err := runApron(t, bin, "", "a long enough password\n", "user", "add", "--role", "agent", "ada", "--data", data); err != nil {
		t.Fatal(err, errOut)
	}
	node, base := startServe(t, bin, data)
	addr := strings.TrimPrefix(base, "http://")
	day := sim.Generate(sim.Config{Seed: 5, Date: "2026-11-25", Departures: 30})
	if err := postAcrossCrashes(addr, agent, requestsOf(day.Events, 500)).wait(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, time.Minute, func() error { return stateCaughtUp(addr, agent) })

	stop := make(chan struct{})
	acked, loading := loadDuringBackup(t, base, agent, stop)
	backup := filepath.Join(t.TempDir(), "backup")
	start := time.Now()
	out, errOut, err := runApron(t, bin, "", "", "backup", backup, "--token", admin, "--http", addr)
	took := time.Since(start)
	close(stop)
	loading.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s%s", err, out, errOut)
	}
	t.Logf("backup under load in %s:\n%s", took.Round(time.Millisecond), out)
	m, err := app.OpenBackup(backup)
	if err != nil {
		t.Fatal(err)
	}
	var before topicsAndOffsets
	apiGet(t, base, agent, "/api/v1/topics", &before)
	var origProposals proposalList
	apiGet(t, base, agent, "/api/v1/proposals", &origProposals)
	_ = node.Process.Signal(os.Interrupt)
	_ = node.Wait()
	origUsers, _, _ := runApron(t, bin, "", "", "user", "list", "--json", "--data", data)
	origTokens, _, _ := runApron(t, bin, "", "", "token", "list", "--json", "--data", data)

	restored := filepath.Join(t.TempDir(), "restored")
	start = time.Now()
	out, errOut, err = runApron(t, bin, "", "", "restore", backup, "--data", restored)
	if err != nil || !strings.Contains(out, "equals a rebuild") {
		t.Fatalf("restore: %v\n%s%s", err, out, errOut)
	}
	t.Logf("restore in %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	if _, errOut, err := runApron(t, bin, "", "", "restore", backup, "--data", restored); err == nil || !strings.Contains(errOut, "already holds apron data") {
		t.Fatalf("restore over a restored directory: %v %s", err, errOut)
	}
	if out, errOut, err := runApron(t, bin, "", "", "check", "--data", restored); err != nil {
		t.Fatalf("check of the restored directory: %v\n%s%s", err, out, errOut)
	}
	checkRestoredNode(t, bin, restored, backup, m, before, origProposals, agent)
	if users, _, _ := runApron(t, bin, "", "", "user", "list", "--json", "--data", restored); users != origUsers || !strings.Contains(users, "ada") {
		t.Fatalf("users after restore:\n%s\nbefore:\n%s", users, origUsers)
	}
	if tokens, _, _ := runApron(t, bin, "", "", "token", "list", "--json", "--data", restored); tokens != origTokens {
		t.Fatalf("tokens after restore:\n%s\nbefore:\n%s", tokens, origTokens)
	}
	checkRestoredLog(t, restored, m, acked)
}

// checkRestoredNode starts a node on the restored directory: the old agent
// token works, the state topics end at the backup's offsets, and the
// proposals are the backup's, each one the original node had.
func checkRestoredNode(t *testing.T, bin, restored, backup string, m app.BackupManifest, before topicsAndOffsets, orig proposalList, agent string) {
	t.Helper()
	n, base := startServe(t, bin, restored)
	defer func() { _ = n.Process.Signal(os.Interrupt); _ = n.Wait() }()
	var after topicsAndOffsets
	apiGet(t, base, agent, "/api/v1/topics", &after)
	for _, ts := range m.Topics {
		if slices.Contains(app.StateTopics, ts.Topic) && after.last(ts.Topic) != ts.LastOffset {
			t.Errorf("restored %s ends at %d, the backup at %d", ts.Topic, after.last(ts.Topic), ts.LastOffset)
		}
		t.Logf("%-12s original %6d, backup %6d, restored %6d", ts.Topic, before.last(ts.Topic), ts.LastOffset, after.last(ts.Topic))
	}
	var got proposalList
	apiGet(t, base, agent, "/api/v1/proposals", &got)
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(backup, app.BackupStateName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var inBackup int
	if err := db.QueryRow(`SELECT count(*) FROM proposals`).Scan(&inBackup); err != nil {
		t.Fatal(err)
	}
	origIDs := map[string]bool{}
	for _, p := range orig.Proposals {
		origIDs[p.ID] = true
	}
	for _, p := range got.Proposals {
		if !origIDs[p.ID] {
			t.Errorf("restored proposal %s was not on the original node", p.ID)
		}
	}
	t.Logf("proposals: original %d, backup %d, restored node %d", len(orig.Proposals), inBackup, len(got.Proposals))
	if inBackup == 0 || len(got.Proposals) < inBackup {
		t.Fatalf("the restored node serves %d proposals, the backup holds %d", len(got.Proposals), inBackup)
	}
}

// checkRestoredLog counts the load's events in the restored log: every one
// acknowledged at or below the backup's flights offset is there once,
// none above it.
func checkRestoredLog(t *testing.T, restored string, m app.BackupManifest, acked map[string]uint64) {
	t.Helper()
	var upto uint64
	for _, ts := range m.Topics {
		if ts.Topic == app.TopicFlights {
			upto = ts.LastOffset
		}
	}
	b := openCrashLog(t, restored)
	stored := map[string]int{}
	countLogged(t, b, app.TopicFlights, func(e app.LogEntry) string { return firstHeader(e.Headers, nats.MsgIdHdr) }, stored)
	in, after, missing, extra := 0, 0, 0, 0
	for id, off := range acked {
		n := stored[app.UniqueID("disk-test", id)]
		if off <= upto {
			in++
			if n != 1 {
				missing++
			}
		} else {
			after++
			if n != 0 {
				extra++
			}
		}
	}
	t.Logf("load during the backup: %d events acknowledged, %d up to the backup's offset %d, %d after; missing %d, present though later %d",
		len(acked), in, upto, after, missing, extra)
	if in == 0 || missing+extra > 0 {
		t.Fatal("the restored log does not hold exactly the events up to the backup's offset")
	}
	_ = b.Close(context.Background())
}
