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

// ErrInvalidToken is returned for every rejected token. The cause is
// wrapped for logs but callers answer the same way whatever it is, so a
// client learns nothing about why its token failed.
var ErrInvalidToken = errors.New("invalid token")

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

// tokenClaims is the wire form: the registered claims plus roles.
type tokenClaims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
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
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			Issuer:    a.issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Roles: roles,
	}
	if a.audience != "" {
		c.Audience = jwt.ClaimStrings{a.audience}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.secret)
}

// Verify checks the token's signature and time claims and returns its
// claims. Every failure wraps ErrInvalidToken.
func (a *Authority) Verify(token string) (Claims, error) {
	now := a.now()
	a.mu.Lock()
	v, ok := a.verified[token]
	a.mu.Unlock()
	if ok && !now.After(v.expires.Add(a.leeway)) {
		return v.claims, nil
	}
	var c tokenClaims
	_, err := a.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil })
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
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

// GenerateSecret returns a random secret of MinSecretLength bytes,
// base64url-encoded, for development runs without JWT_SECRET.
func GenerateSecret() (string, error) {
	b := make([]byte, MinSecretLength)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
