package inference_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/inference"
)

// The test binary doubles as a fake `ollama serve` (and its runner) when
// APRON_FAKE_OLLAMA names a behaviour, so the supervisor's logic can be
// tested with real processes, signals and process groups but without models.
func TestMain(m *testing.M) {
	if mode := os.Getenv("APRON_FAKE_OLLAMA"); mode != "" {
		fakeOllama(mode)
		return
	}
	os.Exit(m.Run())
}

// fakeOllama behaves as mode says:
//
//	serve     answer /api/version on OLLAMA_HOST, start a runner, exit 0 on SIGTERM
//	stubborn  like serve, but ignore SIGTERM
//	chatty    like serve, after 400 lines of output
//	flaky     like serve, but exit with status 2 200ms after it first answered
//	fail      print a bind error and exit with status 1
//	runner    sleep until killed, ignoring SIGTERM
func fakeOllama(mode string) {
	fmt.Printf("fake ollama %s: host=%s models=%s\n", mode, os.Getenv("OLLAMA_HOST"), os.Getenv("OLLAMA_MODELS"))
	switch mode {
	case "runner":
		signal.Ignore(syscall.SIGTERM)
		select {}
	case "fail":
		fmt.Fprintf(os.Stderr, "Error: listen tcp %s: bind: address already in use\n", os.Getenv("OLLAMA_HOST"))
		os.Exit(1)
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
	case "chatty":
		for i := range 400 {
			fmt.Printf("line %03d %s\n", i, strings.Repeat("x", 90))
		}
	}
	if f := os.Getenv("FAKE_RUNNER_PIDS"); f != "" {
		r := exec.Command(os.Args[0])
		r.Env = append(os.Environ(), "APRON_FAKE_OLLAMA=runner")
		if err := r.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		out, _ := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		fmt.Fprintln(out, r.Process.Pid)
		out.Close()
	}
	if mode != "stubborn" { // Notify would undo its Ignore
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		go func() {
			<-term
			fmt.Println("fake ollama: terminated")
			os.Exit(0)
		}()
	}
	var crash sync.Once
	http.HandleFunc("/api/version", func(w http.ResponseWriter, _ *http.Request) {
		if mode == "flaky" {
			crash.Do(func() {
				time.AfterFunc(200*time.Millisecond, func() { fmt.Println("fake ollama: crashing"); os.Exit(2) })
			})
		}
		fmt.Fprint(w, `{"version":"0.0.0-fake"}`)
	})
	if err := http.ListenAndServe(os.Getenv("OLLAMA_HOST"), nil); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

type fakeServer struct {
	*inference.Server
	runners string // file of the runners' pids
	addr    string
}

// newFakeServer returns a Server that runs the fake in mode on a free port.
func newFakeServer(t *testing.T, mode string) *fakeServer {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the fakes' process checks read /proc")
	}
	dir := t.TempDir()
	f := &fakeServer{runners: filepath.Join(dir, "runners"), addr: freeAddr(t)}
	f.Server = &inference.Server{
		Binary: os.Args[0], URL: "http://" + f.addr, ModelsDir: filepath.Join(dir, "models"), LogPath: filepath.Join(dir, "ollama", "serve.log"),
		Env:          []string{"APRON_FAKE_OLLAMA=" + mode, "FAKE_RUNNER_PIDS=" + f.runners},
		StartTimeout: 10 * time.Second, GracePeriod: 2 * time.Second, BackoffMin: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	return f
}

// runnerPIDs returns the pids of the runners the fakes started so far.
func (f *fakeServer) runnerPIDs(t *testing.T) []int {
	t.Helper()
	b, _ := os.ReadFile(f.runners)
	var pids []int
	for _, l := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(l)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	return pids
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// alive reports whether pid runs; a zombie does not.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func answers(addr string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/api/version")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func checkFor(tb testing.TB, d time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServerStartsAndStopsTheWholeGroup(t *testing.T) {
	f := newFakeServer(t, "serve")
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := f.State()
	if !st.Running || st.PID == 0 || st.Restarts != 0 || st.URL != f.URL || st.Since.IsZero() {
		t.Fatalf("state after Open: %+v", st)
	}
	if !answers(f.addr) {
		t.Fatal("Open returned before the server answered")
	}
	runners := f.runnerPIDs(t)
	if len(runners) != 1 || !alive(runners[0]) {
		t.Fatalf("runner %v not running", runners)
	}
	// The child sees where to listen and where the models are.
	log, _ := os.ReadFile(f.LogPath)
	if want := fmt.Sprintf("host=%s models=%s", f.addr, f.ModelsDir); !strings.Contains(string(log), want) {
		t.Fatalf("log lacks %q:\n%s", want, log)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if alive(st.PID) || alive(runners[0]) {
		t.Fatalf("left behind: server %v, runner %v", alive(st.PID), alive(runners[0]))
	}
	if answers(f.addr) {
		t.Fatal("the port still answers")
	}
	if log, _ := os.ReadFile(f.LogPath); !strings.Contains(string(log), "fake ollama: terminated") {
		t.Fatalf("the server did not get SIGTERM first:\n%s", log)
	}
	if st := f.State(); st.Running || st.PID != 0 {
		t.Fatalf("state after Close: %+v", st)
	}
}

func TestServerRestartsAfterACrash(t *testing.T) {
	f := newFakeServer(t, "serve")
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	first := f.State().PID
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error {
		st := f.State()
		if !st.Running || st.PID == first || st.Restarts != 1 {
			return fmt.Errorf("state %+v", st)
		}
		if !strings.Contains(st.LastError, "signal: killed") {
			return fmt.Errorf("last error %q", st.LastError)
		}
		return nil
	})
	if !answers(f.addr) {
		t.Fatal("the restarted server does not answer")
	}
	// The first server's runner outlived it; the restart ended it.
	runners := f.runnerPIDs(t)
	if len(runners) != 2 || alive(runners[0]) || !alive(runners[1]) {
		t.Fatalf("runners %v: first alive %v", runners, alive(runners[0]))
	}
}

func TestServerBacksOffWhileItKeepsCrashing(t *testing.T) {
	f := newFakeServer(t, "flaky")
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 20*time.Second, func() error {
		if st := f.State(); st.Restarts < 4 || !strings.Contains(st.LastError, "exit status 2") || !strings.Contains(st.LastError, "crashing") {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})
	start := time.Now()
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Close took %s during a restart wait", time.Since(start))
	}
	for _, pid := range f.runnerPIDs(t) {
		if alive(pid) {
			t.Fatalf("runner %d left behind", pid)
		}
	}
}

func TestServerKillsAServerThatIgnoresSIGTERM(t *testing.T) {
	f := newFakeServer(t, "stubborn")
	f.GracePeriod = 300 * time.Millisecond
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := f.State().PID
	start := time.Now()
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Close took %s with a grace period of 300ms", d)
	}
	if alive(pid) || alive(f.runnerPIDs(t)[0]) {
		t.Fatal("the stubborn server or its runner is still running")
	}
}

func TestServerReportsAnEarlyExit(t *testing.T) {
	f := newFakeServer(t, "fail")
	err := f.Open(context.Background())
	if app.ErrorCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrorMessage(err), "address already in use") {
		t.Fatalf("want the child's own reason, got %v", err)
	}
	if st := f.State(); st.Running || st.PID != 0 {
		t.Fatalf("state %+v", st)
	}
}

func TestServerRefusesATakenPort(t *testing.T) {
	for _, tt := range []struct {
		name   string
		listen func(t *testing.T) string
		reason string
	}{
		{"an Ollama answers", func(t *testing.T) string {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"version":"0.17.4"}`) }))
			t.Cleanup(hs.Close)
			return hs.Listener.Addr().String()
		}, "already answers there"},
		{"something else listens", func(t *testing.T) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			return ln.Addr().String()
		}, "address already in use"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, "serve")
			f.addr = tt.listen(t)
			f.URL = "http://" + f.addr
			err := f.Open(context.Background())
			msg := app.ErrorMessage(err)
			if app.ErrorCode(err) != app.ECONFLICT || !strings.HasPrefix(msg, "ollama.url: "+f.addr+" is taken") || !strings.Contains(msg, tt.reason) {
				t.Fatalf("got %v", err)
			}
			if len(f.runnerPIDs(t)) != 0 {
				t.Fatal("a server was started anyway")
			}
		})
	}
}

func TestServerRotatesItsLog(t *testing.T) {
	f := newFakeServer(t, "chatty")
	f.LogMaxBytes = 8 << 10
	if err := f.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cur, err := os.Stat(f.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.Stat(f.LogPath + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Size() > f.LogMaxBytes || old.Size() > f.LogMaxBytes {
		t.Fatalf("log %d bytes, previous %d, limit %d", cur.Size(), old.Size(), f.LogMaxBytes)
	}
}

func TestServeAddr(t *testing.T) {
	for _, tt := range []struct {
		url, want, reason string
	}{
		{"http://127.0.0.1:11434", "127.0.0.1:11434", ""},
		{"http://127.0.0.1:11434/", "127.0.0.1:11434", ""},
		{"http://[::1]:11500", "[::1]:11500", ""},
		{"http://localhost:11434", "localhost:11434", ""},
		{"https://127.0.0.1:11434", "", "plain http"},
		{"http://127.0.0.1", "", "explicit port"},
		{"http://127.0.0.1:0", "", "explicit port"},
		{"http://0.0.0.0:11434", "", "not loopback"},
		{"http://10.0.0.5:11434", "", "not loopback"},
		{"http://ollama:11434", "", "not loopback"},
		{"http://127.0.0.1:11434/v1", "", "nothing after it"},
	} {
		got, err := inference.ServeAddr(tt.url)
		if tt.reason == "" && (err != nil || got != tt.want) {
			t.Errorf("%s: got %q, %v; want %q", tt.url, got, err, tt.want)
		}
		if tt.reason != "" && (app.ErrorCode(err) != app.EINVALID || !strings.Contains(app.ErrorMessage(err), tt.reason)) {
			t.Errorf("%s: got %q, %v; want an error saying %q", tt.url, got, err, tt.reason)
		}
	}
}
