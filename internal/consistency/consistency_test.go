package consistency

import (
	"context"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0/16B3748", true},
		{"", false},
		{strings.Repeat("A", MaxLen), true},
		{strings.Repeat("A", MaxLen+1), false},
		{"0/1 2", false},
		{"0/1\n", false},
		{"é", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q): got %t, want %t", tt.in, got, tt.want)
		}
	}
}

func TestContext(t *testing.T) {
	bare := context.Background()
	if After(bare) != "" || Tracked(bare) {
		t.Fatalf("a bare context: got After %q, Tracked %t; want \"\", false", After(bare), Tracked(bare))
	}
	Commit(bare, "0/1") // no place for it: nothing happens

	ctx, tok := NewContext(bare, "0/10")
	if got := After(ctx); got != "0/10" || !Tracked(ctx) {
		t.Fatalf("got After %q, Tracked %t; want 0/10, true", got, Tracked(ctx))
	}
	if got := tok.Committed(); got != "" {
		t.Errorf("before a write: got Committed %q, want empty", got)
	}
	Commit(ctx, "0/20")
	Commit(ctx, "0/30")
	if got := tok.Committed(); got != "0/30" {
		t.Errorf("got Committed %q, want the last, 0/30", got)
	}
}
