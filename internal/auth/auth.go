// Package auth issues and verifies the HS256 bearer tokens roster accepts.
//
// The algorithm is pinned: a token is accepted only when its header says
// HS256 and its signature matches the shared secret, so "alg: none" and
// public-key algorithms (the classic key-confusion attacks) are refused
// before any claim is read.
package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretLength is the shortest secret accepted: 256 bits, the size of
// the HMAC-SHA256 key (RFC 7518 §3.2).
const MinSecretLength = 32

// DefaultLeeway tolerates clock skew between the issuer and this server
// when checking exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// ErrInvalidToken matches every rejected token (errors.Is). The error is a
// *TokenError: its Reason is coarse enough to tell a client (RFC 6750
// error_description), and the wrapped cause is for logs.
var ErrInvalidToken = errors.New("invalid token")

// Reason says, in words fit for a client, why a token was refused.
type Reason string

// The reasons a token is refused.
const (
	ReasonMalformed   Reason = "The access token is malformed"
	ReasonSignature   Reason = "The access token signature or algorithm is invalid"
	ReasonExpired     Reason = "The access token expired"
	ReasonNotYetValid Reason = "The access token is not valid yet"
	ReasonClaims      Reason = "The access token claims are invalid"
	ReasonUnsupported Reason = "The access token uses an unsupported extension"
)

// TokenError is why Verify refused a token.
type TokenError struct {
	Reason Reason
	Err    error // the cause, for logs
}

func (e *TokenError) Error() string { return fmt.Sprintf("invalid token: %v", e.Err) }

func (e *TokenError) Unwrap() error { return e.Err }

// Is makes every TokenError match ErrInvalidToken.
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

// errCrit refuses any "crit" header: it lists extensions the recipient
// must understand or reject the token (RFC 7515 §4.1.11), and this
// server understands none.
var errCrit = errors.New(`"crit" header: no extensions are supported`)

// invalid classifies a parser error; the specific causes are tested first
// because golang-jwt joins them under ErrTokenInvalidClaims.
func invalid(err error) *TokenError {
	r := ReasonClaims
	switch {
	case errors.Is(err, errCrit):
		r = ReasonUnsupported
	case errors.Is(err, jwt.ErrTokenMalformed):
		r = ReasonMalformed
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		r = ReasonSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		r = ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		r = ReasonNotYetValid
	}
	return &TokenError{Reason: r, Err: err}
}

// Config configures an Authority.
type Config struct {
	Secret   []byte
	Issuer   string        // when set, issued tokens carry it and verified ones must
	Audience string        // likewise for aud
	Leeway   time.Duration // zero means DefaultLeeway
	Now      func() time.Time
}

// Claims are what a verified token tells about its bearer.
type Claims struct {
	Subject string
	Roles   []string
	// Expires is when Verify starts refusing the token: its exp plus the
	// leeway. Long-lived uses of one verification (event streams) end
	// then. Zero for a token without exp.
	Expires time.Time
}

// Authority issues and verifies tokens with one secret.
type Authority struct {
	secret   []byte
	issuer   string
	audience string
	now      func() time.Time
	leeway   time.Duration
	parser   *jwt.Parser

	// verified remembers tokens that passed Verify. Clients send the same
	// token on every request, and parsing it (base64, JSON by reflection,
	// HMAC) was the largest cost of the HTTP layer. The key is the whole
	// token, signature included, so only a byte-identical token hits;
	// expiry is checked again on every hit.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

// verifiedCacheSize bounds the cache: a few hundred kilobytes at most.
const verifiedCacheSize = 4096

type verifiedToken struct {
	claims  Claims
	expires time.Time
}

// New checks the configuration and returns an Authority.
func New(cfg Config) (*Authority, error) {
	if len(cfg.Secret) < MinSecretLength {
		return nil, fmt.Errorf("JWT secret must be at least %d bytes, got %d", MinSecretLength, len(cfg.Secret))
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &Authority{
		secret:   append([]byte(nil), cfg.Secret...),
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		now:      cfg.Now,
		leeway:   cfg.Leeway,
		parser:   jwt.NewParser(opts...),
		verified: make(map[string]verifiedToken),
	}, nil
}

// tokenClaims is the wire form: the registered claims plus roles. The
// time claims shadow RegisteredClaims' own (a shallower JSON name wins),
// because jwt.NumericDate also accepts a string of digits.
type tokenClaims struct {
	jwt.RegisteredClaims
	ExpiresAt *numericDate `json:"exp,omitempty"`
	NotBefore *numericDate `json:"nbf,omitempty"`
	IssuedAt  *numericDate `json:"iat,omitempty"`
	Roles     []string     `json:"roles,omitempty"`
}

func (c tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c tokenClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }

// numericDate is a NumericDate that must be a JSON number (RFC 7519 §2).
type numericDate struct{ jwt.NumericDate }

func newNumericDate(t time.Time) *numericDate { return &numericDate{*jwt.NewNumericDate(t)} }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	// The decoder has checked the syntax, so a leading digit or minus
	// sign means a number.
	if len(b) == 0 || b[0] != '-' && (b[0] < '0' || b[0] > '9') {
		return fmt.Errorf("time claim %s is not a number", b)
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// Issue signs a token for subject with roles, valid for ttl from now.
func (a *Authority) Issue(subject string, roles []string, ttl time.Duration) (string, error) {
	if subject == "" {
		return "", errors.New("token subject must not be empty")
	}
	if ttl <= 0 {
		return "", fmt.Errorf("token lifetime must be positive, got %s", ttl)
	}
	now := a.now().Truncate(time.Second)
	c := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: subject, Issuer: a.issuer},
		IssuedAt:         newNumericDate(now),
		NotBefore:        newNumericDate(now),
		ExpiresAt:        newNumericDate(now.Add(ttl)),
		Roles:            roles,
	}
	if a.audience != "" {
		c.Audience = jwt.ClaimStrings{a.audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.secret)
}

// Verify checks the token's signature and time claims and returns its
// claims. Every failure is a *TokenError, which matches ErrInvalidToken.
func (a *Authority) Verify(token string) (Claims, error) {
	now := a.now()
	a.mu.Lock()
	v, ok := a.verified[token]
	a.mu.Unlock()
	if ok && !now.After(v.expires.Add(a.leeway)) {
		return v.claims, nil
	}
	var c tokenClaims
	_, err := a.parser.ParseWithClaims(token, &c, a.key)
	if err != nil {
		return Claims{}, invalid(err)
	}
	if c.Subject == "" {
		return Claims{}, &TokenError{Reason: ReasonClaims, Err: errors.New("no subject")}
	}
	claims := Claims{Subject: c.Subject, Roles: c.Roles}
	if c.ExpiresAt != nil {
		claims.Expires = c.ExpiresAt.Add(a.leeway)
	}
	a.mu.Lock()
	if len(a.verified) >= verifiedCacheSize {
		for k := range a.verified { // evict one arbitrary entry
			delete(a.verified, k)
			break
		}
	}
	a.verified[token] = verifiedToken{claims: claims, expires: c.ExpiresAt.Time}
	a.mu.Unlock()
	return claims, nil
}

// key returns the secret for a token whose header passes the checks the
// parser does not make.
func (a *Authority) key(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCrit
	}
	return a.secret, nil
}

// GenerateSecret returns a random secret of MinSecretLength bytes,
// base64url-encoded, for development runs without JWT_SECRET.
func GenerateSecret() (string, error) {
	b := make([]byte, MinSecretLength)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
