package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"time"

	"github.com/alexedwards/argon2id"
)

// Roles, from least to most privileged. A role may do everything the roles
// before it may.
const (
	RoleViewer     = "viewer"
	RoleAgent      = "agent"
	RoleSupervisor = "supervisor"
	RoleAdmin      = "admin"
)

var roleRank = map[string]int{RoleViewer: 1, RoleAgent: 2, RoleSupervisor: 3, RoleAdmin: 4}

// Roles lists the roles in order of privilege.
var Roles = []string{RoleViewer, RoleAgent, RoleSupervisor, RoleAdmin}

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return roleRank[r] > 0 }

// RoleAtLeast reports whether have grants what need requires.
func RoleAtLeast(have, need string) bool {
	return roleRank[have] > 0 && roleRank[have] >= roleRank[need]
}

// User is a local account of the console.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

// Principal is who makes a request: a person by session or a machine by
// API token.
type Principal struct {
	UserID  int64
	Name    string
	Role    string
	TokenID int64 // set for API tokens
	Session *Session
}

// Can reports whether the principal has at least role need.
func (p *Principal) Can(need string) bool { return p != nil && RoleAtLeast(p.Role, need) }

// Session is a logged-in browser.
type Session struct {
	ID        string // hash of the cookie value
	UserID    int64
	CreatedAt time.Time
	LastSeen  time.Time
}

// APIToken is a machine client's credential, scoped to a role.
type APIToken struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
}

// AuthStore keeps users, sessions and tokens. Secrets are stored hashed.
type AuthStore interface {
	CreateUser(ctx context.Context, name, role, passwordHash string) (*User, error)
	UserByName(ctx context.Context, name string) (*User, string, error) // user and password hash
	Users(ctx context.Context) ([]*User, error)
	SetUserRole(ctx context.Context, id int64, role string, disabled bool) error
	SetPassword(ctx context.Context, id int64, passwordHash string) error
	CountUsers(ctx context.Context) (int, error)

	CreateSession(ctx context.Context, idHash string, userID int64, now time.Time) error
	SessionPrincipal(ctx context.Context, idHash string, now time.Time, idle, absolute time.Duration) (*Principal, error)
	DeleteSession(ctx context.Context, idHash string) error

	CreateToken(ctx context.Context, name, role, hash string, now time.Time) (*APIToken, error)
	TokenPrincipal(ctx context.Context, hash string, now time.Time) (*Principal, error)
	Tokens(ctx context.Context) ([]*APIToken, error)
	RevokeToken(ctx context.Context, id int64, now time.Time) error
}

var reUserName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,63}$`)

// ValidateUser checks a new user's fields; the error names the field.
func ValidateUser(name, role, password string) error {
	if !reUserName.MatchString(name) {
		return Errorf(EINVALID, "name: 2 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	if !ValidRole(role) {
		return Errorf(EINVALID, "role: must be one of viewer, agent, supervisor, admin; got %q", role)
	}
	if len(password) < 12 {
		return Errorf(EINVALID, "password: must be at least 12 characters")
	}
	if len(password) > 256 {
		return Errorf(EINVALID, "password: must be at most 256 characters")
	}
	return nil
}

// argonParams follow the RFC 9106 second recommendation, sized for a
// small edge machine: 64 MiB, 1 pass, 2 lanes.
var argonParams = &argon2id.Params{Memory: 64 * 1024, Iterations: 1, Parallelism: 2, SaltLength: 16, KeyLength: 32}

// HashPassword returns an encoded Argon2id hash of password.
func HashPassword(password string) (string, error) {
	return argon2id.CreateHash(password, argonParams)
}

// CheckPassword reports whether password matches the encoded hash.
func CheckPassword(password, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}

// NewSecret returns a random URL-safe secret with the given prefix.
func NewSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret hashes a high-entropy secret (session id, API token) for
// storage; these need no slow hash, unlike passwords.
func HashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
