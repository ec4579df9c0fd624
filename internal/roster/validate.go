package roster

import (
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on user fields.
const (
	MaxNameLength  = 100 // characters, after trimming
	MaxEmailLength = 254 // bytes, the SMTP path limit (RFC 5321)
)

// Problems with the characters of a name or an email.
const (
	msgInvalidUTF8  = "must be valid UTF-8"
	msgFormatChars  = "must not contain invisible formatting characters (bidi controls, zero-width characters)"
	msgLocalASCII   = "must have only ASCII characters before the @"
	msgMixedScripts = "must not mix alphabets (such as Latin and Cyrillic) in one label of the domain"
)

// normalizeName trims name and returns a problem description, if any.
func normalizeName(name string) (string, string) {
	if msg := checkChars(name); msg != "" {
		return name, msg
	}
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

// checkChars refuses what no name or email should hold, whatever its
// script: bytes that are not UTF-8 (stored as is, or replaced by U+FFFD
// on the way, they would not be what the client meant) and invisible
// format characters (Unicode category Cf: bidi overrides and isolates,
// which make "Ada\u202Egnp.exe" display as "Adaexe.png", zero-width
// characters and the byte order mark, which make two names that look the
// same differ).
func checkChars(s string) string {
	switch {
	case !utf8.ValidString(s):
		return msgInvalidUTF8
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) }):
		return msgFormatChars
	}
	return ""
}

// normalizeEmail trims and lower-cases email and returns a problem
// description, if any. Emails are stored lower-cased (as Supabase Auth and
// most identity services do) so that uniqueness means the same thing on
// every database engine; the databases enforce it on lower(email) as well.
func normalizeEmail(email string) (string, string) {
	if msg := checkChars(email); msg != "" {
		return email, msg
	}
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
	at := strings.LastIndexByte(email, '@')
	local, domain := email[:at], email[at+1:]
	if strings.ContainsFunc(local, func(r rune) bool { return r >= utf8.RuneSelf }) {
		// Look-alikes such as a Cyrillic а in "аdmin@" have no place
		// where most mail systems accept only ASCII anyway (SMTPUTF8 is rare).
		return email, msgLocalASCII
	}
	for label := range strings.SplitSeq(domain, ".") {
		if !singleScript(label) {
			return email, msgMixedScripts
		}
	}
	return email, ""
}

// singleScript reports whether the letters of a domain label are of one
// script, or of one of the combinations that Unicode's "highly
// restrictive" level (UTS #39 §5.2) allows because a language writes
// them together: Latin with Han and Japanese kana, with Han and Hangul, or
// with Han and Bopomofo. Digits, hyphens and combining marks (Common and
// Inherited) count for none. So "münchen" and "пример" pass and "еxample"
// with a Cyrillic е does not; a label that is all Cyrillic look-alikes of
// Latin letters is a whole-script confusable this rule does not catch.
func singleScript(label string) bool {
	var seen []*unicode.RangeTable
	for _, r := range label {
		if r < utf8.RuneSelf && !('a' <= r && r <= 'z') {
			continue // ASCII digits, hyphens: no script
		}
		t := scriptOf(r)
		if t != nil && !slices.Contains(seen, t) {
			seen = append(seen, t)
		}
	}
	if len(seen) <= 1 {
		return true
	}
	for _, allowed := range scriptMixes {
		if !slices.ContainsFunc(seen, func(t *unicode.RangeTable) bool { return !slices.Contains(allowed, t) }) {
			return true
		}
	}
	return false
}

// scriptMixes are the combinations of scripts a label may use (UTS #39
// "highly restrictive").
var scriptMixes = [][]*unicode.RangeTable{
	{unicode.Latin, unicode.Han, unicode.Hiragana, unicode.Katakana},
	{unicode.Latin, unicode.Han, unicode.Hangul},
	{unicode.Latin, unicode.Han, unicode.Bopomofo},
}

// scriptOf returns the script of r, nil for Common and Inherited (digits,
// punctuation, combining marks) and unassigned code points.
func scriptOf(r rune) *unicode.RangeTable {
	if 'a' <= r && r <= 'z' {
		return unicode.Latin
	}
	for name, t := range unicode.Scripts {
		if name != "Common" && name != "Inherited" && unicode.Is(t, r) {
			return t
		}
	}
	return nil
}

// InvalidUTF8 is the error for a field whose value was not UTF-8 as
// sent. Decoders that repair text on the way (encoding/json writes U+FFFD
// for each bad byte) check the raw bytes and report it with this, so that
// the rule of checkChars holds whatever the transport.
func InvalidUTF8(field string) *Error {
	return &Error{Code: CodeInvalid, Message: "Validation failed", Details: []FieldError{{Field: field, Message: msgInvalidUTF8}}}
}

// checkNewUser normalizes and checks a user to create, by the API or an
// import alike, and returns every problem. The user it returns has the
// fields a client sets; the caller adds the id and times. This and
// checkUpdate are the one home of each settable field's rule.
func checkNewUser(in NewUser) (u User, bad problems) {
	var msg string
	u.Name, msg = normalizeName(in.Name)
	bad.add("name", msg)
	u.Email, msg = normalizeEmail(in.Email)
	bad.add("email", msg)
	return u, bad
}

// checkUpdate normalizes and checks the fields an update sets, by
// checkNewUser's rules, and returns every problem.
func checkUpdate(upd UserUpdate) (UserUpdate, problems) {
	var bad problems
	if upd.Name == nil && upd.Email == nil {
		bad.add("body", "at least one of name, email is required")
	}
	if upd.Name != nil {
		name, msg := normalizeName(*upd.Name)
		bad.add("name", msg)
		upd.Name = &name
	}
	if upd.Email != nil {
		email, msg := normalizeEmail(*upd.Email)
		bad.add("email", msg)
		upd.Email = &email
	}
	return upd, bad
}

// fingerprint identifies a create request by its normalized input (the
// fields UserFields lets a client set, joined by NUL), so that a retry
// that differs only in JSON spacing or email case is the same request.
func fingerprint(u User) string {
	h := sha256.New()
	first := true
	for _, f := range UserFields {
		if f.Set == nil {
			continue
		}
		if !first {
			h.Write([]byte{0})
		}
		first = false
		h.Write([]byte(f.Text(u)))
	}
	return hex.EncodeToString(h.Sum(nil))
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
