package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// first address not of a trusted proxy counting from the right of
// Forwarded or X-Forwarded-For: entries left of that are client-supplied
// and could be forged.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	peer := addrOf(r.RemoteAddr)
	if !s.isTrusted(peer) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a := addrOf(hops[i])
		if !a.IsValid() {
			break // garbage: don't trust anything further left
		}
		if !s.isTrusted(a) {
			return a
		}
		peer = a
	}
	return peer
}

func (s *Server) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the hop addresses, nearest last, from the standard
// Forwarded header (RFC 7239) when present, else X-Forwarded-For.
func forwardedFor(h http.Header) []string {
	var hops []string
	if fwd := h.Values("Forwarded"); len(fwd) > 0 {
		for _, line := range fwd {
			for _, elem := range strings.Split(line, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						hops = append(hops, strings.Trim(v, `"`))
					}
				}
			}
		}
		return hops
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, a := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(a))
		}
	}
	return hops
}

// addrOf parses "ip", "ip:port", "[v6]:port" or "[v6]"; invalid gives the
// zero Addr.
func addrOf(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, _ := netip.ParseAddr(strings.Trim(s, "[]"))
	return a.Unmap()
}
