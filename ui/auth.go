package ui

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

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
	now := s.wallNow()
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		p, err := s.Auth.TokenPrincipal(r.Context(), app.HashSecret(strings.TrimPrefix(h, "Bearer ")), now)
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

// wallNow is real time, even when the console shows a simulated clock.
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

// throttle limits failed logins per user name and per client address.
type throttle struct {
	mu       sync.Mutex
	failures map[string][]time.Time
}

const (
	throttleWindow = 15 * time.Minute
	throttleMax    = 5
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
	for _, k := range keys {
		kept := t.failures[k][:0]
		for _, at := range t.failures[k] {
			if now.Sub(at) < throttleWindow {
				kept = append(kept, at)
			}
		}
		t.failures[k] = append(kept, now)
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

// safeNext keeps redirects after login on this site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, LoginPage(LoginView{Next: safeNext(r.URL.Query().Get("next"))}))
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, LoginPage(LoginView{Error: "The form could not be read."}))
		return
	}
	name, password, next := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	keys := []string{"user:" + name, "ip:" + clientIP(r)}
	now := s.wallNow()
	if s.throttle.blocked(keys, now) {
		s.render(w, r, http.StatusTooManyRequests, LoginPage(LoginView{Name: name, Next: next, Error: "Too many failed attempts. Wait 15 minutes or ask a site admin."}))
		return
	}
	u, hash, err := s.Auth.UserByName(r.Context(), name)
	if err != nil || u.Disabled || !app.CheckPassword(password, hash) {
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

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		_ = s.Auth.DeleteSession(r.Context(), app.HashSecret(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.TLS, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
