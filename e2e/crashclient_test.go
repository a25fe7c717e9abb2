package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
)

// crashToken creates an API token with role in the data directory of a
// node that is not running.
func crashToken(tb testing.TB, bin, dir, role, name string, extra ...string) string {
	tb.Helper()
	args := append([]string{"token", "add", "--role", role, "--data", dir}, extra...)
	out, err := exec.Command(bin, append(args, name)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			tb.Fatalf("token add: %v: %s", err, ee.Stderr)
		}
		tb.Fatalf("token add: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// crashNode is a child `apron serve` that a test kills with SIGKILL and
// restarts on the same data directory and address.
type crashNode struct {
	tb     testing.TB
	bin    string
	args   []string
	cmd    *exec.Cmd
	stdout io.Writer // the child's standard output (nil: the test's stderr)
}

// startCrashNode starts `apron serve` on dir at httpAddr without NATS or
// a model, with extra flags; the child is killed at cleanup if still up.
func startCrashNode(tb testing.TB, bin, dir, httpAddr string, extra ...string) *crashNode {
	tb.Helper()
	return startCrashNodeTo(tb, nil, bin, dir, httpAddr, extra...)
}

// startCrashNodeTo is startCrashNode with the child's standard output
// going to stdout, where the first start prints the admin's password.
func startCrashNodeTo(tb testing.TB, stdout io.Writer, bin, dir, httpAddr string, extra ...string) *crashNode {
	tb.Helper()
	n := &crashNode{tb: tb, bin: bin, args: append([]string{"serve", "--data", dir, "--http", httpAddr, "--nats", ""}, extra...), stdout: stdout}
	n.start()
	tb.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			_ = n.cmd.Process.Kill()
			_ = n.cmd.Wait()
		}
	})
	return n
}

func (n *crashNode) start() {
	n.tb.Helper()
	cmd := exec.Command(n.bin, n.args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if n.stdout != nil {
		cmd.Stdout = n.stdout
	}
	cmd.Env = append(os.Environ(), "APRON_OLLAMA_URL=")
	if err := cmd.Start(); err != nil {
		n.tb.Fatal(err)
	}
	n.cmd = cmd
}

// killRepeatedly kills the node with SIGKILL and restarts it, up to max
// times, each after a random pause of lo to lo+spread, stopping early
// once stop (if not nil) reports true. It returns the number of kills.
func (n *crashNode) killRepeatedly(rng *rand.Rand, max int, lo, spread time.Duration, stop func() bool) int {
	n.tb.Helper()
	kills := 0
	for kills < max && (stop == nil || !stop()) {
		time.Sleep(lo + time.Duration(rng.IntN(int(spread/time.Millisecond)))*time.Millisecond)
		if stop != nil && stop() {
			break
		}
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		_ = n.cmd.Wait()
		kills++
		n.start()
	}
	return kills
}

// stop stops the node with SIGTERM and returns how it exited.
func (n *crashNode) stop() error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	return n.cmd.Wait()
}

// crashClient posts NDJSON requests to a node that keeps being killed,
// in order, retrying each until the node answers with a result for every
// event in it, and records the ids acknowledged.
type crashClient struct {
	acked map[string]bool // read only after wait
	done  atomic.Bool
	sent  atomic.Int64 // requests acknowledged so far
	err   chan error
}

// postAcrossCrashes starts a crashClient posting reqs to httpAddr with
// token. A request refused with 400 or unanswered for 2 minutes ends it
// with an error.
func postAcrossCrashes(httpAddr, token string, reqs []ndjsonRequest) *crashClient {
	c := &crashClient{acked: map[string]bool{}, err: make(chan error, 1)}
	go func() {
		defer c.done.Store(true)
		client := &http.Client{Timeout: 20 * time.Second}
		for _, r := range reqs {
			if err := c.postUntilAcked(client, "http://"+httpAddr+"/api/v1/topics/"+r.topic+"/events", token, r); err != nil {
				c.err <- err
				return
			}
		}
		c.err <- nil
	}()
	return c
}

func (c *crashClient) postUntilAcked(client *http.Client, url, token string, r ndjsonRequest) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(r.body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil {
			var body struct {
				Results []app.AppendResult `json:"results"`
			}
			derr := json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == 200 && derr == nil && len(body.Results) == len(r.ids) {
				for _, res := range body.Results {
					c.acked[res.ID] = true
				}
				c.sent.Add(1)
				return nil
			}
			if resp.StatusCode == 400 {
				return fmt.Errorf("request refused: %d", resp.StatusCode)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node unreachable for 2 minutes: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait returns when every request was acknowledged or the client gave up.
func (c *crashClient) wait() error { return <-c.err }

// openCrashLog opens the log of a stopped node's data directory.
func openCrashLog(tb testing.TB, dir string) *broker.Broker {
	tb.Helper()
	bc := broker.DefaultConfig()
	bc.Dir, bc.ClientAddr = filepath.Join(dir, "log"), ""
	b := broker.New(bc)
	b.Logger = slog.New(slog.DiscardHandler)
	if err := b.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// countLogged reads topic from the start and adds one to counts[id(e)]
// for each entry e.
func countLogged(tb testing.TB, b *broker.Broker, topic string, id func(app.LogEntry) string, counts map[string]int) {
	tb.Helper()
	ctx := context.Background()
	ti, _ := b.Topic(ctx, topic)
	r, err := b.NewReader(ctx, topic, 1)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var last uint64
	for last < ti.LastOffset {
		es, err := r.Next(ctx, 1000, 2*time.Second)
		if err != nil || len(es) == 0 {
			tb.Fatalf("read %s at %d: %v", topic, last, err)
		}
		for _, e := range es {
			counts[id(e)]++
			last = e.Offset
		}
	}
}
