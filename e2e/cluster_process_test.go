package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/broker"
	"github.com/apron-edge/apron/vectors"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
)

// procNode is one `apron serve` of a cluster, run as a child process.
type procNode struct {
	name, dir, http, nats, token string
	out                          *lineBuffer // its standard output
	*crashNode
}

// lineBuffer collects a child's standard output, safe to read while the
// child writes, and copies it to the test's stderr.
type lineBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, _ = os.Stderr.Write(p)
	return b.buf.Write(p)
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// procCluster is n `apron serve` processes of one cluster on loopback:
// free ports, temp data directories, one secret file.
type procCluster struct {
	bin   string
	nodes []*procNode
}

var firstStartPassword = regexp.MustCompile(`created user "admin" with one-time password (\S+)`)

// startProcCluster starts n nodes of cluster "site" with extra flags
// each, makes one admin API token on the formed cluster (every node's
// accounts come from the cluster's log, so each node's state is all a
// projection of it) and waits until every node answers its cluster
// status with the lease held by one of them.
func startProcCluster(t *testing.T, bin string, n int, extra ...string) *procCluster {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "cluster.secret")
	if err := os.WriteFile(secret, []byte("a-test-secret-shared-by-every-node-of-the-site\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "cluster.json")
	if err := os.WriteFile(conf, []byte(`{"cluster": {"lease_ttl": "3s"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var routes []string
	for i := 0; i < n; i++ {
		routes = append(routes, freePort(t))
	}
	c := &procCluster{bin: bin}
	for i := 0; i < n; i++ {
		pn := &procNode{name: fmt.Sprintf("node%c", 'a'+i), dir: t.TempDir(), http: freePort(t), nats: freePort(t), out: &lineBuffer{}}
		args := append([]string{"--config", conf, "--cluster", "site", "--node", pn.name, "--cluster-listen", routes[i],
			"--peers", strings.Join(routes, ","), "--cluster-secret", secret, "--nats", pn.nats, "--log-level", "error"}, extra...)
		pn.crashNode = startCrashNodeTo(t, pn.out, bin, pn.dir, pn.http, args...)
		c.nodes = append(c.nodes, pn)
	}
	token := c.adminToken(t)
	for _, pn := range c.nodes {
		// Its seal key comes from the cluster's secret, not a file of its own.
		if _, err := os.Stat(filepath.Join(pn.dir, "log", broker.SealKeyFile)); !os.IsNotExist(err) {
			t.Fatalf("%s wrote a seal key file of its own (%v)", pn.name, err)
		}
		pn.token = token
		testTokens.Store("http://"+pn.http, token)
		checkFor(t, 2*time.Minute, func() error {
			h, err := c.holder(pn)
			if err == nil && h == "" {
				err = fmt.Errorf("%s: no node holds the lease yet", pn.name)
			}
			return err
		})
	}
	return c
}

// adminToken logs in as the first-start admin on the one node that
// printed its password (the cluster stores one first-start admin) and
// makes an admin API token on its admin page: a control entry on the
// cluster's log, which every node applies.
func (c *procCluster) adminToken(t *testing.T) string {
	t.Helper()
	var first *procNode
	var password string
	checkFor(t, 2*time.Minute, func() error {
		for _, pn := range c.nodes {
			if m := firstStartPassword.FindStringSubmatch(pn.out.String()); m != nil {
				first, password = pn, m[1]
				return nil
			}
		}
		return fmt.Errorf("no node has printed the first-start admin's password yet")
	})
	for _, pn := range c.nodes {
		if pn != first && firstStartPassword.MatchString(pn.out.String()) {
			t.Fatalf("%s printed a first-start password too: the cluster has two first admins", pn.name)
		}
	}
	base := "http://" + first.http
	checkFor(t, 2*time.Minute, func() error {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err
	})
	var token string
	checkFor(t, 2*time.Minute, func() error {
		cl := browser(t)
		if resp := login(t, cl, base, "admin", password); resp.StatusCode != http.StatusSeeOther {
			return fmt.Errorf("%s: login: %d", first.name, resp.StatusCode)
		}
		req, _ := http.NewRequest("POST", base+"/admin/tokens", strings.NewReader(url.Values{"name": {"cluster-test"}, "role": {app.RoleAdmin}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := cl.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		tok := regexp.MustCompile(`apron_[A-Za-z0-9_-]{43}`).Find(b)
		if resp.StatusCode != 200 || tok == nil {
			return fmt.Errorf("%s: token: %d", first.name, resp.StatusCode)
		}
		token = string(tok)
		return nil
	})
	return token
}

// holder asks via, with `apron cluster status`, which node runs the
// singletons ("" when the lease is free).
func (c *procCluster) holder(via *procNode) (string, error) {
	out, err := c.status(via)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "proposer (planning, booking engine and outbox)"); ok {
			h := strings.TrimSpace(rest)
			if strings.HasPrefix(h, "none") {
				return "", nil
			}
			return h, nil
		}
	}
	return "", fmt.Errorf("%s: cluster status names no proposer holder:\n%s", via.name, out)
}

// status runs `apron cluster status` against via and returns its output.
func (c *procCluster) status(via *procNode) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.bin, "cluster", "status", "--http", via.http, "--token", via.token).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: cluster status: %v: %s", via.name, err, out)
	}
	return string(out), nil
}

func (c *procCluster) byName(name string) *procNode {
	for _, pn := range c.nodes {
		if pn.name == name {
			return pn
		}
	}
	return nil
}

// signal sends sig to pn's process.
func (pn *procNode) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := pn.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: %s: %v", pn.name, sig, err)
	}
}

// stopAll stops every node with SIGTERM at once (one by one, the last
// would wait for a quorum that has gone) and fails on an unclean exit.
func (c *procCluster) stopAll(t *testing.T) {
	t.Helper()
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, pn := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pn.stop()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: stop: %v", c.nodes[i].name, err)
		}
	}
}

// countByID reads topic from its start through pn's NATS port, as a site
// application, and counts the entries by event id.
func countByID(t *testing.T, pn *procNode, topic string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pn.dir, "nats-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cr struct{ User, Password string }
	if err := json.Unmarshal(b, &cr); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+pn.nats, nats.UserInfo(cr.User, cr.Password))
	if err != nil {
		t.Fatalf("%s: nats: %v", pn.name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, topic)
	if err != nil {
		t.Fatalf("%s: %s: %v", pn.name, topic, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One ephemeral consumer the server removes once idle: a site
	// application may not delete consumers, and an ordered consumer makes
	// (and deletes) one for every fetch, each refusal a request timeout.
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckNonePolicy,
		MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("%s: consumer of %s: %v", pn.name, topic, err)
	}
	counts := map[string]int{}
	var last uint64
	for last < info.State.LastSeq {
		// A fetch returns when its batch is full: ask for no more than
		// is left, or each read ends with the 5 s wait.
		batch, err := cons.Fetch(int(min(1000, info.State.LastSeq-last)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("%s: read %s at %d: %v", pn.name, topic, last, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, _ := m.Metadata()
			last = meta.Sequence.Stream
			var e app.Event
			_ = json.Unmarshal(m.Data(), &e)
			counts[e.ID]++
		}
		if n == 0 && ctx.Err() != nil {
			t.Fatalf("%s: read %s: nothing after %d of %d", pn.name, topic, last, info.State.LastSeq)
		}
	}
	return counts
}

// stateChecksums opens the state store of a stopped node and returns its
// checksum per table.
func stateChecksums(t *testing.T, pn *procNode) map[string]string {
	t.Helper()
	st := vectors.NewStore(filepath.Join(pn.dir, "state.db"))
	st.Logger = slog.New(slog.DiscardHandler)
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	sum, err := st.Checksum(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// flightsApplied returns nil once pn's state has applied its flights
// topic up to the topic's head, and the head holds want entries.
func flightsApplied(pn *procNode, want uint64) error {
	head, err := flightsHead(pn)
	if err == nil && head != want {
		err = fmt.Errorf("%s: flights head %d, want %d", pn.name, head, want)
	}
	return err
}

// flightsHead returns the flights topic's head once pn's state has
// applied all of it.
func flightsHead(pn *procNode) (uint64, error) {
	req, _ := http.NewRequest("GET", "http://"+pn.http+"/api/v1/topics", nil)
	req.Header.Set("Authorization", "Bearer "+pn.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body topicsBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("%s: topics: %w", pn.name, err)
	}
	for _, c := range body.Consumers {
		if c.Consumer == app.StateConsumer && c.Topic == app.TopicFlights {
			if c.Offset != c.Head {
				return 0, fmt.Errorf("%s: flights applied to %d of %d", pn.name, c.Offset, c.Head)
			}
			return c.Head, nil
		}
	}
	return 0, fmt.Errorf("%s: no state position on flights yet", pn.name)
}

// onceEach fails unless every acknowledged id, and every id read through
// pn, is in counts exactly once.
func onceEach(t *testing.T, pn *procNode, acked map[string]bool, counts map[string]int) {
	t.Helper()
	for id := range acked {
		if counts[id] != 1 {
			t.Fatalf("through %s: acknowledged event %s is %d times in the log", pn.name, id, counts[id])
		}
	}
	for id, n := range counts {
		if n != 1 {
			t.Fatalf("through %s: event %s is %d times in the log", pn.name, id, n)
		}
	}
}

// requireEqualStates compares the stopped nodes' state checksums.
func (c *procCluster) requireEqualStates(t *testing.T) {
	t.Helper()
	want := stateChecksums(t, c.nodes[0])
	for _, pn := range c.nodes[1:] {
		got := stateChecksums(t, pn)
		for table, sum := range want {
			if got[table] != sum {
				t.Fatalf("%s's %s differs from %s's (%s, %s)", pn.name, table, c.nodes[0].name, got[table], sum)
			}
		}
	}
}

// requireChecks runs `apron check` beside each running node: the node
// checks its own state against a rebuild from the cluster's log, up to
// the positions of one snapshot of its store, every table included.
func (c *procCluster) requireChecks(t *testing.T, nodes []*procNode) {
	t.Helper()
	for _, pn := range nodes {
		out, errOut, err := runApron(t, c.bin, "", "", "check", "--data", pn.dir, "--http", pn.http, "--token", pn.token)
		if err != nil || !strings.Contains(out, "equals a rebuild from the log up to control@") {
			t.Fatalf("%s: apron check beside the running node: %v\n%s%s", pn.name, err, out, errOut)
		}
		t.Logf("%s: %s", pn.name, strings.TrimSpace(out))
	}
}

// requireStoppedCheckRefused: a stopped cluster node's log opens only
// with its cluster, so `apron check` says to start the node.
func (c *procCluster) requireStoppedCheckRefused(t *testing.T, pn *procNode) {
	t.Helper()
	_, errOut, err := runApron(t, c.bin, "", "", "check", "--data", pn.dir)
	if err == nil || !strings.Contains(errOut, "belongs to a node of a cluster") || !strings.Contains(errOut, "start the node") {
		t.Fatalf("%s: apron check of the stopped cluster node: %v\n%s", pn.name, err, errOut)
	}
}

// clusterRequests are the flight events and rebooking outcomes one node
// takes, tagged so that no two nodes post the same id.
func clusterRequests(tag string, flights, outcomes int) []ndjsonRequest {
	var reqs []ndjsonRequest
	fr := requestsOfEvents(bench.FlightEvents(flights, tag), 100)
	or := outcomeRequestsTagged(tag, outcomes, 20)
	for i := 0; i < max(len(fr), len(or)); i++ {
		if i < len(fr) {
			reqs = append(reqs, fr[i])
		}
		if i < len(or) {
			reqs = append(reqs, or[i])
		}
	}
	return reqs
}

func requestsOfEvents(es []*app.Event, per int) []ndjsonRequest {
	var reqs []ndjsonRequest
	for i := 0; i < len(es); i += per {
		r := ndjsonRequest{topic: es[i].Topic()}
		var lines []string
		for _, e := range es[i:min(i+per, len(es))] {
			r.ids = append(r.ids, e.ID)
			lines = append(lines, string(e.Raw))
		}
		r.body = []byte(strings.Join(lines, "\n"))
		reqs = append(reqs, r)
	}
	return reqs
}

func outcomeRequestsTagged(tag string, n, per int) []ndjsonRequest {
	reqs := outcomeRequests(n, per)
	for i := range reqs {
		for j, id := range reqs[i].ids {
			reqs[i].ids[j] = tag + "-" + id
		}
		reqs[i].body = []byte(strings.ReplaceAll(string(reqs[i].body), `"id":"out-`, `"id":"`+tag+`-out-`))
	}
	return reqs
}

// TestClusterProcessesSurviveSIGKILL runs three `apron serve` processes of
// one cluster with the bridge to a real Kafka. Ingest goes through all
// three at once while the node holding the lease (bridge, outbox,
// planning, booking engine) is SIGKILLed and later restarted. Once the
// lease has moved, two approvals of the last seat go through the two
// nodes left at the same moment: one executes, the other fails with the
// reason. Afterwards every acknowledged event is in every node's log
// exactly once, every node shows the one execution, each running node's
// state equals a rebuild from the log (`apron check` beside it), the
// stopped nodes' states are equal, and every acknowledged rebooking
// outcome and the execution's event are in Kafka exactly once (the
// bridge resumed on another node).
func TestClusterProcessesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three nodes and Kafka as child processes")
	}
	kafka := mustRunKafka(t)
	for _, topic := range []string{"flights", "bookings", "passengers", "documents", "fra.rebookings", "fra.heartbeats"} {
		kcat(t, "", "-b", kafka, "-L", "-t", topic)
	}
	bin := buildBinary(t)
	c := startProcCluster(t, bin, 3, "--kafka", kafka)
	first, err := c.holder(c.nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	victim := c.byName(first)
	if victim == nil {
		t.Fatalf("cluster status names %q as the holder, not one of the nodes", first)
	}
	// Two bookings offered the last seat of one flight, planned by the
	// node that is about to be killed.
	seat := setUpLastSeat(t, c)
	wantHead := uint64(3*1500 + seat.flights)

	var clients []*crashClient
	total := 0
	for _, pn := range c.nodes {
		reqs := clusterRequests(pn.name, 1500, 600)
		total += len(reqs)
		clients = append(clients, postAcrossCrashes(pn.http, pn.token, reqs))
	}
	// Kill the holder once a third of the requests are acknowledged.
	checkFor(t, 2*time.Minute, func() error {
		var sent int64
		for _, cl := range clients {
			sent += cl.sent.Load()
		}
		if sent*3 < int64(total) {
			return fmt.Errorf("%d of %d requests acknowledged", sent, total)
		}
		return nil
	})
	running := 0
	for _, cl := range clients {
		if !cl.done.Load() {
			running++
		}
	}
	if running == 0 {
		t.Fatal("every client had finished before the kill: the test proved nothing")
	}
	killed := time.Now()
	victim.signal(t, syscall.SIGKILL)
	_ = victim.cmd.Wait()

	var survivors []*procNode
	for _, pn := range c.nodes {
		if pn != victim {
			survivors = append(survivors, pn)
		}
	}
	var next string
	var failover time.Duration
	checkFor(t, 2*time.Minute, func() error {
		h, err := c.holder(survivors[0])
		if err != nil {
			return err
		}
		if h == "" || h == victim.name {
			return fmt.Errorf("the lease is still with %q", h)
		}
		next, failover = h, time.Since(killed)
		return nil
	})
	t.Logf("%s SIGKILLed with %d clients posting; %s took the lease %s later", victim.name, running, next, failover.Round(time.Millisecond))
	// The last seat, approved for both bookings at the same moment through
	// the two nodes left, while ingest goes on: the new holder's booking
	// engine sells it once.
	winner := seat.approveAtOnce(t, survivors)
	victim.start() // its client retries until it is back

	acked := map[string]bool{}
	for i, cl := range clients {
		if err := cl.wait(); err != nil {
			t.Fatalf("client of %s: %v", c.nodes[i].name, err)
		}
		for id := range cl.acked {
			acked[id] = true
		}
	}
	for _, pn := range c.nodes {
		checkFor(t, 2*time.Minute, func() error { return flightsApplied(pn, wantHead) })
	}
	if h, err := c.holder(victim); err != nil || h == "" {
		t.Fatalf("after the restart: holder %q, %v", h, err)
	}
	// The status command shows each node's own state lag: none now.
	for _, pn := range c.nodes {
		out, err := c.status(pn)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^flights\s+%d\s+%d\s+0$`, wantHead, wantHead)).MatchString(out) {
			t.Fatalf("%s: cluster status does not show its flights state at %d of %d:\n%s", pn.name, wantHead, wantHead, out)
		}
	}

	// Every node, the restarted one too, shows the one execution.
	seat.requireOneExecution(t, c.nodes, winner)

	// The bridge resumed on another node: every acknowledged outcome, and
	// the last seat's execution, is in Kafka exactly once.
	outcomes := map[string]bool{"rebooking-executed-" + winner: true}
	for id := range acked {
		if strings.Contains(id, "-out-") {
			outcomes[id] = true
		}
	}
	seen, missing := kafkaIDs(t, kafka, "fra.rebookings", outcomes)
	if len(missing) > 0 {
		// Say whether the bridge lost them or the log never had them.
		local := countByID(t, c.nodes[0], app.TopicRebookings)
		var inLog []string
		for _, id := range missing {
			if local[id] > 0 {
				inLog = append(inLog, id)
			}
		}
		t.Fatalf("%d acknowledged outcomes are not in Kafka after 2 minutes (%d of them in %s's log): %v", len(missing), len(inLog), c.nodes[0].name, missing[:min(len(missing), 5)])
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("outcome %s is %d times in Kafka", id, n)
		}
	}

	for _, pn := range c.nodes {
		counts := countByID(t, pn, app.TopicFlights)
		for id, n := range countByID(t, pn, app.TopicRebookings) {
			counts[id] += n
		}
		onceEach(t, pn, acked, counts)
	}
	// Each node's state equals a rebuild from the log, and every node's
	// state is the same projection of the same log.
	c.requireChecks(t, c.nodes)
	c.stopAll(t)
	c.requireEqualStates(t)
	c.requireStoppedCheckRefused(t, victim)
	t.Logf("%d events acknowledged across three nodes, each once in the log read through every node; %d outcomes once each in Kafka", len(acked), len(seen))
}

// kafkaIDs reads topic from the start with an independent consumer until
// every id of want is there, or for 2 minutes, and returns how often each
// id came and the ids of want it did not find.
func kafkaIDs(t *testing.T, addr, topic string, want map[string]bool) (map[string]int, []string) {
	t.Helper()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]int{}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cons.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == "ce_id" {
					seen[string(h.Value)]++
				}
			}
		})
		var missing []string
		for id := range want {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			sort.Strings(missing)
			return seen, missing
		}
	}
}

// flightStatus returns the status of flight key in pn's state.
func flightStatus(t *testing.T, pn *procNode, key string) (string, error) {
	t.Helper()
	resp, err := authGet("http://" + pn.http + "/api/v1/flights/" + key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", pn.name, err)
	}
	defer resp.Body.Close()
	var body struct {
		Flight app.Flight `json:"flight"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: flight %s: %d %v", pn.name, key, resp.StatusCode, err)
	}
	return body.Flight.Status, nil
}

func (c *procCluster) waitStatus(t *testing.T, nodes []*procNode, key, status string) {
	t.Helper()
	for _, pn := range nodes {
		checkFor(t, 2*time.Minute, func() error {
			got, err := flightStatus(t, pn, key)
			if err == nil && got != status {
				err = fmt.Errorf("%s: %s is %q, want %q", pn.name, key, got, status)
			}
			return err
		})
	}
}

// ingestOn posts one flight event to pn until it is acknowledged (the
// cluster may be electing a topic's leader).
func ingestOn(t *testing.T, pn *procNode, id, key, status string, at time.Time) {
	t.Helper()
	checkFor(t, 2*time.Minute, func() error {
		code, body := post(t, "http://"+pn.http+"/api/v1/topics/flights/events", flightJSON(id, key, status, at))
		if code != 200 {
			return fmt.Errorf("ingest on %s: %d %v", pn.name, code, body)
		}
		return nil
	})
}

// TestClusterPartition stops nodes with SIGSTOP, which silences their
// routes as a partition does: the two nodes left keep taking writes; the
// stopped node, continued, converges; a node left alone (the other two
// stopped) refuses a write with an error that says why, instead of
// acknowledging what it cannot replicate, and once the others continue
// the same write goes in once and every node converges.
func TestClusterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three nodes as child processes")
	}
	bin := buildBinary(t)
	c := startProcCluster(t, bin, 3)
	a, b, lone := c.nodes[0], c.nodes[1], c.nodes[2]
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	const key = "LH400-2026-11-25"
	ingestOn(t, a, "p1", key, "delayed", t0)
	c.waitStatus(t, c.nodes, key, "delayed")

	// A minority of one stopped: the majority goes on.
	lone.signal(t, syscall.SIGSTOP)
	ingestOn(t, a, "p2", key, "boarding", t0.Add(time.Minute))
	ingestOn(t, b, "p3", "LH402-2026-11-25", "delayed", t0.Add(time.Minute))
	c.waitStatus(t, []*procNode{a, b}, key, "boarding")
	lone.signal(t, syscall.SIGCONT)
	c.waitStatus(t, c.nodes, key, "boarding")
	c.waitStatus(t, c.nodes, "LH402-2026-11-25", "delayed")

	// The lone node, cut off from both others, refuses the write.
	a.signal(t, syscall.SIGSTOP)
	b.signal(t, syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			_ = a.cmd.Process.Signal(syscall.SIGCONT)
			_ = b.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	sent := time.Now()
	code, body := post(t, "http://"+lone.http+"/api/v1/topics/flights/events", flightJSON("p4", key, "departed", t0.Add(2*time.Minute)))
	t.Logf("the lone node answered %d after %s: %v", code, time.Since(sent).Round(time.Millisecond), body)
	if code != 503 {
		t.Fatalf("the lone node answered %d %v, want 503: it cannot replicate", code, body)
	}
	if msg, _ := body["error"].(string); !strings.Contains(msg, "quorum") {
		t.Fatalf("the refusal does not say why: %v", body)
	}
	if out, err := c.status(lone); err == nil {
		t.Logf("cluster status on the lone node:\n%s", out)
	}

	a.signal(t, syscall.SIGCONT)
	b.signal(t, syscall.SIGCONT)
	stopped = false
	ingestOn(t, lone, "p4", key, "departed", t0.Add(2*time.Minute))
	c.waitStatus(t, c.nodes, key, "departed")
	for _, pn := range c.nodes {
		counts := countByID(t, pn, app.TopicFlights)
		for _, id := range []string{"p1", "p2", "p3", "p4"} {
			if counts[id] != 1 {
				t.Fatalf("through %s: %s is %d times in the log", pn.name, id, counts[id])
			}
		}
	}
	if h, err := c.holder(lone); err != nil || h == "" {
		t.Fatalf("after healing: holder %q, %v", h, err)
	}
}
