package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/node"
)

// ollamaBinary finds a real ollama binary for the tests that supervise
// one: APRON_OLLAMA_BIN, then PATH, then the cache that
// scripts/setup-ollama.sh fills. It skips the test when there is none.
func ollamaBinary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("runs the real ollama binary")
	}
	if p := os.Getenv("APRON_OLLAMA_BIN"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			tb.Fatalf("APRON_OLLAMA_BIN=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("ollama"); err == nil {
		return p
	}
	var caches []string
	if c := os.Getenv("APRON_CACHE"); c != "" {
		caches = append(caches, c)
	}
	for _, c := range append(caches, ".cache") {
		if found, _ := filepath.Glob(filepath.Join(c, "ollama", "*", "bin", "ollama")); len(found) > 0 {
			p, _ := filepath.Abs(found[len(found)-1])
			return p
		}
	}
	tb.Skip("no ollama binary: set APRON_OLLAMA_BIN, put ollama in PATH, or run scripts/setup-ollama.sh")
	return ""
}

// ollamaModels returns the models directory that scripts/setup-models.sh
// filled ($APRON_CACHE/ollama/models, else .cache/ollama/models).
func ollamaModels(tb testing.TB) string {
	tb.Helper()
	cache := os.Getenv("APRON_CACHE")
	if cache == "" {
		cache = ".cache"
	}
	dir, _ := filepath.Abs(filepath.Join(cache, "ollama", "models"))
	if _, err := os.Stat(filepath.Join(dir, "manifests", "registry.ollama.ai", "library", "all-minilm", "l6-v2")); err != nil {
		tb.Fatalf("the embedding model is not in %s (run scripts/setup-models.sh, or set APRON_CACHE): %v", dir, err)
	}
	// The directory is shared with the Ollama that scripts/ollama.sh runs:
	// a second server must not prune blobs that one is writing.
	tb.Setenv("OLLAMA_NOPRUNE", "1")
	return dir
}

// ollamaProcesses returns the live processes started for the server on
// hostport (the server and its runners inherit OLLAMA_HOST).
func ollamaProcesses(tb testing.TB, hostport string) []int {
	tb.Helper()
	environs, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []int
	for _, p := range environs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("\x00OLLAMA_HOST="+hostport+"\x00")) && !bytes.HasPrefix(b, []byte("OLLAMA_HOST="+hostport+"\x00")) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); err == nil {
			f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			if len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// searchFinds waits until a search over the node's API ranks doc first
// with the vector part (not degraded).
func searchFinds(t *testing.T, base, q, doc string) {
	t.Helper()
	checkFor(t, 2*time.Minute, func() error {
		code, body := get(t, base+"/api/v1/search?type=policy&q="+url.QueryEscape(q))
		hits, _ := body["hits"].([]any)
		if code != 200 || len(hits) == 0 || body["degraded"] == true {
			return fmt.Errorf("search %q: %d %v", q, code, body)
		}
		if k := hits[0].(map[string]any)["entity_key"]; k != doc {
			return fmt.Errorf("search %q: first hit %v, want %s", q, k, doc)
		}
		return nil
	})
}

// TestSupervisedOllama runs the node with ollama.serve on the real binary:
// the embedding model answers through the node, a SIGKILLed server comes
// back and answers again, and stopping the node leaves no ollama process
// of its port behind.
func TestSupervisedOllama(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the server's processes in /proc")
	}
	bin := ollamaBinary(t)
	models := ollamaModels(t)
	hostport := freePort(t)
	cfg := node.DefaultConfig()
	cfg.Data, cfg.HTTP, cfg.NATS.Addr = t.TempDir(), "127.0.0.1:0", ""
	cfg.Ollama.URL, cfg.Ollama.Serve, cfg.Ollama.Binary, cfg.Ollama.ModelsDir = "http://"+hostport, true, bin, models
	cfg.Ollama.ChatModel = "" // nothing here needs the chat model loaded
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	m := node.NewMain(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = m.Close(context.Background())
		}
	})
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	useToken(t, m, app.RoleAdmin)
	ctx := context.Background()

	st := m.Ollama.State()
	if !st.Running || st.PID == 0 {
		t.Fatalf("supervisor state: %+v", st)
	}
	rows := fmt.Sprint(m.ModelRows(ctx))
	if !strings.Contains(rows, "{server ollama serve (supervised) running") || !strings.Contains(rows, "{embed all-minilm:l6-v2 present") {
		t.Fatalf("model rows: %s", rows)
	}
	base := m.HTTP.URL()
	post1 := policyEvent(t, "policy-lounge", "Lounge access", "Passengers with a long wait after a cancellation get a lounge voucher at the transfer desk.")
	if code, body := post(t, base+"/api/v1/topics/documents/events", post1); code != 200 {
		t.Fatal(code, body)
	}
	searchFinds(t, base, "where do stranded travellers get a lounge voucher", "policy-lounge")
	before := ollamaProcesses(t, hostport)
	if len(before) < 2 {
		t.Fatalf("want the server and an embedding runner, found pids %v", before)
	}
	t.Logf("server pid %d, processes of %s: %v", st.PID, hostport, before)

	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checkFor(t, time.Minute, func() error {
		now := m.Ollama.State()
		if !now.Running || now.PID == st.PID || now.Restarts != 1 || !strings.Contains(now.LastError, "signal: killed") {
			return fmt.Errorf("supervisor state: %+v", now)
		}
		return nil
	})
	for _, pid := range before {
		if pid != st.PID && processAlive(pid) {
			t.Fatalf("runner %d of the killed server is still running", pid)
		}
	}
	post2 := policyEvent(t, "policy-pets", "Travelling pets", "Animals in the hold are rebooked together with their owner on the same flight.")
	if code, body := post(t, base+"/api/v1/topics/documents/events", post2); code != 200 {
		t.Fatal(code, body)
	}
	searchFinds(t, base, "what happens to a dog in the cargo hold when the flight is rebooked", "policy-pets")
	if now := m.Ollama.State(); !now.Running || now.Restarts != 1 {
		t.Fatalf("state after the second search: %+v", now)
	}

	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := m.Close(sctx); err != nil {
		t.Fatal(err)
	}
	closed = true
	if left := ollamaProcesses(t, hostport); len(left) > 0 {
		t.Fatalf("ollama processes of %s left after the node stopped: %v", hostport, left)
	}
	if resp, err := http.Get("http://" + hostport + "/api/version"); err == nil {
		resp.Body.Close()
		t.Fatal("the port still answers after the node stopped")
	}
	if log, err := os.ReadFile(filepath.Join(cfg.Data, "ollama", "serve.log")); err != nil || !bytes.Contains(log, []byte("apron: starting")) {
		t.Fatalf("serve.log: %v\n%s", err, log)
	}
}

// processAlive reports whether pid runs; a zombie does not.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// TestModelCommandsWithTheSupervisedOllama runs the apron binary as a site
// admin would with ollama.serve on: `apron model import` and `apron model
// status` start the node's Ollama for themselves while the node is
// stopped, and use the node's own while it runs; a node killed with
// SIGKILL takes its Ollama with it.
func TestModelCommandsWithTheSupervisedOllama(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds the server's processes in /proc")
	}
	ollama := ollamaBinary(t)
	cache := os.Getenv("APRON_CACHE")
	if cache == "" {
		cache = ".cache"
	}
	folder := filepath.Join(cache, "models", "all-minilm-l6-v2")
	if _, err := os.Stat(filepath.Join(folder, "model.safetensors")); err != nil {
		t.Fatalf("the model folder from scripts/setup-models.sh is missing: %v", err)
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	hostport := freePort(t)
	env := append(os.Environ(), "APRON_DATA="+dir, "APRON_OLLAMA_SERVE=true", "APRON_OLLAMA_URL=http://"+hostport,
		"APRON_OLLAMA_BIN="+ollama, "APRON_OLLAMA_MODELS=", "APRON_LOG_LEVEL=warn")
	run := func(args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	noServerLeft := func(after string) {
		t.Helper()
		if left := ollamaProcesses(t, hostport); len(left) > 0 {
			t.Fatalf("after %s: ollama processes of %s left: %v", after, hostport, left)
		}
	}

	// The node is stopped and its models directory (DATA/ollama/models) empty.
	out, errOut, err := run("model", "status")
	if err == nil || !strings.Contains(out, "embed all-minilm:l6-v2") || !strings.Contains(errOut, "2 configured model(s) missing") ||
		!strings.Contains(errOut, "started ollama serve for this command (models in "+filepath.Join(dir, "ollama", "models")+")") {
		t.Fatalf("status of an empty models dir: %v\n%s\n%s", err, out, errOut)
	}
	noServerLeft("model status")
	if _, errOut, err := run("model", "import", "--name", "all-minilm:l6-v2", folder); err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	noServerLeft("model import")

	// The node runs: the commands use its server and leave it running.
	serve := exec.Command(bin, "serve", "--http", freePort(t), "--nats", "")
	serve.Env, serve.Stdout, serve.Stderr = env, os.Stderr, os.Stderr
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	var server []int
	checkFor(t, time.Minute, func() error {
		resp, err := http.Get("http://" + hostport + "/api/version")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if server = ollamaProcesses(t, hostport); len(server) != 1 {
			return fmt.Errorf("processes of %s: %v", hostport, server)
		}
		return nil
	})
	out, errOut, err = run("model", "status")
	if err == nil || !regexpMatch(`embed +all-minilm:l6-v2 +present +[0-9a-f]{64} `, out) || !strings.Contains(errOut, "1 configured model(s) missing") ||
		strings.Contains(errOut, "started ollama serve") {
		t.Fatalf("status beside the node: %v\n%s\n%s", err, out, errOut)
	}
	if now := ollamaProcesses(t, hostport); len(now) != 1 || now[0] != server[0] {
		t.Fatalf("the node's server %v changed to %v", server, now)
	}

	// Killed without a chance to stop it, the node still ends its server,
	// and the server its runner.
	resp, err := http.Post("http://"+hostport+"/api/embed", "application/json", strings.NewReader(`{"model":"all-minilm:l6-v2","input":"gate change"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("embed on the node's server: %v %v", err, resp)
	}
	resp.Body.Close()
	if now := ollamaProcesses(t, hostport); len(now) < 2 {
		t.Fatalf("want the server and a runner, found %v", now)
	}
	if err := serve.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = serve.Wait()
	checkFor(t, 30*time.Second, func() error {
		if left := ollamaProcesses(t, hostport); len(left) > 0 {
			return fmt.Errorf("ollama processes of %s left after SIGKILL of the node: %v", hostport, left)
		}
		return nil
	})
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
