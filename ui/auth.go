package ui

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/apron-edge/apron/app"
)

const sessionCookie = "apron_session"

type ctxKey int

const principalKey ctxKey = 1

// principalOf returns the authenticated principal of a request, or nil.
func principalOf(r *http.Request) *app.Principal { return principalFromContext(r.Context()) }

func principalFromContext(ctx context.Context) *app.Principal {
	p, _ := ctx.Value(principalKey).(*app.Principal)
	return p
}

// authenticate resolves the session cookie or the bearer token.
func (s *Server) authenticate(r *http.Request) *app.Principal {
	if s.Auth == nil {
		return nil
	}
	// A token's last use is shown on the admin page beside everything
	// else the node's clock stamps; a session's expiry runs on real time,
	// so a fast simulated clock does not log people out.
	now := s.wallNow()
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		p, err := s.Auth.TokenPrincipal(r.Context(), app.HashSecret(strings.TrimPrefix(h, "Bearer ")), s.Now())
		if err != nil {
			return nil
		}
		return p
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	p, err := s.Auth.SessionPrincipal(r.Context(), app.HashSecret(c.Value), now, s.SessionIdle, s.SessionMax)
	if err != nil {
		return nil
	}
	return p
}

// wallNow is real time, even when the console shows a simulated clock:
// for session expiry and login throttling, which protect people, not
// record what happened.
func (s *Server) wallNow() time.Time { return time.Now() }

// require wraps h so that it runs only for a principal with at least role.
// The JSON API answers 401/403; pages redirect to the login or show 403.
func (s *Server) require(role string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.authenticate(r)
		api := strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics"
		if p == nil {
			if api {
				w.Header().Set("WWW-Authenticate", `Bearer realm="apron"`)
				writeJSON(w, http.StatusUnauthorized, errorBody{Error: "log in or send an API token (Authorization: Bearer ...)", Code: "unauthorized"})
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if !p.Can(role) {
			if api {
				writeJSON(w, http.StatusForbidden, errorBody{Error: "this needs the " + role + " role; you have " + p.Role, Code: "forbidden"})
				return
			}
			s.renderError(w, r, p, http.StatusForbidden, "Not allowed", "This page needs the "+role+" role; you are signed in as "+p.Name+" ("+p.Role+"). Ask a site admin if you need it.")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	}
}

// throttle limits failed logins per user name and per client address. It
// holds at most throttleKeys keys: when full, expired entries go first,
// then the oldest, so a flood of names cannot grow it without bound.
type throttle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

const (
	throttleWindow = 15 * time.Minute
	throttleMax    = 5
	throttleKeys   = 10000
	// maxUserName bounds a login name before it is logged, looked up or
	// remembered by the throttle.
	maxUserName = 128
)

func (t *throttle) blocked(keys []string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		n := 0
		for _, at := range t.failures[k] {
			if now.Sub(at) < throttleWindow {
				n++
			}
		}
		if n >= throttleMax {
			return true
		}
	}
	return false
}

func (t *throttle) fail(keys []string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures == nil {
		t.failures = map[string][]time.Time{}
	}
	if len(t.failures)+len(keys) > throttleKeys {
		t.evict(now)
	}
	for _, k := range keys {
		kept := t.failures[k][:0]
		for _, at := range t.failures[k] {
			if now.Sub(at) < throttleWindow {
				kept = append(kept, at)
			}
		}
		kept = append(kept, now)
		if len(kept) > throttleMax {
			// blocked needs no more than the latest throttleMax.
			kept = append(kept[:0], kept[len(kept)-throttleMax:]...)
		}
		t.failures[k] = kept
	}
}

// evict drops expired keys and, if that is not enough, the quarter that
// failed least recently, so that a flood costs O(log n) per failure.
func (t *throttle) evict(now time.Time) {
	type entry struct {
		key  string
		last time.Time
	}
	live := make([]entry, 0, len(t.failures))
	for k, ats := range t.failures {
		last := ats[len(ats)-1]
		if now.Sub(last) >= throttleWindow {
			delete(t.failures, k)
			continue
		}
		live = append(live, entry{k, last})
	}
	if len(live) < throttleKeys*3/4 {
		return
	}
	sort.Slice(live, func(i, j int) bool { return live[i].last.Before(live[j].last) })
	for _, e := range live[:len(live)/4] {
		delete(t.failures, e.key)
	}
}

func (t *throttle) reset(keys []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		delete(t.failures, k)
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeNext keeps redirects after login on this site: a path that starts
// with exactly one "/" and, once decoded, holds no backslash or control
// character (browsers drop tabs and newlines, so "/\t/host" is "//host").
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, s := range []string{next, decoded(next)} {
		for _, r := range s {
			if r < ' ' || r == 0x7f || r == '\\' {
				return "/"
			}
		}
		if strings.HasPrefix(s, "//") {
			return "/"
		}
	}
	return next
}

func decoded(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return "//" // undecodable: refused
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, LoginPage(LoginView{Next: safeNext(r.URL.Query().Get("next"))}))
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10) // a login form is small
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, LoginPage(LoginView{Error: "The form could not be read."}))
		return
	}
	name, password, next := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	if len(name) > maxUserName || !utf8.ValidString(name) {
		s.render(w, r, http.StatusBadRequest, LoginPage(LoginView{Next: next, Error: fmt.Sprintf("A user name has at most %d characters.", maxUserName)}))
		return
	}
	keys := []string{"user:" + name, "ip:" + clientIP(r)}
	now := s.wallNow()
	if s.throttle.blocked(keys, now) {
		s.render(w, r, http.StatusTooManyRequests, LoginPage(LoginView{Name: name, Next: next, Error: "Too many failed attempts. Wait 15 minutes or ask a site admin."}))
		return
	}
	u, hash, err := s.Auth.UserByName(r.Context(), name)
	if err != nil {
		// An unknown name costs what a wrong password costs, so timing
		// does not tell which names exist.
		hash = dummyHash()
	}
	if ok := app.CheckPassword(password, hash); err != nil || u.Disabled || !ok {
		s.throttle.fail(keys, now)
		s.Logger.Warn("login failed", "name", name, "ip", clientIP(r))
		s.render(w, r, http.StatusUnauthorized, LoginPage(LoginView{Name: name, Next: next, Error: "Wrong name or password."}))
		return
	}
	s.throttle.reset(keys)
	// A new session id at every login: a planted cookie is worthless.
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = s.Auth.DeleteSession(r.Context(), app.HashSecret(c.Value))
	}
	sid := app.NewSecret("")
	if err := s.Auth.CreateSession(r.Context(), app.HashSecret(sid), u.ID, now); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteStrictMode, MaxAge: int(s.SessionMax.Seconds())})
	s.Logger.Info("login", "name", u.Name, "role", u.Role)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

var (
	dummyOnce sync.Once
	dummy     string
)

// dummyHash is a password hash of nothing anyone knows, made once.
func dummyHash() string {
	dummyOnce.Do(func() { dummy, _ = app.HashPassword(app.NewSecret("")) })
	return dummy
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = s.Auth.DeleteSession(r.Context(), app.HashSecret(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
