//go:build !fuzzing

package httpapi_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/roster"
)

// signHS256 signs claims with the suite's secret, bypassing auth.Issue so
// that tests can build tokens it would refuse to make.
func signHS256(t *testing.T, claims jwt.MapClaims, secret []byte) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return tok
}

func TestAuth(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		self := h.createUser("Self", "self@example.com")
		other := h.createUser("Other", "other@example.com")
		selfToken := h.token(self.ID.String(), "user")
		now := time.Now()
		valid := func(extra jwt.MapClaims) jwt.MapClaims {
			c := jwt.MapClaims{"sub": "admin-1", "roles": []string{"admin"}, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
			for k, v := range extra {
				if v == nil {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			return c
		}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rs256, err := jwt.NewWithClaims(jwt.SigningMethodRS256, valid(nil)).SignedString(rsaKey)
		if err != nil {
			t.Fatal(err)
		}
		b64 := base64.RawURLEncoding.EncodeToString
		algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"admin-1","roles":["admin"],"exp":9999999999}`)) + "."

		// RFC 6750 §3: a request without a bearer token gets the challenge
		// alone; a refused token gets error="invalid_token" and why.
		const missing = `Bearer realm="roster"`
		invalid := func(r auth.Reason) string {
			return `Bearer realm="roster", error="invalid_token", error_description="` + string(r) + `"`
		}
		unauthorized := []struct {
			name   string
			header string
			want   string // WWW-Authenticate
		}{
			{"no header", "", missing},
			{"wrong scheme", "Basic YWRtaW46YWRtaW4=", missing},
			{"empty bearer", "Bearer ", missing},
			{"garbage", "Bearer not.a.token", invalid(auth.ReasonMalformed)},
			{"bad signature", "Bearer " + signHS256(t, valid(nil), []byte("another-secret-that-is-32-bytes-long!")), invalid(auth.ReasonSignature)},
			{"expired", "Bearer " + signHS256(t, valid(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), testSecret), invalid(auth.ReasonExpired)},
			{"alg none", "Bearer " + algNone, invalid(auth.ReasonSignature)},
			{"RS256", "Bearer " + rs256, invalid(auth.ReasonSignature)},
			{"missing exp", "Bearer " + signHS256(t, valid(jwt.MapClaims{"exp": nil}), testSecret), invalid(auth.ReasonClaims)},
			{"future nbf", "Bearer " + signHS256(t, valid(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()}), testSecret), invalid(auth.ReasonNotYetValid)},
			{"missing sub", "Bearer " + signHS256(t, valid(jwt.MapClaims{"sub": nil}), testSecret), invalid(auth.ReasonClaims)},
			{"exp a string", "Bearer " + signHS256(t, valid(jwt.MapClaims{"exp": fmt.Sprint(now.Add(time.Hour).Unix())}), testSecret), invalid(auth.ReasonMalformed)},
		}
		for _, tt := range unauthorized {
			t.Run(tt.name, func(t *testing.T) {
				req := request{method: "GET", path: "/api/users", header: http.Header{}}
				if tt.header != "" {
					req.header.Set("Authorization", tt.header)
				}
				rec := h.do(req)
				env := checkError(t, rec, http.StatusUnauthorized, "UNAUTHORIZED")
				if env.Error.Message != "Invalid credentials" {
					t.Errorf("got message %q, want Invalid credentials", env.Error.Message)
				}
				if got := rec.Header().Get("WWW-Authenticate"); got != tt.want {
					t.Errorf("got WWW-Authenticate %q, want %q", got, tt.want)
				}
			})
		}

		// A token in the query of the event stream is refused the same way.
		expired := signHS256(t, valid(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), testSecret)
		rec := h.do(request{method: "GET", path: "/api/events?access_token=" + expired})
		checkError(t, rec, http.StatusUnauthorized, "UNAUTHORIZED")
		if got, want := rec.Header().Get("WWW-Authenticate"), invalid(auth.ReasonExpired); got != want {
			t.Errorf("events with an expired ?access_token=: got WWW-Authenticate %q, want %q", got, want)
		}

		// Within the 30 s leeway a just-expired token still works.
		leeway := signHS256(t, valid(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}), testSecret)
		if rec := h.do(request{method: "GET", path: "/api/users", token: leeway}); rec.Code != http.StatusOK {
			t.Errorf("token expired 10s ago: got %d, want 200 within leeway", rec.Code)
		}

		selfPath := "/api/users/" + self.ID.String()
		otherPath := "/api/users/" + other.ID.String()
		roles := []struct {
			name   string
			req    request
			status int
		}{
			{"user lists", request{method: "GET", path: "/api/users"}, 200},
			{"user reads other", request{method: "GET", path: otherPath}, 200},
			{"user updates self", request{method: "PATCH", path: selfPath, body: `{"name":"Me"}`}, 200},
			{"user puts self", request{method: "PUT", path: selfPath, body: `{"email":"me@example.com"}`}, 200},
			{"user updates other", request{method: "PATCH", path: otherPath, body: `{"name":"Hacked"}`}, 403},
			{"user creates", request{method: "POST", path: "/api/users", body: userJSON("New", "new@example.com")}, 403},
			{"user deletes self", request{method: "DELETE", path: selfPath}, 403},
			{"user deletes other", request{method: "DELETE", path: otherPath}, 403},
			// Refused before the body is read: what it holds does not matter.
			{"user creates, malformed body", request{method: "POST", path: "/api/users", body: `{"name":`}, 403},
			{"user creates, body over the limit", request{method: "POST", path: "/api/users", body: `{"name":"` + strings.Repeat("a", 2<<20) + `"}`}, 403},
			{"user updates other, malformed body", request{method: "PATCH", path: otherPath, body: `{"name":`}, 403},
		}
		for _, tt := range roles {
			t.Run(tt.name, func(t *testing.T) {
				tt.req.token = selfToken
				rec := h.do(tt.req)
				if tt.status == 403 {
					checkError(t, rec, 403, "FORBIDDEN")
				} else if rec.Code != tt.status {
					t.Errorf("got %d, want %d; body %s", rec.Code, tt.status, rec.Body)
				}
			})
		}
		rec = h.do(request{method: "GET", path: otherPath, token: h.admin})
		if got := decodeUser(t, rec); got != other {
			t.Errorf("forbidden requests changed %+v into %+v", other, got)
		}
		// The actor reaches the log line of the request.
		if !strings.Contains(h.logs.String(), `"sub":"`+self.ID.String()+`"`) {
			t.Errorf("access log lacks the token's sub")
		}
	})
}

// A token with roles but for a user that does not exist may still update
// "itself": the answer is 404, not 403, because the rule is about ids.
func TestSelfUpdateOfMissingUser(t *testing.T) {
	forEachEngine(t, func(t *testing.T, h *harness) {
		id := "0192f0c1-0000-7000-8000-000000000000"
		tok := h.token(id)
		checkError(t, h.do(request{method: "PATCH", path: "/api/users/" + id, token: tok, body: `{"name":"X"}`}), 404, string(roster.CodeNotFound))
	})
}
