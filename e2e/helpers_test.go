package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
	"github.com/nats-io/nats.go"
)

// TestMain runs the tests from the repository root, so that scripts/,
// .cache/ and artifacts/ resolve as they do for `make` and the binary, and
// `go build .` builds the command.
func TestMain(m *testing.M) {
	if err := os.Chdir(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// MustRunMain starts a whole node on a temp data dir with port 0 listeners.
func MustRunMain(tb testing.TB, mutate ...func(*node.Config)) *node.Main {
	tb.Helper()
	return mustRunMainOn(tb, nil, mutate...)
}

// mustRunMainOn is MustRunMain with the node's clock (nil: the real one),
// as a demo sets its simulated clock.
func mustRunMainOn(tb testing.TB, clock func() time.Time, mutate ...func(*node.Config)) *node.Main {
	tb.Helper()
	cfg := node.DefaultConfig()
	cfg.Data = tb.TempDir()
	cfg.HTTP = "127.0.0.1:0"
	cfg.NATS.Addr = "127.0.0.1:0"
	cfg.Ollama.URL = "" // tests that need the model opt in
	for _, f := range mutate {
		f(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	m := node.NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if clock != nil {
		m.Clock = clock
	}
	if err := m.Open(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Close(context.Background()) })
	useToken(tb, m, app.RoleAdmin)
	return m
}

// useToken creates an API token with role and makes post and get use it
// for m's requests.
func useToken(tb testing.TB, m *node.Main, role string) string {
	tok := tokenFor(tb, m, role)
	testTokens.Store(m.HTTP.URL(), tok)
	return tok
}

// testTokens maps a node's base URL to an admin API token.
var testTokens sync.Map

func authorize(req *http.Request) {
	for _, base := range []string{req.URL.Scheme + "://" + req.URL.Host} {
		if tok, ok := testTokens.Load(base); ok {
			req.Header.Set("Authorization", "Bearer "+tok.(string))
		}
	}
}

// checkFor polls f until it returns nil or the deadline passes, and
// returns how long that took.
func checkFor(tb testing.TB, d time.Duration, f func() error) time.Duration {
	tb.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func post(tb testing.TB, url, body string) (int, map[string]any) {
	tb.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func get(tb testing.TB, url string) (int, map[string]any) {
	tb.Helper()
	resp, err := authGet(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func authGet(url string) (*http.Response, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	authorize(req)
	return http.DefaultClient.Do(req)
}

// buildBinary compiles apron once for tests that run it as a child process.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "apron")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("build apron: %v", err)
	}
	return bin
}

func freePort(tb testing.TB) string {
	tb.Helper()
	// The port is closed again before its user binds it, so the kernel
	// may hand it out once more; the process never gives it out twice
	// (two nodes of a cluster test once got the same one).
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.ports[addr] {
			handedOut.ports[addr] = true
			return addr
		}
	}
}

// handedOut are the ports freePort gave out.
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

// natsConnect connects to the node's NATS port as a site application: with
// the user the node wrote into its data directory.
func natsConnect(tb testing.TB, m *node.Main) *nats.Conn {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(m.Config.Data, "nats-credentials.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var cr struct{ User, Password string }
	if err := json.Unmarshal(b, &cr); err != nil {
		tb.Fatal(err)
	}
	nc, err := nats.Connect(m.Broker.ClientURL(), nats.UserInfo(cr.User, cr.Password))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// readAll reads topic of m's log from its first entry to its last.
func readAll(tb testing.TB, m *node.Main, topic string) []app.LogEntry {
	tb.Helper()
	ctx := context.Background()
	ti, err := m.Broker.Topic(ctx, topic)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := m.Broker.NewReader(ctx, topic, 1)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out []app.LogEntry
	for len(out) == 0 || out[len(out)-1].Offset < ti.LastOffset {
		entries, err := r.Next(ctx, 1000, 2*time.Second)
		if err != nil {
			tb.Fatal(err)
		}
		if len(entries) == 0 {
			if ti.LastOffset == 0 {
				return nil
			}
			tb.Fatalf("%s ended before its last offset %d", topic, ti.LastOffset)
		}
		out = append(out, entries...)
	}
	return out
}
