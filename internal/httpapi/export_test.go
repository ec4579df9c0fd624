package httpapi

import "time"

// SetStreamTimer replaces the timer that ends an event stream when its
// token expires, so tests can see the delay asked for and fire it.
func SetStreamTimer(s *Server, after func(d time.Duration, f func()) (stop func() bool)) {
	s.afterFunc = after
}
