package inference

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/apron-edge/apron/app"
)

// Defaults of the Server's fields.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultGracePeriod  = 10 * time.Second
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultStableAfter  = time.Minute
	DefaultLogMaxBytes  = 10 << 20
)

// Server runs `ollama serve` as a child process and keeps it running, for
// a site that deploys apron as its only process (one container). Set the
// fields, then Open; Close stops the server and every runner it spawned.
//
// The server and its runners share a process group of their own, so a
// restart or Close takes down runners that outlived their server. The
// child listens on URL's host:port (OLLAMA_HOST) and keeps its models in
// ModelsDir (OLLAMA_MODELS); the rest of apron's environment is inherited,
// so OLLAMA_KEEP_ALIVE, OLLAMA_NUM_PARALLEL and the like still apply.
type Server struct {
	Binary       string        // the ollama executable: a path, or a name looked up in PATH
	URL          string        // http://127.0.0.1:PORT; see ServeAddr
	ModelsDir    string        // OLLAMA_MODELS
	LogPath      string        // the server's output; empty: kept only for error messages
	LogMaxBytes  int64         // past this the log moves to LogPath.1 and starts over
	Env          []string      // KEY=VALUE pairs added to the inherited environment
	StartTimeout time.Duration // for /api/version to answer after each start
	GracePeriod  time.Duration // between SIGTERM and SIGKILL when stopping
	BackoffMin   time.Duration // first wait before a restart
	BackoffMax   time.Duration
	StableAfter  time.Duration // a server up this long starts the backoff over
	Logger       *slog.Logger
	Now          func() time.Time

	bin      string
	hostport string
	http     *http.Client
	out      *outputLog

	cancel context.CancelFunc
	done   chan struct{} // closed when the supervising goroutine has returned

	mu    sync.Mutex
	state ServerState
	cur   *child
}

// ServerState is what the supervisor knows about its server.
type ServerState struct {
	URL       string    `json:"url"`
	Running   bool      `json:"running"` // started and answering
	PID       int       `json:"pid,omitempty"`
	Since     time.Time `json:"since,omitempty"` // start of the current process
	Restarts  int       `json:"restarts"`        // starts after the first, successful or not
	LastError string    `json:"last_error,omitempty"`
}

// child is one run of `ollama serve`.
type child struct {
	cmd     *exec.Cmd
	pid     int // also the process group of its runners
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // how it exited, once done is closed
	drained chan struct{} // closed when its output has been read to the end
}

// ServeAddr returns the host:port a supervised server listens on for
// rawURL, which must be http on a loopback host with an explicit port:
// Ollama has no authentication, so apron never exposes one it starts.
// Returns EINVALID with a message that does not name the field.
func ServeAddr(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", app.Errorf(app.EINVALID, "%q is not a URL", rawURL)
	}
	if u.Scheme != "http" {
		return "", app.Errorf(app.EINVALID, "a server apron starts speaks plain http on loopback; want http://127.0.0.1:PORT, got %q", rawURL)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", app.Errorf(app.EINVALID, "want http://HOST:PORT with nothing after it, got %q", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" || port == "0" {
		return "", app.Errorf(app.EINVALID, "needs an explicit port for OLLAMA_HOST, e.g. http://127.0.0.1:11434, got %q", rawURL)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", app.Errorf(app.EINVALID, "host %q is not loopback: Ollama has no authentication, so a server apron starts listens on 127.0.0.1 or ::1 only", host)
	}
	return net.JoinHostPort(host, port), nil
}

// Open starts the server and returns once it answers. ctx bounds only that
// wait; the server then runs until Close, restarted with backoff whenever
// it exits. Returns EINVALID for a bad configuration, ECONFLICT when
// something already listens on the port (apron neither adopts nor stops a
// server it did not start), EUNAVAILABLE when the server exits or stays
// silent during its start.
func (s *Server) Open(ctx context.Context) error {
	if s.StartTimeout <= 0 {
		s.StartTimeout = DefaultStartTimeout
	}
	if s.GracePeriod <= 0 {
		s.GracePeriod = DefaultGracePeriod
	}
	if s.BackoffMin <= 0 {
		s.BackoffMin = DefaultBackoffMin
	}
	if s.BackoffMax < s.BackoffMin {
		s.BackoffMax = max(DefaultBackoffMax, s.BackoffMin)
	}
	if s.StableAfter <= 0 {
		s.StableAfter = DefaultStableAfter
	}
	if s.LogMaxBytes <= 0 {
		s.LogMaxBytes = DefaultLogMaxBytes
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.Logger = s.Logger.With("subsystem", "ollama")
	if s.Now == nil {
		s.Now = time.Now
	}
	hostport, err := ServeAddr(s.URL)
	if err != nil {
		return app.Errorf(app.EINVALID, "ollama.url: %s", app.ErrorMessage(err))
	}
	s.hostport = hostport
	if s.Binary == "" {
		return app.Errorf(app.EINVALID, "ollama.binary: must not be empty")
	}
	if s.bin, err = exec.LookPath(s.Binary); err != nil {
		return app.Errorf(app.EINVALID, "ollama.binary: %v", err)
	}
	if s.bin, err = filepath.Abs(s.bin); err != nil {
		return app.Errorf(app.EINVALID, "ollama.binary: %v", err)
	}
	if s.ModelsDir == "" {
		return app.Errorf(app.EINVALID, "ollama.models_dir: must not be empty")
	}
	if s.ModelsDir, err = filepath.Abs(s.ModelsDir); err != nil {
		return app.Errorf(app.EINVALID, "ollama.models_dir: %v", err)
	}
	if err := os.MkdirAll(s.ModelsDir, 0o750); err != nil {
		return app.Errorf(app.EINVALID, "ollama.models_dir: %v", err)
	}
	s.out = &outputLog{path: s.LogPath, max: s.LogMaxBytes}
	if err := s.out.open(); err != nil {
		return fmt.Errorf("open ollama log: %w", err)
	}
	s.http = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	s.state = ServerState{URL: s.URL}
	if err := s.checkPortFree(ctx); err != nil {
		s.out.close()
		return err
	}

	sctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan struct{})
	first := make(chan error, 1)
	go s.supervise(ctx, sctx, first)
	if err := <-first; err != nil {
		cancel()
		<-s.done
		s.out.close()
		return err
	}
	return nil
}

// Close stops the server: SIGTERM, GracePeriod to finish, then SIGKILL to
// its whole process group. It returns once no process of the group is
// left, or when ctx ends (after killing the group at once).
func (s *Server) Close(ctx context.Context) error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	var err error
	select {
	case <-s.done:
	case <-ctx.Done():
		err = ctx.Err()
		s.mu.Lock()
		if s.cur != nil {
			killGroup(s.cur.pid)
		}
		s.mu.Unlock()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	}
	s.out.close()
	return err
}

// State reports whether the server runs, its pid, restarts and last error.
func (s *Server) State() ServerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// supervise starts the server, reports the first start on first, then
// restarts the server whenever it exits until sctx ends. It keeps its OS
// thread: on Linux the child gets SIGTERM when the thread that started it
// ends (Pdeathsig), which must mean "when apron ends".
func (s *Server) supervise(startCtx, sctx context.Context, first chan<- error) {
	defer close(s.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	fctx, cancel := context.WithCancel(sctx)
	stop := context.AfterFunc(startCtx, cancel)
	c, err := s.startReady(fctx)
	stop()
	cancel()
	first <- err
	if err != nil {
		return
	}
	s.Logger.Info("ollama serve ready", "url", s.URL, "pid", c.pid, "models", s.ModelsDir, "log", s.LogPath)

	bo := app.NewBackoff(s.BackoffMin, s.BackoffMax)
	for {
		select {
		case <-sctx.Done():
			s.halt(c, s.GracePeriod)
			s.setStopped(nil)
			s.Logger.Info("ollama serve stopped", "pid", c.pid)
			return
		case <-c.done:
		}
		ran := s.Now().Sub(c.started)
		s.halt(c, 0) // its runners
		if ran >= s.StableAfter {
			bo.Reset()
		}
		reason := fmt.Errorf("ollama serve (pid %d) exited after %s: %v%s", c.pid, ran.Round(time.Millisecond), c.err, s.out.hint())
		s.setStopped(reason)
		for c = nil; c == nil; { // until a start succeeds
			wait := bo.Next()
			s.Logger.Warn("ollama serve exited; restarting", "reason", reason, "in", wait.Round(time.Millisecond), "restarts", s.State().Restarts+1)
			select {
			case <-sctx.Done():
				return
			case <-time.After(wait):
			}
			s.mu.Lock()
			s.state.Restarts++
			s.mu.Unlock()
			c, err = s.startReady(sctx)
			if err != nil {
				if sctx.Err() != nil {
					return
				}
				reason = err
				s.setStopped(err)
			}
		}
		s.Logger.Info("ollama serve restarted", "pid", c.pid, "restarts", s.State().Restarts)
	}
}

// startReady starts a child and waits until it answers; a child that does
// not is killed with its group.
func (s *Server) startReady(ctx context.Context) (*child, error) {
	c, err := s.spawn()
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(ctx, c); err != nil {
		s.halt(c, 0)
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Lock()
	s.state.Running, s.state.PID, s.state.Since = true, c.pid, c.started
	s.mu.Unlock()
	return c, nil
}

func (s *Server) spawn() (*child, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("ollama output pipe: %w", err)
	}
	cmd := exec.Command(s.bin, "serve")
	// Later entries win: apron owns where the server listens and what it serves.
	cmd.Env = append(append(os.Environ(), s.Env...), "OLLAMA_HOST="+s.hostport, "OLLAMA_MODELS="+s.ModelsDir)
	// A file, not a writer: Wait then returns when the server exits, even
	// if something it spawned still holds the output open.
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = procAttr()
	s.out.mark(fmt.Sprintf("---- %s apron: starting %s serve on %s (models %s)\n", s.Now().UTC().Format(time.RFC3339), s.bin, s.hostport, s.ModelsDir))
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, app.Errorf(app.EUNAVAILABLE, "start %s serve: %v", s.bin, err)
	}
	c := &child{cmd: cmd, pid: cmd.Process.Pid, started: s.Now(), done: make(chan struct{}), drained: make(chan struct{})}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	go func() {
		_, _ = io.Copy(s.out, r)
		r.Close()
		close(c.drained)
	}()
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// waitReady polls /api/version until it answers, the child exits, the
// start timeout passes or ctx ends.
func (s *Server) waitReady(ctx context.Context, c *child) error {
	deadline := time.NewTimer(s.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			select {
			case <-c.drained:
			case <-time.After(2 * time.Second):
			}
			return app.Errorf(app.EUNAVAILABLE, "ollama serve exited before it answered on %s: %v%s", s.hostport, c.err, s.out.hint())
		default:
		}
		if s.answering(ctx) == nil {
			return nil
		}
		select {
		case <-c.done:
		case <-tick.C:
		case <-deadline.C:
			return app.Errorf(app.EUNAVAILABLE, "ollama serve (pid %d) did not answer on %s within %s%s", c.pid, s.hostport, s.StartTimeout, s.out.hint())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// halt ends a child: SIGTERM and up to grace to exit (no grace: SIGKILL at
// once), then SIGKILL to the rest of its process group, and waits until no
// process of the group is left.
func (s *Server) halt(c *child, grace time.Duration) {
	if grace > 0 {
		_ = terminate(c.cmd.Process)
		select {
		case <-c.done:
		case <-time.After(grace):
			s.Logger.Warn("ollama serve did not stop after SIGTERM; killing it", "pid", c.pid, "grace", grace)
		}
	}
	killGroup(c.pid)
	<-c.done
	deadline := time.Now().Add(5 * time.Second)
	for groupAlive(c.pid) {
		if time.Now().After(deadline) {
			s.Logger.Warn("processes of ollama serve's group outlived SIGKILL", "pgid", c.pid)
			break
		}
		killGroup(c.pid)
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-c.drained:
	case <-time.After(2 * time.Second):
	}
}

func (s *Server) setStopped(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Running, s.state.PID = false, 0
	s.cur = nil
	if err != nil {
		s.state.LastError = app.ErrorMessage(err)
		if app.ErrorCode(err) == app.EINTERNAL {
			s.state.LastError = err.Error()
		}
	}
}

// answering returns nil when an HTTP server answers /api/version on the port.
func (s *Server) answering(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.hostport+"/api/version", nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/api/version: %s", resp.Status)
	}
	return nil
}

// checkPortFree refuses to start a second server: something that listens
// on the port was not started by this supervisor.
func (s *Server) checkPortFree(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.hostport)
	if err == nil {
		return ln.Close()
	}
	if s.answering(ctx) == nil {
		return app.Errorf(app.ECONFLICT, "ollama.url: %s is taken: an Ollama server already answers there that this apron did not start (another node, or one started by hand); stop it, pick another port, or set ollama.serve to false to use it", s.hostport)
	}
	return app.Errorf(app.ECONFLICT, "ollama.url: %s is taken: %v", s.hostport, err)
}

// tailBytes is how much of a child's latest output is kept for messages.
const tailBytes = 4096

// outputLog takes the children's output: it appends it to a file that moves
// aside when it grows past max, and keeps the current child's last lines.
type outputLog struct {
	path string
	max  int64

	mu   sync.Mutex
	f    *os.File
	size int64
	tail []byte
}

func (l *outputLog) open() error {
	if l.path == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o750); err != nil {
		return err
	}
	if fi, err := os.Stat(l.path); err == nil && fi.Size() >= l.max {
		_ = os.Rename(l.path, l.path+".1")
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write never fails: a full disk must not stop the server's output from
// being drained, or the server would block on it.
func (l *outputLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, p...)
	if len(l.tail) > 2*tailBytes {
		l.tail = append([]byte(nil), l.tail[len(l.tail)-tailBytes:]...)
	}
	for rest := p; len(rest) > 0 && l.f != nil; {
		if l.size >= l.max {
			l.rotate()
			continue
		}
		n, err := l.f.Write(rest[:min(int64(len(rest)), l.max-l.size)])
		l.size += int64(n)
		if err != nil {
			break
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// rotate moves the log aside and starts an empty one; on failure the
// output is no longer written to a file.
func (l *outputLog) rotate() {
	l.f.Close()
	l.f = nil
	_ = os.Rename(l.path, l.path+".1")
	if f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640); err == nil {
		l.f, l.size = f, 0
	}
}

// mark writes a line of apron's own and starts a new child's tail.
func (l *outputLog) mark(line string) {
	_, _ = l.Write([]byte(line))
	l.mu.Lock()
	l.tail = l.tail[:0]
	l.mu.Unlock()
}

// hint returns the current child's last lines of output for an error
// message, or "" when it wrote nothing.
func (l *outputLog) hint() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(l.tail)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	text := strings.TrimSpace(strings.Join(lines, " | "))
	if text == "" {
		return ""
	}
	where := ""
	if l.path != "" {
		where = " (" + l.path + ")"
	}
	return "; last output" + where + ": " + text
}

func (l *outputLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
