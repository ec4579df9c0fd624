package roster

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on user fields.
const (
	MaxNameLength  = 100 // characters, after trimming
	MaxEmailLength = 254 // bytes, the SMTP path limit (RFC 5321)
)

// normalizeName trims name and returns a problem description, if any.
func normalizeName(name string) (string, string) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return name, "must not be empty"
	case n > MaxNameLength:
		return name, "must be at most 100 characters"
	}
	if strings.ContainsFunc(name, unicode.IsControl) {
		return name, "must not contain control characters"
	}
	return name, ""
}

// normalizeEmail trims and lower-cases email and returns a problem
// description, if any. Emails are stored lower-cased (as Supabase Auth and
// most identity services do) so that uniqueness means the same thing on
// every database engine; the databases enforce it on lower(email) as well.
func normalizeEmail(email string) (string, string) {
	email = strings.ToLower(strings.TrimSpace(email))
	switch {
	case email == "":
		return email, "must not be empty"
	case len(email) > MaxEmailLength:
		return email, "must be at most 254 characters"
	}
	// A bare address only: ParseAddress also accepts "Name <a@b>" and
	// comments, which would round-trip to a different string.
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return email, "must be a valid email address"
	}
	return email, ""
}

// problems collects field errors so that validation reports all at once.
type problems []FieldError

func (p *problems) add(field, msg string) {
	if msg != "" {
		*p = append(*p, FieldError{Field: field, Message: msg})
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &Error{Code: CodeInvalid, Message: "Validation failed", Details: p}
}
