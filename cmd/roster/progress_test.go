package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The progress line counts rows of the format, says "committing…" once
// the whole body is sent (not "ETA 0s"), and gets its plurals right.
func TestProgressLine(t *testing.T) {
	tests := []struct {
		name   string
		format string
		body   string
		read   int // bytes read so far; all of body when -1
		final  bool
		want   []string
		not    []string
	}{
		{"half sent", "ndjson", "a\nb\nc\nd\n", 4, false, []string{"sent 2 rows", "(50%)", "ETA"}, []string{"committing"}},
		{"all sent, server working", "ndjson", "a\nb\n", -1, false, []string{"sent 2 rows", "(100%); committing…"}, []string{"ETA"}},
		{"one row", "ndjson", "a\n", -1, true, []string{"sent 1 row,"}, []string{"1 rows"}},
		{"CSV header is not a row", "csv", "name,email\nA,a@x\n", -1, true, []string{"sent 1 row,"}, nil},
		{"JSON array: bytes only", "json", "[{},\n{}]", -1, true, []string{"sent 8 B of 8 B (100%) in"}, []string{"row"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := startProgress(ctx, &bytes.Buffer{}, "sent", rowCounter(tt.format), int64(len(tt.body)))
			r := &countingReader{r: strings.NewReader(tt.body), p: p}
			n := tt.read
			if n < 0 {
				n = len(tt.body) + 1 // reaches EOF
			}
			buf := make([]byte, n)
			for got := 0; got < n; {
				m, err := r.Read(buf[got:])
				got += m
				if err != nil {
					break
				}
			}
			p.stop(false)
			line := p.line(tt.final)
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("line %q lacks %q", line, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(line, w) {
					t.Errorf("line %q has %q", line, w)
				}
			}
		})
	}
}
