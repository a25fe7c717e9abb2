// Package ui owns HTTP: the JSON API, the health and metrics endpoints and
// the server-rendered console.
package ui

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/apron-edge/apron/app"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// EventLog is what the HTTP layer needs from the log.
type EventLog interface {
	Append(ctx context.Context, topic string, events []*app.Event) ([]app.AppendResult, error)
	Topics(ctx context.Context) ([]app.TopicInfo, error)
}

// StateReader is what the HTTP layer needs from the state store.
type StateReader interface {
	Flight(ctx context.Context, key string) (*app.FlightRecord, error)
	Flights(ctx context.Context, f app.FlightFilter) ([]*app.FlightRecord, error)
	Booking(ctx context.Context, locator string) (*app.BookingRecord, error)
	BookingsOnFlight(ctx context.Context, flightKey string) ([]*app.BookingRecord, error)
	BookingsOfPassenger(ctx context.Context, id string) ([]*app.BookingRecord, error)
	Passenger(ctx context.Context, id string) (*app.PassengerRecord, error)
	FlightLoad(ctx context.Context, keys []string) (map[string]int, error)
	Positions(ctx context.Context) ([]app.ConsumerPosition, error)
}

// FreshnessSource measures how far each consumer is behind the log.
type FreshnessSource interface {
	All(ctx context.Context) ([]app.Freshness, error)
}

// ModelQueues reports the model scheduler's counters per class.
type ModelQueues interface {
	Stats() []app.ClassStats
}

// Server serves the API and the console.
type Server struct {
	Addr         string
	Log          EventLog
	State        StateReader
	Validator    *app.Validator
	Logger       *slog.Logger
	Now          func() time.Time
	MaxBodyBytes int64
	Hub          string          // airport whose board the console shows
	Rebooking    app.RebookRules // the rules in force, shown on the admin page
	Zone         *time.Location
	// Ready reports whether the node serves traffic (stages caught up).
	Ready func(ctx context.Context) error

	// Link reports the central Kafka link: a view for the console and a
	// JSON body for the API (nil: no bridge).
	// full asks for the inbound lag too, a round trip to the cluster.
	Link func(ctx context.Context, full bool) (LinkState, any)
	// Cluster reports the node's cluster: peers, topic leaders and who
	// runs each singleton.
	Cluster func(ctx context.Context) ClusterState
	// Models reports the configured models and the index's models.
	Models func(ctx context.Context) []ModelRow
	// Asker answers staff questions.
	Asker Asker
	// History keeps every question asked and its answer (nil: none kept).
	History app.AskHistory
	// Fresh measures every consumer's freshness (nil: none shown).
	Fresh FreshnessSource
	// Sched reports the model scheduler's queues (nil: none).
	Sched ModelQueues
	// Search runs hybrid retrieval (nil: no embedding model).
	Search Searcher
	// Proposals serves rebooking proposals and approvals (nil: none).
	Proposals Proposals
	// Erasures reports passenger erasures (nil: none shown).
	Erasures ErasureLister
	// Backup writes online backups (nil: none).
	Backup Backuper
	// Check compares the state store with a rebuild from the log (nil:
	// none).
	Check StateChecker
	// Auth keeps users, sessions and API tokens.
	Auth        app.AuthStore
	SessionIdle time.Duration // a session ends after this long unused
	SessionMax  time.Duration // and after this long in any case
	TLS         bool          // cookies are Secure when served over TLS
	// TLSCert and TLSKey, when set, serve HTTPS (and set TLS).
	TLSCert, TLSKey string

	Registry *prometheus.Registry
	Updates  *Hub

	ln  net.Listener
	srv *http.Server
	// opened is set once Open has set the defaults: the stages call the
	// listeners below from their own goroutines, and may start first.
	opened   atomic.Bool
	metrics  *metrics
	throttle throttle
}

// Open starts listening. Addr may use port 0; URL reports the real one.
func (s *Server) Open() error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	s.Logger = s.Logger.With("subsystem", "http")
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Validator == nil {
		s.Validator = app.DefaultValidator()
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 16 << 20
	}
	if s.Zone == nil {
		s.Zone = time.UTC
	}
	if s.Updates == nil {
		s.Updates = NewHub()
	}
	if s.SessionIdle == 0 {
		s.SessionIdle = 30 * time.Minute
	}
	if s.SessionMax == 0 {
		s.SessionMax = 12 * time.Hour
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
		s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s.metrics = newMetrics(s)
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return app.Errorf(app.EUNAVAILABLE, "http listen on %s: %v", s.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if s.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey)
		if err != nil {
			_ = ln.Close()
			return app.Errorf(app.EINVALID, "tls_cert: %v", err)
		}
		s.TLS = true
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.ln = tls.NewListener(ln, s.srv.TLSConfig)
	}
	s.opened.Store(true)
	go func() {
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http serve", "err", err)
		}
	}()
	return nil
}

// URL returns the base URL the server listens on.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	if s.TLS {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops accepting requests and waits for in-flight ones until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	if s.Updates != nil {
		s.Updates.Close()
	}
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

// Handler returns the routes. Every route but health, readiness, the login
// and static assets checks the caller's role, the JSON API included.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	viewer, agent, admin := app.RoleViewer, app.RoleAgent, app.RoleAdmin

	// JSON API.
	mux.HandleFunc("POST /api/v1/topics/{topic}/events", s.require(agent, s.handleIngest))
	mux.HandleFunc("GET /api/v1/topics", s.require(viewer, s.handleTopics))
	mux.HandleFunc("GET /api/v1/erasures", s.require(admin, s.handleErasures))
	mux.HandleFunc("GET /api/v1/bridge", s.require(viewer, s.handleBridge))
	mux.HandleFunc("GET /api/v1/cluster", s.require(viewer, s.handleCluster))
	mux.HandleFunc("GET /api/v1/search", s.require(agent, s.handleSearch))
	mux.HandleFunc("POST /api/v1/ask", s.require(agent, s.handleAsk))
	mux.HandleFunc("GET /api/v1/ask/history", s.require(agent, s.handleAskHistory))
	mux.HandleFunc("GET /ask", s.require(agent, s.handleAskPage))
	mux.HandleFunc("GET /api/v1/flights", s.require(viewer, s.handleFlights))
	mux.HandleFunc("GET /api/v1/flights/{id}", s.require(viewer, s.handleFlight))
	mux.HandleFunc("GET /api/v1/bookings/{locator}", s.require(agent, s.handleBooking))
	mux.HandleFunc("GET /api/v1/passengers/{id}", s.require(agent, s.handlePassenger))
	mux.HandleFunc("POST /api/v1/admin/backup", s.require(admin, s.handleBackup))
	mux.HandleFunc("POST /api/v1/admin/check", s.require(admin, s.handleCheck))
	if s.Proposals != nil {
		mux.HandleFunc("GET /api/v1/proposals", s.require(agent, s.handleProposalsAPI))
		mux.HandleFunc("GET /api/v1/proposals/{id}", s.require(agent, s.handleProposalAPI))
		mux.HandleFunc("POST /api/v1/proposals/{id}/approve", s.require(agent, s.handleApproveAPI))
		mux.HandleFunc("POST /api/v1/proposals/{id}/reject", s.require(agent, s.handleRejectAPI))
		mux.HandleFunc("POST /api/v1/flights/{key}/proposals/approve", s.require(app.RoleSupervisor, s.handleApproveFlightAPI))
		mux.HandleFunc("GET /proposals", s.require(agent, s.handleProposalsPage))
		mux.HandleFunc("GET /proposals/{id}", s.require(agent, s.handleProposalPage))
		mux.HandleFunc("POST /proposals/{id}/approve", s.require(agent, s.handleApprovePage))
		mux.HandleFunc("POST /proposals/{id}/reject", s.require(agent, s.handleRejectPage))
	}
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.require(viewer, promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry}).ServeHTTP))

	// Console.
	mux.HandleFunc("GET /login", s.handleLoginForm)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.HandleFunc("GET /{$}", s.require(viewer, s.handleBoard))
	mux.HandleFunc("GET /board/live", s.require(viewer, s.handleBoardLive))
	mux.HandleFunc("GET /flights/{id}", s.require(viewer, s.handleFlightPage))
	mux.HandleFunc("GET /bookings/{locator}", s.require(agent, s.handleBookingPage))
	mux.HandleFunc("GET /passengers", s.require(agent, s.handlePassengersPage))
	mux.HandleFunc("GET /passengers/{id}", s.require(agent, s.handlePassengerPage))
	mux.HandleFunc("GET /search", s.require(agent, s.handleSearchPage))
	mux.HandleFunc("GET /documents/{id}", s.require(agent, s.handleDocumentPage))
	mux.HandleFunc("GET /admin", s.require(admin, s.handleAdmin))
	mux.HandleFunc("POST /admin/users", s.require(admin, s.handleAddUser))
	mux.HandleFunc("POST /admin/users/{id}", s.require(admin, s.handleUpdateUser))
	mux.HandleFunc("POST /admin/tokens", s.require(admin, s.handleAddToken))
	mux.HandleFunc("POST /admin/tokens/{id}/revoke", s.require(admin, s.handleRevokeToken))
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	mux.HandleFunc("/", s.require(viewer, func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, principalOf(r), http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
	}))

	// Browsers send Sec-Fetch-Site or Origin; a cross-site POST is refused.
	// Machine clients with a bearer token send neither and pass.
	csrf := http.NewCrossOriginProtection()
	return s.securityHeaders(csrf.Handler(mux))
}

func (s *Server) securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("X-Frame-Options", "DENY")
		if s.TLS {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.ServeHTTP(w, r)
	})
}

// errorStatus maps application error codes to HTTP statuses.
func errorStatus(code string) int {
	switch code {
	case app.EINVALID:
		return http.StatusBadRequest
	case app.ENOTFOUND:
		return http.StatusNotFound
	case app.ECONFLICT:
		return http.StatusConflict
	case app.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case app.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case app.ENOSPACE:
		return http.StatusInsufficientStorage
	case app.EFORBIDDEN:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error  string          `json:"error"`
	Code   string          `json:"code"`
	Errors []app.LineError `json:"errors,omitempty"`
}

// writeError answers with the error's status; internal details are logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := app.ErrorCode(err)
	if code == app.EINTERNAL {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, errorStatus(code), errorBody{Error: app.ErrorMessage(err), Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONIndent(w, status, v, "  ")
}

// writeJSONCompact writes v on one line, for bodies made for programs
// that can be long: an ingest's result per event (indenting them was 1%
// of the node's CPU at full rate).
func writeJSONCompact(w http.ResponseWriter, status int, v any) {
	writeJSONIndent(w, status, v, "")
}

func writeJSONIndent(w http.ResponseWriter, status int, v any, indent string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	_ = enc.Encode(v)
}
