package httpapi

import (
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
)

// A consistency token is only honoured with this deployment's signature:
// a forged position would make its caller's reads wait for a replica.
func TestConsistencyToken(t *testing.T) {
	c := cursorCodec{key: []byte("consistency-test-key-thirty-two-bytes")}
	other := cursorCodec{key: []byte("another-deployment-key-thirty-two-b")}
	sealed := c.sealToken("16/B374D848")
	pos, sig, _ := strings.Cut(sealed, ".")
	cursor := c.encode(roster.Cursor{Sort: roster.Sorts[0]})
	_, cursorSig, _ := strings.Cut(cursor, ".")

	tests := []struct {
		name  string
		token string
		want  string // "" means refused
	}{
		{"sealed here", sealed, "16/B374D848"},
		{"unsigned", "16/B374D848", ""},
		{"forged position", "FFFFFFFF/FFFFFFFF." + sig, ""},
		{"another key", other.sealToken("16/B374D848"), ""},
		{"a cursor's signature", pos + "." + cursorSig, ""},
		{"empty position", "." + sig, ""},
		{"bad base64", pos + ".***", ""},
		{"too long", c.sealToken(strings.Repeat("1", 60)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := c.openToken(tt.token)
			if ok != (tt.want != "") || got != tt.want {
				t.Errorf("openToken(%q) = %q, %v; want %q", tt.token, got, ok, tt.want)
			}
		})
	}
}
