package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/nats-io/nats-server/v2/server"
)

// What the log does when its disk fills (docs/decisions/0018-full-disk.md):
// before each group commit it checks the free space of its file system and
// refuses the whole group (ENOSPACE, HTTP 507) when storing it would leave
// less than Config.MinFree; a write error of the server's store (another
// process filled the disk between two checks) is noticed from the server's
// log at once, so waiting appends fail instead of hanging. While the log
// cannot write, every append is refused at once and Writable says why. A
// recovery loop checks every RecoverInterval whether space returned,
// proves it with a probe file, restarts JetStream when the server's store
// holds a write error (nats-server keeps it until its streams reopen), and
// then takes appends again, without a restart of the node.

// storage is the log's write health.
type storage struct {
	mu     sync.Mutex
	err    error     // why the log cannot write; nil when it can
	since  time.Time // when err was set
	reset  bool      // the server's stores hold a write error: restart JetStream
	failed map[string]chan struct{}
}

// fault records why the log cannot write. reset says the server's own
// stores failed and must be reopened before the log writes again.
func (s *storage) fault(err error, reset bool, now time.Time) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reset {
		s.reset = true
	}
	if s.err != nil {
		return false
	}
	s.err, s.since = err, now
	return true
}

// writeFailed returns a channel closed when the server reports a write
// error on topic, so that appends waiting for its answer stop waiting.
func (s *storage) writeFailed(topic string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = map[string]chan struct{}{}
	}
	ch, ok := s.failed[topic]
	if !ok {
		ch = make(chan struct{})
		s.failed[topic] = ch
	}
	return ch
}

// serverFailed is called with the server's report of a write error.
func (s *storage) serverFailed(topic string, err error, now time.Time) bool {
	first := s.fault(err, true, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ch := range s.failed {
		if topic == "" || t == topic {
			close(ch)
			delete(s.failed, t)
		}
	}
	return first
}

func (s *storage) state() (err error, since time.Time, reset bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err, s.since, s.reset
}

func (s *storage) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err, s.reset = nil, false
}

// Writable returns nil while the log can write, and otherwise ENOSPACE
// saying why and since when (readiness reports it).
func (b *Broker) Writable() error {
	err, since, _ := b.storage.state()
	if err == nil {
		return nil
	}
	return app.Errorf(app.ENOSPACE, "the log cannot write since %s: %s", since.UTC().Format(time.RFC3339), app.ErrorMessage(err))
}

// freeBytes is the space left for an unprivileged writer on the file
// system of the log's directory.
func (b *Broker) freeBytes() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.Config.Dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", b.Config.Dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// checkRoom refuses a group of size bytes at once while the log cannot
// write, and when storing it would leave less than MinFree on the disk.
func (b *Broker) checkRoom(topic string, size int64) error {
	if err := b.Writable(); err != nil {
		return err
	}
	if b.Config.MinFree <= 0 {
		return nil
	}
	free, err := b.freeBytes()
	if err != nil {
		return nil // no answer from statfs: let the server try
	}
	if free-size*2 >= b.Config.MinFree {
		return nil
	}
	err = app.Errorf(app.ENOSPACE, "the disk of the log has %d MiB free, less than nats.min_free (%d MiB) once %d KiB of events are stored; free disk space in the data directory",
		free>>20, b.Config.MinFree>>20, size>>10)
	if free >= b.Config.MinFree+fullMargin {
		return err // this group does not fit; smaller ones still may
	}
	if b.storage.fault(err, false, b.Now()) {
		b.Logger.Error("log refuses appends: disk full", "topic", topic, "free_bytes", free, "min_free", b.Config.MinFree)
	}
	return b.Writable()
}

// noteWriteError is called by the server's logger with its report of a
// failed write ("... stream '$G > flights': write ...: no space left on
// device"). The topic's waiting appends fail at once.
func (b *Broker) noteWriteError(msg string) {
	err := app.Errorf(app.ENOSPACE, "the log's store could not write (%s); free disk space in the data directory", msg)
	topic := reportedStream(msg)
	if b.storage.serverFailed(topic, err, b.Now()) {
		b.Logger.Error("log refuses appends: its store could not write", "topic", topic, "err", msg)
	}
}

// reportedStream finds the stream a server log line is about: "stream
// '$G > flights'" or "Filestore [flights]"; "" when it names none.
func reportedStream(msg string) string {
	if i := strings.Index(msg, " > "); i >= 0 {
		if j := strings.IndexByte(msg[i+3:], '\''); j >= 0 {
			return msg[i+3 : i+3+j]
		}
	}
	if i := strings.Index(msg, "Filestore ["); i >= 0 {
		if j := strings.IndexByte(msg[i+11:], ']'); j >= 0 {
			return msg[i+11 : i+11+j]
		}
	}
	return ""
}

// isWriteErrorReport tells a server log line that reports a failed write.
func isWriteErrorReport(msg string) bool {
	return strings.Contains(msg, "no space left") || strings.Contains(msg, "critical write error") ||
		strings.Contains(msg, "failed to store a msg")
}

// recoverLoop brings the log back to writing once space has returned.
func (b *Broker) recoverLoop() {
	defer b.wg.Done()
	t := time.NewTicker(b.Config.RecoverInterval)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		err, since, reset := b.storage.state()
		if err == nil {
			continue
		}
		if rerr := b.tryRecover(reset); rerr != nil {
			b.Logger.Debug("log still cannot write", "reason", rerr)
			continue
		}
		b.storage.clear()
		b.Logger.Warn("log writes again", "after", b.Now().Sub(since).Round(time.Millisecond), "jetstream_restarted", reset)
	}
}

// fullMargin is the space above MinFree below which the log counts as
// full (readiness says so) rather than as too small for one large group:
// less than a usual request fits.
const fullMargin = 1 << 20

// recoverMargin is the space above MinFree (at least) that must be free
// before the log takes appends again, so that it does not flap.
const recoverMargin = 4 << 20

// tryRecover returns nil once the log can write again: space is back
// (proved by writing and syncing a probe file) and, when the server's
// store failed, JetStream has reopened its streams.
func (b *Broker) tryRecover(reset bool) error {
	free, err := b.freeBytes()
	if err != nil {
		return err
	}
	if need := b.Config.MinFree + recoverMargin; free < need {
		return fmt.Errorf("%d MiB free, want %d MiB", free>>20, need>>20)
	}
	if err := probeWrite(b.Config.Dir, recoverMargin/2); err != nil {
		return err
	}
	if !reset {
		return nil
	}
	return b.restartJetStream()
}

// probeWrite writes size bytes to a file in dir, syncs and removes it.
func probeWrite(dir string, size int) error {
	path := filepath.Join(dir, ".write-probe")
	defer os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("probe write: %w", err)
	}
	_, werr := f.Write(make([]byte, size))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("probe write: %w", werr)
	}
	return nil
}

// restartJetStream reopens every stream from its files: the only way to
// clear the write error a nats-server file store keeps once a write
// failed (filestore.go setWriteErr; nothing resets it but a new store).
// The recovery reads the blocks back and drops a torn last record, so
// nothing the log acknowledged is lost and nothing it refused appears.
func (b *Broker) restartJetStream() error {
	start := time.Now()
	// What the log had not made durable may be gone, and its offsets
	// given again.
	b.forgetTails()
	if err := b.srv.ShutdownJetStream(); err != nil {
		return fmt.Errorf("stop jetstream: %w", err)
	}
	cfg := server.JetStreamConfig{StoreDir: b.Config.Dir, MaxStore: b.maxStore(), MaxMemory: jetStreamMaxMemory,
		SyncAlways: b.Config.Sync == SyncAlways, SyncInterval: b.Config.SyncInterval, Strict: true}
	if err := b.srv.EnableJetStream(&cfg); err != nil {
		return fmt.Errorf("restart jetstream: %w", err)
	}
	if err := b.createTopics(30 * time.Second); err != nil {
		return err
	}
	b.Logger.Info("jetstream restarted to clear a store write error", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// maxStore is the server's storage limit: the configured one, or in
// effect none, since the free-space check above keeps MinFree on the disk
// (the server's own default, 75% of the space free at start, never
// follows a disk that is cleaned up or grown).
func (b *Broker) maxStore() int64 {
	if b.Config.MaxStore > 0 {
		return b.Config.MaxStore
	}
	return 1 << 50
}
