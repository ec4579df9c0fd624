package httpapi

import (
	"net/http"

	"github.com/rs/cors"
)

// corsPolicy answers preflights and decorates cross-origin responses for the
// allowed origins; with none it is a no-op. Credentials (cookies) are
// never allowed: the API authenticates with bearer tokens, and that also
// rules out the unsafe "*" + credentials combination.
func corsPolicy(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return func(h http.Handler) http.Handler { return h }
	}
	c := cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "If-Match", "If-None-Match",
			"Idempotency-Key", "Last-Event-ID", "X-Request-ID", "X-Roster-Consistency"},
		ExposedHeaders: []string{"Link", "Location", "ETag", "Retry-After", "X-Request-ID", "X-Total-Count", "X-Roster-Consistency",
			"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"},
		MaxAge:               600,
		AllowCredentials:     false,
		OptionsSuccessStatus: http.StatusNoContent,
	})
	return c.Handler
}
