package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"
)

// An online backup (docs/decisions/0015-backup.md) is a stream of files:
// the state store as of one transaction, then each topic of the log as
// the log's own snapshot (offsets kept), the few secrets the node made for
// itself, and last a manifest with every file's size and SHA-256. The
// state comes first, so the log copy is at least as far as every position
// the state records; the restored node catches up the difference.

// BackupFormat is the version of the backup layout.
const BackupFormat = 1

// BackupManifestName is the manifest's file name: last in the stream, so
// a backup without it is incomplete.
const BackupManifestName = "manifest.json"

// BackupStateName is the state store's file name in a backup.
const BackupStateName = "state.db"

// TopicSnapshot is one topic in a backup: the log's snapshot of it and
// the topic's configuration and state when the snapshot began, as the log
// reports them (restore hands them back to it).
type TopicSnapshot struct {
	Topic       string          `json:"topic"`
	File        string          `json:"file"`
	FirstOffset uint64          `json:"first_offset"`
	LastOffset  uint64          `json:"last_offset"`
	Messages    uint64          `json:"messages"`
	Config      json.RawMessage `json:"config"`
	State       json.RawMessage `json:"state"`
}

// BackupFile is one file of a backup with its size and checksum.
type BackupFile struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// BackupManifest describes a complete backup.
type BackupManifest struct {
	Format  int             `json:"format"`
	Created time.Time       `json:"created"`
	Took    string          `json:"took"`
	Files   []BackupFile    `json:"files"`
	Topics  []TopicSnapshot `json:"topics"`
}

// Bytes is the backup's size.
func (m BackupManifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Bytes
	}
	return n
}

// StateSnapshotter copies the state store, as of one transaction, into a
// new file at path.
type StateSnapshotter interface {
	SnapshotInto(ctx context.Context, path string) error
}

// LogSnapshotter writes the log's snapshot of one topic to w.
type LogSnapshotter interface {
	SnapshotTopic(ctx context.Context, topic string, w io.Writer) (TopicSnapshot, error)
}

// Backup writes online backups of a node. Files maps names in the backup
// to files of the data directory copied as they are (the log's seal key,
// the NATS credentials); TempDir holds the state copy while it is sent.
type Backup struct {
	State   StateSnapshotter
	Log     LogSnapshotter
	Files   map[string]string
	TempDir string
	Now     func() time.Time

	mu sync.Mutex
}

// Write streams a backup to mw: the state, every topic, the files, the
// manifest. Returns ECONFLICT while another backup runs; on any other
// failure a part named "error" says why, and no manifest follows.
func (b *Backup) Write(ctx context.Context, mw *multipart.Writer) (BackupManifest, error) {
	if !b.mu.TryLock() {
		return BackupManifest{}, Errorf(ECONFLICT, "a backup is already running")
	}
	defer b.mu.Unlock()
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	start := now()
	m := BackupManifest{Format: BackupFormat, Created: start.UTC()}
	err := b.writeParts(ctx, mw, &m)
	if err != nil {
		if w, perr := mw.CreatePart(partHeader("error")); perr == nil {
			_, _ = io.WriteString(w, ErrorMessage(err))
		}
		return m, err
	}
	m.Took = now().Sub(start).Round(time.Millisecond).String()
	js, _ := json.MarshalIndent(m, "", "  ")
	w, err := mw.CreatePart(partHeader(BackupManifestName))
	if err == nil {
		_, err = w.Write(js)
	}
	if err != nil {
		return m, fmt.Errorf("write manifest: %w", err)
	}
	return m, nil
}

func (b *Backup) writeParts(ctx context.Context, mw *multipart.Writer, m *BackupManifest) error {
	// The state first: the log copy must be at least as far.
	tmp := filepath.Join(b.TempDir, fmt.Sprintf(".backup-%d.db", time.Now().UnixNano()))
	defer os.Remove(tmp)
	if err := b.State.SnapshotInto(ctx, tmp); err != nil {
		return fmt.Errorf("snapshot the state store: %w", err)
	}
	if err := b.copyFile(mw, m, BackupStateName, tmp); err != nil {
		return err
	}
	for _, t := range Topics {
		name := "log/" + t + ".snap"
		f, err := b.part(mw, name)
		if err != nil {
			return err
		}
		ts, err := b.Log.SnapshotTopic(ctx, t, f)
		if err != nil {
			return fmt.Errorf("snapshot topic %s: %w", t, err)
		}
		ts.File = name
		m.Topics = append(m.Topics, ts)
		m.Files = append(m.Files, f.done())
	}
	for _, name := range slices.Sorted(maps.Keys(b.Files)) {
		if err := b.copyFile(mw, m, name, b.Files[name]); err != nil {
			return err
		}
	}
	return nil
}

func (b *Backup) copyFile(mw *multipart.Writer, m *BackupManifest, name, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	defer src.Close()
	w, err := b.part(mw, name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		return fmt.Errorf("backup %s: %w", name, err)
	}
	m.Files = append(m.Files, w.done())
	return nil
}

func (b *Backup) part(mw *multipart.Writer, name string) (*hashingWriter, error) {
	w, err := mw.CreatePart(partHeader(name))
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", name, err)
	}
	return &hashingWriter{name: name, w: w, h: sha256.New()}, nil
}

func partHeader(name string) textproto.MIMEHeader {
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Content-Type", "application/octet-stream")
	return h
}

// hashingWriter counts and hashes what passes through it.
type hashingWriter struct {
	name string
	w    io.Writer
	h    hash.Hash
	n    int64
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

func (w *hashingWriter) done() BackupFile {
	return BackupFile{Name: w.name, Bytes: w.n, SHA256: hex.EncodeToString(w.h.Sum(nil))}
}

// backupName is what a file of a backup may be called: nothing that
// leaves the backup's directory.
var backupName = regexp.MustCompile(`^(state\.db|manifest\.json|nats-credentials\.json|log/seal\.key|log/[a-z]+\.snap)$`)

// ReadBackup reads a backup stream from mr into dir (which must not
// exist), checks every file against the manifest and returns it. A stream
// that ends without its manifest, or with an error part, is refused and
// dir removed.
func ReadBackup(mr *multipart.Reader, dir string) (BackupManifest, error) {
	var m BackupManifest
	if err := os.Mkdir(dir, 0o700); err != nil {
		return m, fmt.Errorf("create backup directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	got := map[string]BackupFile{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return m, Errorf(EUNAVAILABLE, "the backup stream ended without its manifest: it is incomplete")
		} else if err != nil {
			return m, fmt.Errorf("read backup stream: %w", err)
		}
		name := partName(p)
		switch {
		case name == "error":
			msg, _ := io.ReadAll(io.LimitReader(p, 4096))
			return m, Errorf(EUNAVAILABLE, "the node could not finish the backup: %s", msg)
		case name == BackupManifestName:
			if err := json.NewDecoder(p).Decode(&m); err != nil {
				return m, fmt.Errorf("read manifest: %w", err)
			}
			if err := writeManifest(dir, m); err != nil {
				return m, err
			}
			if err := m.check(got); err != nil {
				return m, err
			}
			ok = true
			return m, nil
		case !backupName.MatchString(name):
			return m, Errorf(EINVALID, "backup stream: unexpected file %q", name)
		}
		f, err := saveFile(dir, name, p)
		if err != nil {
			return m, err
		}
		got[name] = f
	}
}

// partName is a part's file name as sent (multipart.Part.FileName keeps
// only its last element).
func partName(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

func saveFile(dir, name string, r io.Reader) (BackupFile, error) {
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return BackupFile{}, fmt.Errorf("backup %s: %w", name, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return BackupFile{}, fmt.Errorf("backup %s: %w", name, err)
	}
	w := &hashingWriter{name: name, w: f, h: sha256.New()}
	_, err = io.Copy(w, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupFile{}, fmt.Errorf("backup %s: %w", name, err)
	}
	return w.done(), nil
}

func writeManifest(dir string, m BackupManifest) error {
	js, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, BackupManifestName), append(js, '\n'), 0o600); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// check compares the files received (or found) with the manifest.
func (m BackupManifest) check(got map[string]BackupFile) error {
	if m.Format != BackupFormat {
		return Errorf(EINVALID, "backup format %d; this apron reads format %d", m.Format, BackupFormat)
	}
	if len(got) != len(m.Files) {
		return Errorf(EINVALID, "backup holds %d files, its manifest lists %d", len(got), len(m.Files))
	}
	for _, f := range m.Files {
		g, ok := got[f.Name]
		if !ok || g != f {
			return Errorf(EINVALID, "backup file %s: %d bytes sha256 %s, the manifest says %d bytes sha256 %s", f.Name, g.Bytes, g.SHA256, f.Bytes, f.SHA256)
		}
	}
	return nil
}

// OpenBackup reads the manifest of the backup in dir and checks every file
// against it (sizes and SHA-256). Returns EINVALID naming the first file
// that differs.
func OpenBackup(dir string) (BackupManifest, error) {
	var m BackupManifest
	js, err := os.ReadFile(filepath.Join(dir, BackupManifestName))
	if err != nil {
		return m, Errorf(ENOTFOUND, "%s is not a complete apron backup: %v", dir, err)
	}
	if err := json.Unmarshal(js, &m); err != nil {
		return m, Errorf(EINVALID, "backup manifest %s: %v", filepath.Join(dir, BackupManifestName), err)
	}
	got := map[string]BackupFile{}
	for _, f := range m.Files {
		if !backupName.MatchString(f.Name) {
			return m, Errorf(EINVALID, "backup manifest: unexpected file %q", f.Name)
		}
		r, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			return m, Errorf(EINVALID, "backup file %s: %v", f.Name, err)
		}
		w := &hashingWriter{name: f.Name, w: io.Discard, h: sha256.New()}
		_, err = io.Copy(w, r)
		r.Close()
		if err != nil {
			return m, fmt.Errorf("read backup file %s: %w", f.Name, err)
		}
		got[f.Name] = w.done()
	}
	return m, m.check(got)
}
