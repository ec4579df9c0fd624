package httpapi

import (
	"crypto/hmac"
	"net/http"
	"strings"

	"github.com/rosterhq/roster/internal/consistency"
	"github.com/rosterhq/roster/internal/roster"
)

// consistencyCookie is the cookie that carries a token with
// Config.ConsistencyCookie. It lives a minute: a replica that has not
// replayed a write by then is lagging, and the primary answers anyway.
const (
	consistencyCookie    = "roster_consistency"
	consistencyCookieAge = 60 // seconds
)

var errBadConsistency = roster.Errorf(roster.CodeBadRequest, "Invalid "+consistency.Header+" header")

// consistent carries read-your-writes tokens (internal/consistency): the
// one a request presents in X-Roster-Consistency goes into its context for
// the store; the commit position of the request's last write, if the
// store recorded one (only a store with read replicas does), goes back in
// the same header of the response.
//
// Tokens are signed with the cursor key, as cursors are: a store waits
// for a replica to reach the position a token names, so a forged one
// ("FFFFFFFF/FFFFFFFF") would make every read of its caller wait the
// whole --read-consistency-wait and poll the replicas meanwhile. A token
// whose signature does not check is a 400, like a garbled one.
//
// With Config.ConsistencyCookie the token also travels in a cookie, for
// browser clients: a write's answer sets it, and a read without the
// header presents it. A cookie that does not check is dropped, not a
// 400: the browser, not the caller's code, sends it (after a key change,
// say), and without it a read is only possibly stale.
func (s *Server) consistent(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		after, fromCookie := r.Header.Get(consistency.Header), false
		if after == "" && s.tokenCookie {
			if c, err := r.Cookie(consistencyCookie); err == nil {
				after, fromCookie = c.Value, true
			}
		}
		if after != "" {
			pos, ok := s.cursors.openToken(after)
			switch {
			case ok:
				after = pos
			case fromCookie:
				after = "" // dropped: the browser sent it, not the caller's code
			default:
				s.error(w, r, errBadConsistency)
				return
			}
		}
		ctx, tok := consistency.NewContext(r.Context(), after)
		next(&consistencyWriter{ResponseWriter: w, tok: tok, seal: s.cursors.sealToken, cookie: s.tokenCookie,
			secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"}, r.WithContext(ctx))
	}
}

// tokenMAC signs a consistency token's position. Its input starts with
// "consistency", never a cursor's version byte, so a cursor's signature
// cannot pass for a token's or the reverse.
func (c cursorCodec) tokenMAC(pos string) []byte {
	return c.mac([]byte("consistency\x00" + pos))
}

// sealToken is the header value for a store's commit position pos.
func (c cursorCodec) sealToken(pos string) string {
	return pos + "." + b64.EncodeToString(c.tokenMAC(pos))
}

// openToken checks a presented header value and returns its position.
func (c cursorCodec) openToken(v string) (string, bool) {
	if !consistency.Valid(v) {
		return "", false
	}
	pos, sig, ok := strings.Cut(v, ".")
	mac, err := b64.DecodeString(sig)
	if !ok || pos == "" || err != nil || !hmac.Equal(mac, c.tokenMAC(pos)) {
		return "", false
	}
	return pos, true
}

// consistencyWriter sets the header when the response starts: the write
// has committed by then.
type consistencyWriter struct {
	http.ResponseWriter
	tok     *consistency.Tokens
	seal    func(pos string) string
	cookie  bool // also set consistencyCookie
	secure  bool // the client reached us over TLS: a Secure cookie
	started bool
}

func (w *consistencyWriter) start() {
	if !w.started {
		w.started = true
		if pos := w.tok.Committed(); pos != "" {
			token := w.seal(pos)
			w.Header().Set(consistency.Header, token)
			if w.cookie {
				// Secure only when the client came over TLS (directly or through
				// a proxy that says so): a browser drops a Secure cookie sent
				// over plain HTTP. The token is no secret either way: a signed
				// WAL position that only picks the replica a read goes to.
				// #nosec G124 -- Secure follows the request's scheme, as above
				http.SetCookie(w, &http.Cookie{Name: consistencyCookie, Value: token, Path: "/api",
					MaxAge: consistencyCookieAge, HttpOnly: true, Secure: w.secure, SameSite: http.SameSiteLaxMode})
			}
		}
	}
}

func (w *consistencyWriter) WriteHeader(status int) {
	w.start()
	w.ResponseWriter.WriteHeader(status)
}

func (w *consistencyWriter) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *consistencyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
