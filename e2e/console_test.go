package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/apron-edge/apron/bench"
	"github.com/apron-edge/apron/node"
)

// addUser creates a console user through the log, as the admin page does.
func addUser(tb testing.TB, m *node.Main, name, role, password string) {
	tb.Helper()
	hash, err := app.HashPassword(password)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := m.Accounts.CreateUser(context.Background(), name, role, hash); err != nil {
		tb.Fatal(err)
	}
}

func tokenFor(tb testing.TB, m *node.Main, role string) string {
	tb.Helper()
	return namedToken(tb, m, role+"-client", role)
}

// namedToken creates an API token called name with role.
func namedToken(tb testing.TB, m *node.Main, name, role string) string {
	tb.Helper()
	tok := app.NewSecret("apron_")
	if _, err := m.Accounts.CreateToken(context.Background(), name, role, app.HashSecret(tok), time.Now()); err != nil {
		tb.Fatal(err)
	}
	return tok
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see them.
func browser(tb testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func login(tb testing.TB, c *http.Client, base, name, password string) *http.Response {
	tb.Helper()
	req, _ := http.NewRequest("POST", base+"/login", strings.NewReader(url.Values{"name": {name}, "password": {password}, "next": {"/admin"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestEveryRouteChecksTheRole(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	tokens := map[string]string{}
	for _, r := range app.Roles {
		tokens[r] = tokenFor(t, m, r)
	}
	routes := []struct {
		method, path, need string
	}{
		{"GET", "/", app.RoleViewer},
		{"GET", "/flights/LH400-2026-11-25", app.RoleViewer},
		{"GET", "/bookings/ABC123", app.RoleAgent},
		{"GET", "/passengers", app.RoleAgent},
		{"GET", "/passengers/P1", app.RoleAgent},
		{"GET", "/search?q=hotel", app.RoleAgent},
		{"GET", "/ask", app.RoleAgent},
		{"GET", "/documents/policy-care", app.RoleAgent},
		{"GET", "/admin", app.RoleAdmin},
		{"POST", "/admin/users", app.RoleAdmin},
		{"POST", "/admin/users/1", app.RoleAdmin},
		{"POST", "/admin/tokens", app.RoleAdmin},
		{"POST", "/admin/tokens/1/revoke", app.RoleAdmin},
		{"POST", "/api/v1/topics/flights/events", app.RoleAgent},
		{"GET", "/api/v1/topics", app.RoleViewer},
		{"GET", "/api/v1/cluster", app.RoleViewer},
		{"GET", "/api/v1/erasures", app.RoleAdmin},
		{"GET", "/api/v1/flights", app.RoleViewer},
		{"GET", "/api/v1/flights/LH400-2026-11-25", app.RoleViewer},
		{"GET", "/api/v1/bookings/ABC123", app.RoleAgent},
		{"GET", "/api/v1/passengers/P1", app.RoleAgent},
		{"GET", "/api/v1/ask/history", app.RoleAgent},
		{"GET", "/metrics", app.RoleViewer},
		{"GET", "/proposals", app.RoleAgent},
		{"GET", "/proposals/p-X", app.RoleAgent},
		{"POST", "/proposals/p-X/approve", app.RoleAgent},
		{"POST", "/proposals/p-X/reject", app.RoleAgent},
		{"GET", "/api/v1/proposals", app.RoleAgent},
		{"GET", "/api/v1/proposals/p-X", app.RoleAgent},
		{"POST", "/api/v1/proposals/p-X/approve", app.RoleAgent},
		{"POST", "/api/v1/flights/LH400-2026-11-25/proposals/approve", app.RoleSupervisor},
		{"POST", "/api/v1/proposals/p-X/reject", app.RoleAgent},
		{"POST", "/api/v1/admin/backup", app.RoleAdmin},
		{"POST", "/api/v1/admin/check", app.RoleAdmin},
	}
	rank := map[string]int{app.RoleViewer: 1, app.RoleAgent: 2, app.RoleSupervisor: 3, app.RoleAdmin: 4}
	c := browser(t)
	for _, rt := range routes {
		// Nobody: the API says 401, pages send to the login.
		req, _ := http.NewRequest(rt.method, base+rt.path, strings.NewReader(""))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		api := strings.HasPrefix(rt.path, "/api/") || rt.path == "/metrics"
		if api && resp.StatusCode != 401 || !api && (resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login")) {
			t.Errorf("%s %s anonymous: %d %s", rt.method, rt.path, resp.StatusCode, resp.Header.Get("Location"))
		}
		for _, role := range app.Roles {
			req, _ := http.NewRequest(rt.method, base+rt.path, strings.NewReader(""))
			req.Header.Set("Authorization", "Bearer "+tokens[role])
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			allowed := rank[role] >= rank[rt.need]
			if !allowed && resp.StatusCode != 403 {
				t.Errorf("%s %s as %s: %d, want 403", rt.method, rt.path, role, resp.StatusCode)
			}
			if allowed && (resp.StatusCode == 401 || resp.StatusCode == 403) {
				t.Errorf("%s %s as %s: %d, want access", rt.method, rt.path, role, resp.StatusCode)
			}
		}
	}
	// Health and readiness stay open for the container runtime.
	for _, p := range []string{"/healthz", "/readyz", "/static/apron.css"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", p, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
}

func TestLoginSessionsAndThrottling(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	addUser(t, m, "gate1", app.RoleAgent, "correct horse battery")
	c := browser(t)

	resp := login(t, c, base, "gate1", "wrong password!!")
	if resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp = login(t, c, base, "gate1", "correct horse battery")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "apron_session" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", cookie)
	}
	// The agent may see passengers but not the admin page.
	for path, want := range map[string]int{"/passengers?q=nobody": 200, "/admin": 403, "/": 200} {
		r, _ := c.Get(base + path)
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("%s: %d want %d", path, r.StatusCode, want)
		}
		if path == "/" && (!strings.Contains(string(body), "gate1 (agent)") || r.Header.Get("Content-Security-Policy") == "" || strings.Contains(r.Header.Get("Content-Security-Policy"), "unsafe-inline")) {
			t.Errorf("board page: csp %q", r.Header.Get("Content-Security-Policy"))
		}
	}
	// A new login rotates the session id; the old one is dead.
	resp = login(t, c, base, "gate1", "correct horse battery")
	var second *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "apron_session" {
			second = ck
		}
	}
	if second == nil || second.Value == cookie.Value {
		t.Fatal("session not rotated at login")
	}
	old := browser(t)
	u, _ := url.Parse(base)
	old.Jar.SetCookies(u, []*http.Cookie{{Name: "apron_session", Value: cookie.Value}})
	if r, _ := old.Get(base + "/"); r.StatusCode != 303 {
		t.Fatalf("old session still valid: %d", r.StatusCode)
	}
	// A cross-site form post is refused even with a valid session.
	req, _ := http.NewRequest("POST", base+"/logout", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r, _ := c.Do(req); r.StatusCode != 403 {
		t.Fatalf("cross-site post: %d", r.StatusCode)
	}
	// Logout ends the session.
	req, _ = http.NewRequest("POST", base+"/logout", nil)
	req.Header.Set("Origin", base)
	if r, _ := c.Do(req); r.StatusCode != 303 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r, _ := c.Get(base + "/"); r.StatusCode != 303 {
		t.Fatalf("after logout: %d", r.StatusCode)
	}
	// Five failures lock the name out, even with the right password.
	for i := 0; i < 5; i++ {
		login(t, browser(t), base, "gate1", "nope nope nope")
	}
	if r := login(t, browser(t), base, "gate1", "correct horse battery"); r.StatusCode != 429 {
		t.Fatalf("throttled login: %d", r.StatusCode)
	}
}

func TestAdminManagesUsersAndTokens(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	addUser(t, m, "boss", app.RoleAdmin, "a long admin password")
	c := browser(t)
	login(t, c, base, "boss", "a long admin password")
	form := func(path string, v url.Values) (int, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r.StatusCode, string(b)
	}
	// The admin page shows the model scheduler's classes.
	if r, err := c.Get(base + "/admin"); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		page := string(b)
		if r.StatusCode != 200 || !strings.Contains(page, `data-testid="model-queues"`) || !strings.Contains(page, "<td>interactive</td>") || !strings.Contains(page, "<td>background</td>") {
			t.Fatalf("admin page: %d, no model work table", r.StatusCode)
		}
	}
	if code, body := form("/admin/users", url.Values{"name": {"Bad Name"}, "role": {"agent"}, "password": {"x"}}); code != 400 || !strings.Contains(body, "name:") {
		t.Fatalf("bad user: %d", code)
	}
	if code, body := form("/admin/users", url.Values{"name": {"sup1"}, "role": {"supervisor"}, "password": {"twelve chars ok"}}); code != 200 || !strings.Contains(body, "Added sup1") {
		t.Fatalf("add user: %d", code)
	}
	code, body := form("/admin/tokens", url.Values{"name": {"scraper"}, "role": {"viewer"}})
	i := strings.Index(body, "apron_")
	if code != 200 || i < 0 {
		t.Fatalf("token: %d", code)
	}
	tok := body[i : i+len("apron_")+43]
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 200 {
		t.Fatalf("new token refused: %d", r.StatusCode)
	}
	tokens, _ := m.Store.Tokens(context.Background())
	var id string
	for _, tk := range tokens {
		if tk.Name == "scraper" {
			id = strconvI(tk.ID)
		}
	}
	if code, _ := form("/admin/tokens/"+id+"/revoke", nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 401 {
		t.Fatalf("revoked token still works: %d", r.StatusCode)
	}
	// An admin cannot lock themselves out.
	u, _, _ := m.Store.UserByName(context.Background(), "boss")
	if code, _ := form("/admin/users/"+strconvI(u.ID), url.Values{"role": {"viewer"}}); code != 409 {
		t.Fatalf("self-demotion: %d", code)
	}
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }

func TestBenchConsoleRuns(t *testing.T) {
	var out strings.Builder
	if err := bench.Console(context.Background(), t.TempDir(), &out, 20, 2); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"board over HTTP", "search page over HTTP (search + render)", "retriever search"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q: %s", want, out.String())
		}
	}
}

func TestConsoleOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
		"-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v %s", err, out)
	}
	m := MustRunMain(t, func(c *node.Config) { c.TLSCert, c.TLSKey = cert, key })
	if !strings.HasPrefix(m.HTTP.URL(), "https://") {
		t.Fatalf("url %s", m.HTTP.URL())
	}
	addUser(t, m, "tlsuser", app.RoleAgent, "a long enough password")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp := login(t, c, m.HTTP.URL(), "tlsuser", "a long enough password")
	var secure bool
	for _, ck := range resp.Cookies() {
		if ck.Name == "apron_session" {
			secure = ck.Secure
		}
	}
	if resp.StatusCode != 303 || !secure || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("login over TLS: %d secure=%v hsts=%q", resp.StatusCode, secure, resp.Header.Get("Strict-Transport-Security"))
	}
	if _, _, err := node.LoadConfig("serve", []string{"--config", writeFile(t, `{"tls_cert":"x.pem"}`)}); err == nil || !strings.Contains(err.Error(), "tls_cert") {
		t.Fatalf("half TLS config: %v", err)
	}
}

func writeFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "f.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLateEventDoesNotFlipTheBoardRow: an event older than what the state
// holds is consumed and ignored; open boards must keep showing the state,
// not the late event's content.
func TestLateEventDoesNotFlipTheBoardRow(t *testing.T) {
	m := MustRunMain(t)
	base := m.HTTP.URL()
	url := base + "/api/v1/topics/flights/events"
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	if code, body := post(t, url, flightJSON("late-1", "LH400-2026-11-25", "boarding", t0.Add(time.Hour))); code != 200 {
		t.Fatal(code, body)
	}
	waitCaughtUp(t, m, 10*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/board/live", nil)
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("board/live: %d", resp.StatusCode)
	}
	rows := make(chan string, 64)
	go func() {
		defer close(rows)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 1<<20), 4<<20)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "data: ") && strings.Contains(line, "-2026-11-25") {
				rows <- line
			}
		}
	}()
	// The late event (an hour older), then a marker on another flight.
	if code, body := post(t, url, flightJSON("late-0", "LH400-2026-11-25", "cancelled", t0)); code != 200 {
		t.Fatal(code, body)
	}
	if code, body := post(t, url, flightJSON("marker", "LH402-2026-11-25", "scheduled", t0)); code != 200 {
		t.Fatal(code, body)
	}
	for row := range rows {
		if strings.Contains(row, "LH400") && strings.Contains(strings.ToLower(row), "cancelled") {
			t.Fatalf("the board shows the late event the state ignored: %s", row)
		}
		if strings.Contains(row, "LH402") {
			f, err := m.Store.Flight(context.Background(), "LH400-2026-11-25")
			if err != nil || f.Status != "boarding" {
				t.Fatalf("state: %+v %v", f, err)
			}
			return
		}
	}
	t.Fatal("no row for the marker flight arrived")
}
