package ui

import (
	"context"
	"mime/multipart"
	"net/http"

	"github.com/apron-edge/apron/app"
)

// Backuper writes an online backup of the node.
type Backuper interface {
	Write(ctx context.Context, mw *multipart.Writer) (app.BackupManifest, error)
}

// handleBackup streams an online backup (admin): a multipart/mixed body of
// the state store, every topic's snapshot, the node's keys and, last, the
// manifest. `apron backup DIR` reads it. A second backup while one runs
// gets 409; a failure after the first byte ends the stream with a part
// named "error" and no manifest.
func (s *Server) handleBackup(w http.ResponseWriter, r *http.Request) {
	if s.Backup == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "this node has no backup configured"))
		return
	}
	mw := multipart.NewWriter(w)
	w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	w.Header().Set("Cache-Control", "no-store")
	m, err := s.Backup.Write(r.Context(), mw)
	if app.ErrorCode(err) == app.ECONFLICT {
		w.Header().Del("Content-Type")
		s.writeError(w, r, err)
		return
	}
	if err != nil {
		s.Logger.Error("backup failed", "err", err)
		_ = mw.Close()
		return
	}
	if err := mw.Close(); err != nil {
		s.Logger.Warn("backup: the client went away", "err", err)
		return
	}
	s.Logger.Info("backup sent", "bytes", m.Bytes(), "took", m.Took, "by", principalOf(r).Name)
}
