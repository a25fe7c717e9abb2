package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/apron-edge/apron/app"
)

// Asker answers staff questions.
type Asker interface {
	Ask(ctx context.Context, req app.AskRequest, emit func(app.AskUpdate)) (app.AskAnswer, error)
}

// handleAsk answers a question: as server-sent events when the client
// accepts text/event-stream ("freshness" first, then "sources", the
// "answer", a validated "summary" when the model gives one, and "done"
// with the whole answer), else as one JSON answer.
func (s *Server) handleAsk(w http.ResponseWriter, r *http.Request) {
	if s.Asker == nil {
		s.writeError(w, r, app.Errorf(app.EUNAVAILABLE, "questions need the chat and embedding models: set ollama.url"))
		return
	}
	var req app.AskRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		s.writeError(w, r, app.Errorf(app.EINVALID, "body: want JSON {\"question\": \"...\", \"flight\", \"booking\", \"airport\"}: %v", err))
		return
	}
	if err := req.Validate(); err != nil {
		s.writeError(w, r, err)
		return
	}
	fl, stream := w.(http.Flusher)
	stream = stream && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if !stream {
		ans, err := s.Asker.Ask(r.Context(), req, nil)
		s.recordAsk(r, req, ans, err)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, ans)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) {
		writeSSE(w, event, data)
		fl.Flush()
	}
	ans, err := s.Asker.Ask(r.Context(), req, func(u app.AskUpdate) {
		if u.Event == "token" {
			send("token", u.Token)
			return
		}
		b, _ := json.Marshal(u.Answer)
		send(u.Event, string(b))
	})
	s.recordAsk(r, req, ans, err)
	if err != nil {
		b, _ := json.Marshal(errorBody{Error: app.ErrorMessage(err), Code: app.ErrorCode(err)})
		send("error", string(b))
		return
	}
	b, _ := json.Marshal(ans)
	send("done", string(b))
}

func (s *Server) handleAskPage(w http.ResponseWriter, r *http.Request) {
	v := AskView{Chrome: s.chrome(r.Context(), principalOf(r)), Available: s.Asker != nil, Airport: s.Hub}
	// ?part=history is the history section alone: the page fetches it
	// after an answer, so the question just asked shows at the top. Its
	// "older" link is the page's own.
	q := r.URL.Query()
	part := q.Get("part")
	if part != "" && part != "history" {
		s.pageError(w, r, app.Errorf(app.EINVALID, "part: want \"history\" or nothing, got %q", part))
		return
	}
	if part != "" {
		q.Del("part")
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
	}
	if err := s.askHistoryView(r, &v); err != nil {
		s.pageError(w, r, err)
		return
	}
	if part == "history" {
		if !v.HasHistory {
			http.NotFound(w, r)
			return
		}
		s.render(w, r, http.StatusOK, askHistory(v))
		return
	}
	s.render(w, r, http.StatusOK, AskPage(v))
}
