// Package reliability is roster's fault suite: it builds the roster
// binary, runs it as a real process against real databases, breaks things
// the way an operator's platform does (a crashed PostgreSQL, SIGKILL,
// SIGTERM under load, a full disk, hostile clients) and counts what was
// lost by comparing a client-side ledger of every request with the
// database afterwards.
//
// The tests are behind the build tag "reliability", so go test ./... does
// not run them:
//
//	go test -tags reliability -count=1 -timeout 15m ./reliability/      # full suite
//	RELIABILITY=ci go test -tags reliability -count=1 ./reliability/    # the CI subset
//
// docs/RELIABILITY.md describes each scenario and holds the figures.
package reliability
