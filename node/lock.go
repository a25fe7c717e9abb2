package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/apron-edge/apron/app"
)

// LockFile is the file in the data directory whose flock marks the one
// process that uses the directory; it holds that process's pid.
const LockFile = "apron.lock"

// LockHolder returns the pid written in dir's lock file by the process
// that holds (or last held) it, or "unknown".
func LockHolder(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, LockFile))
	holder := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(holder); err != nil {
		return "unknown"
	}
	return holder
}

// DataLock is the exclusive hold of one process on a data directory. The
// log's own files are not locked against a second process (NATS reopens
// them happily), so two nodes on one directory would both write; this
// lock is what keeps them apart.
type DataLock struct {
	Dir string
	f   *os.File
}

// LockData takes the exclusive lock on the data directory dir for the
// life of the process (until Unlock). With create, a missing directory is
// created (serve and demo on first start); without it, dir must exist
// and hold apron data. Returns ECONFLICT naming the holder's pid when
// another process holds the lock, ENOTFOUND for a missing or foreign
// directory.
func LockData(dir string, create bool) (*DataLock, error) {
	if create {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	} else if err := RequireData(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, app.Errorf(app.ECONFLICT, "data directory %s is in use by process %s (a running apron node or command); stop it first", abs(dir), LockHolder(dir))
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	return &DataLock{Dir: dir, f: f}, nil
}

// Unlock releases the lock. The file stays: removing it would let a
// process that opened it just before lock a file nobody else sees.
func (l *DataLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}

// RequireData returns nil when dir exists and holds apron data (a log or a
// state store), ENOTFOUND otherwise, naming the directory. Commands other
// than serve and demo never create a data directory: a typo must fail,
// not report on an empty one.
func RequireData(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return app.Errorf(app.ENOTFOUND, "data directory %s does not exist (give --data, APRON_DATA or the config's data)", abs(dir))
	} else if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return app.Errorf(app.EINVALID, "data directory %s is not a directory", abs(dir))
	}
	for _, name := range []string{"state.db", "log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return app.Errorf(app.ENOTFOUND, "data directory %s holds no apron data (no state.db, no log/)", abs(dir))
}

// abs returns dir as an absolute path for messages, or dir itself.
func abs(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}

// AbsData returns the absolute path of the configured data directory, for
// the line a command prints about which directory it uses.
func (c *Config) AbsData() string { return abs(c.Data) }
