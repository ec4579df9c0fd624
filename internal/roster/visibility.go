package roster

import (
	"fmt"

	"github.com/google/uuid"
)

// EmailVisibility says whose email addresses a caller without the admin
// role is shown. Admins see every email, and every caller sees its own
// (the user whose id is its subject); the policy decides the rest.
type EmailVisibility string

const (
	// EmailsSelf shows a non-admin no email but its own: the default,
	// which the zero value means too.
	EmailsSelf EmailVisibility = "self"
	// EmailsAll shows every email to every caller: a shared directory.
	EmailsAll EmailVisibility = "all"
)

// ParseEmailVisibility reads a policy by name: self or all.
func ParseEmailVisibility(s string) (EmailVisibility, error) {
	switch v := EmailVisibility(s); v {
	case EmailsSelf, EmailsAll:
		return v, nil
	}
	return "", fmt.Errorf("email visibility %q: want self or all", s)
}

// showsEmail reports whether a may see the email of the user with id.
func (v EmailVisibility) showsEmail(a Actor, id uuid.UUID) bool {
	return v == EmailsAll || a.IsAdmin() || (a.Subject != "" && a.Subject == id.String())
}

// VisibleTo returns u as a may see it under v: whole, or without its email.
// An empty Email means hidden (a stored user always has one), and every
// encoder leaves the field out. This is the one rule for who sees which
// email: lists, reads, write responses, exports and the change feed all
// pass users through it (see Service.Visible).
func (u User) VisibleTo(a Actor, v EmailVisibility) User {
	if !v.showsEmail(a, u.ID) {
		u.Email = ""
	}
	return u
}

// MarshalText and UnmarshalText let a policy be read from configuration
// (flag.TextVar) and refuse unknown names there.
func (v EmailVisibility) MarshalText() ([]byte, error) { return []byte(v), nil }

func (v *EmailVisibility) UnmarshalText(b []byte) error {
	p, err := ParseEmailVisibility(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}
