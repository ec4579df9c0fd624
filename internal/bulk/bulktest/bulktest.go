// Package bulktest holds the inputs that internal/bulk's tests and
// internal/httpapi's tests both check their encoders and readers on, so
// that the two suites cannot drift apart.
package bulktest

import (
	"bytes"
	"fmt"
	"time"
)

// Strings are names and emails that exercise every escaping rule of the
// JSON and CSV encoders.
var Strings = []string{
	"", "Ada Lovelace", "ada@example.com", "Émile Zoë", "日本語", "😀 emoji",
	`quote " and backslash \`, "<script>&amp;</script>", "\u2028line\u2029para", "\u2027\u202a",
	"tab\tnl\ncr\rbs\bff\f", "\x00\x01\x1f\x7f", "del\x7f", "bad \xff byte", "\xe2\x80", "cut \xe2\x80\xa8\xe2",
	"\xed\xa0\x80 surrogate", "\xf4\x90\x80\x80 above max", "comma, inside", " leading space", "\u00a0nbsp",
	"\tleading tab", `\.`, `\`, "trailing space ", `"quoted"`, "line\r\nend",
}

// Times cover the stored case (UTC, microseconds) and the ones
// time.Time.MarshalJSON formats differently or refuses.
var Times = []time.Time{
	time.Date(2026, 11, 26, 10, 44, 5, 123456000, time.UTC),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	time.Date(2026, 1, 2, 3, 4, 5, 1, time.UTC),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+30*60)),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(7*3600+17))),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 24*3600)),
	time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", -25*3600)),
	time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	{},
}

// Bodies are the same n valid users ("User i", "useri@example.com") as an
// NDJSON file, a CSV file with a header and a JSON array: the import
// benchmarks' inputs.
func Bodies(n int) (ndjson, csv, array []byte) {
	var nd, c, a bytes.Buffer
	c.WriteString("name,email\n")
	a.WriteString("[")
	for i := range n {
		fmt.Fprintf(&nd, `{"name":"User %d","email":"user%d@example.com"}`+"\n", i, i)
		fmt.Fprintf(&c, "User %d,user%d@example.com\n", i, i)
		if i > 0 {
			a.WriteString(",")
		}
		fmt.Fprintf(&a, `{"name":"User %d","email":"user%d@example.com"}`, i, i)
	}
	a.WriteString("]")
	return nd.Bytes(), c.Bytes(), a.Bytes()
}
