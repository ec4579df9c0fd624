package main

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rosterhq/roster/internal/auth"
	"github.com/rosterhq/roster/internal/roster"
)

// devTokenTTL is long enough for a working day with one server run.
const devTokenTTL = 24 * time.Hour

// devAddr is where development mode listens unless told otherwise.
const devAddr = "127.0.0.1:8080"

// devUserRole is the role of development mode's second token: any role
// but admin is an ordinary user, who reads users and sees only its own
// email.
const devUserRole = "user"

// printBanner tells a person where the server is: the API, Swagger UI
// and the admin listener (admin may be nil: disabled). In development mode
// it adds an admin and a user token. A second token beats a secret file
// for "roster token": nothing is written to disk, and the tokens die with
// the process's random secret.
func printBanner(w io.Writer, a *auth.Authority, devMode bool, api net.Addr, admin net.Listener) error {
	base, reach := baseURL(api)
	adminLine := "off (--admin-addr is empty)"
	if admin != nil {
		u, _ := baseURL(admin.Addr())
		adminLine = u + "/metrics, " + u + "/debug/pprof/ (no auth: keep it private)"
	}
	fmt.Fprintf(w, `
  roster %s
    start here  %s/
    API         %s/api/users
    Swagger UI  %s/swagger-ui/
    admin       %s
`, version, base, base, base, adminLine)
	if !devMode {
		return nil
	}
	adminTok, err := a.Issue("dev-admin", []string{roster.RoleAdmin}, devTokenTTL)
	if err != nil {
		return err
	}
	userTok, err := a.Issue("dev-user", []string{devUserRole}, devTokenTTL)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, `
  DEVELOPMENT MODE: JWT_SECRET is not set, so this run signs tokens with a
  random secret; they stop working when the server restarts. Set JWT_SECRET
  (32+ bytes) and mint tokens with "roster token" for anything real.
  The API listens %s.

  Admin token (valid %s):

    export TOKEN=%s
    curl -H "Authorization: Bearer $TOKEN" %s/api/users

  User token (role %q, sub dev-user: lists and reads users, sees no one
  else's email, changes nothing; valid %s):

    export USER_TOKEN=%s

  In Swagger UI, press Authorize and paste either one.

`, reach, devTokenTTL, adminTok, base, devUserRole, devTokenTTL, userTok)
	return nil
}

// baseURL is the URL to reach addr from this machine, and where it can be
// reached from.
func baseURL(addr net.Addr) (base, reach string) {
	base, reach = "http://"+addr.String(), "on "+addr.String()
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP.IsUnspecified() || tcp.IP.IsLoopback()) {
		base = fmt.Sprintf("http://localhost:%d", tcp.Port)
		reach = "on this machine only (--addr or PORT changes that)"
		if tcp.IP.IsUnspecified() {
			reach = "on EVERY network interface, as the address given asks"
		}
	}
	return base, reach
}
