package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/broker"
)

// RestoreSummary is what a restore did.
type RestoreSummary struct {
	Manifest app.BackupManifest
	Topics   []app.TopicInfo // the restored log, topic by topic
	Took     time.Duration
}

// String says what the restore did in a few lines.
func (s RestoreSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "restored the backup of %s (%d MiB) in %s\n", s.Manifest.Created.Format(time.RFC3339), s.Manifest.Bytes()>>20, s.Took.Round(time.Millisecond))
	for _, t := range s.Topics {
		fmt.Fprintf(&b, "  %-12s offsets %d-%d, %d events\n", t.Name, t.FirstOffset, t.LastOffset, t.Messages)
	}
	b.WriteString("  the state store equals a rebuild from the log (apron check)")
	return b.String()
}

// Restore makes cfg.Data a copy of the backup in dir: the node's keys,
// then the log topic by topic with its offsets, then the state store, and
// checks the result as `apron check` does. cfg.Data must hold no apron
// data (it is created when missing); Restore holds its lock throughout.
// Returns ECONFLICT for a data directory that holds data, EINVALID for a
// backup whose files differ from its manifest. On failure the data
// directory is left without a state store, so no node starts on half a
// restore.
func Restore(ctx context.Context, cfg Config, dir string, logger *slog.Logger) (RestoreSummary, error) {
	start := time.Now()
	var sum RestoreSummary
	m, err := app.OpenBackup(dir)
	if err != nil {
		return sum, err
	}
	sum.Manifest = m
	if err := refuseData(cfg); err != nil {
		return sum, err
	}
	lock, err := LockData(cfg.Data, true)
	if err != nil {
		return sum, err
	}
	defer lock.Unlock()
	if err := restoreFiles(cfg, dir, m); err != nil {
		return sum, err
	}
	bc := cfg.BrokerConfig()
	err = broker.RestoreLog(ctx, bc, logger, m.Topics, func(ts app.TopicSnapshot) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(ts.File)))
	})
	if err != nil {
		return sum, err
	}
	if err := copyInto(filepath.Join(dir, app.BackupStateName), cfg.StatePath()); err != nil {
		return sum, err
	}
	if sum.Topics, err = checkRestored(ctx, cfg, m, logger); err != nil {
		_ = os.Remove(cfg.StatePath())
		return sum, err
	}
	sum.Took = time.Since(start)
	return sum, nil
}

// refuseData returns ECONFLICT when the data directory holds apron data
// or the NATS credentials: a restore never mixes two nodes' data.
func refuseData(cfg Config) error {
	for _, name := range []string{"state.db", "log", "nats-credentials.json"} {
		if _, err := os.Stat(filepath.Join(cfg.Data, name)); err == nil {
			return app.Errorf(app.ECONFLICT, "data directory %s already holds apron data (%s); restore into a new or empty directory", cfg.AbsData(), name)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	return nil
}

// restoreFiles puts the node's keys of the backup in place.
func restoreFiles(cfg Config, dir string, m app.BackupManifest) error {
	bc := cfg.BrokerConfig()
	targets := map[string]string{
		"log/" + broker.SealKeyFile: filepath.Join(bc.Dir, broker.SealKeyFile),
		"nats-credentials.json":     bc.CredentialsFile,
	}
	for _, f := range m.Files {
		if to, ok := targets[f.Name]; ok {
			if err := copyInto(filepath.Join(dir, filepath.FromSlash(f.Name)), to); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyInto copies src to a new file dst (mode 0600) through a temporary
// file, synced and renamed, so that dst is whole or absent.
func copyInto(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	defer in.Close()
	tmp := dst + ".restore"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("restore %s: %w", dst, err)
	}
	return nil
}

// checkRestored opens the restored log and state store: every topic ends
// at the backup's offset and the state equals a rebuild from the log.
func checkRestored(ctx context.Context, cfg Config, m app.BackupManifest, logger *slog.Logger) ([]app.TopicInfo, error) {
	b, err := OpenLogOnly(cfg, logger)
	if err != nil {
		return nil, err
	}
	defer func() { _ = b.Close(context.Background()) }()
	var topics []app.TopicInfo
	for _, ts := range m.Topics {
		ti, err := b.Topic(ctx, ts.Topic)
		if err != nil {
			return nil, err
		}
		// Fewer events than when the snapshot began is right: compaction
		// and erasure may delete while it runs; the offsets stay.
		if ti.LastOffset != ts.LastOffset || ti.Messages > ts.Messages {
			return nil, app.Errorf(app.ECONFLICT, "restored topic %s ends at %d with %d events; the backup has %d with %d", ts.Topic, ti.LastOffset, ti.Messages, ts.LastOffset, ts.Messages)
		}
		topics = append(topics, ti)
	}
	st, err := OpenStoreOnly(cfg)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close(context.Background()) }()
	diff, err := CheckStore(ctx, b, st, filepath.Join(cfg.Data, "check.db"), b.Trusted)
	if err != nil {
		return nil, err
	}
	if len(diff) > 0 {
		return nil, app.Errorf(app.ECONFLICT, "restored state store differs from a rebuild: %v", diff)
	}
	return topics, nil
}
