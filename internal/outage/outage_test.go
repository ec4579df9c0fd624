package outage

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogOncePerBurst(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New("database", func() time.Time { return now })
	var buf bytes.Buffer
	l.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	cause := errors.New("connection refused")

	l.Up() // no outage: nothing
	for range 500 {
		l.Down(cause)
		now = now.Add(time.Millisecond)
	}
	now = now.Add(Every) // a continuing outage is logged again, counted
	l.Down(cause)
	l.Up()
	l.Up()
	l.Down(cause) // a new burst

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=WARN msg="database unavailable" err="connection refused"`,
		`level=WARN msg="database still unavailable" err="connection refused"`,
		`level=INFO msg="database available again" after=10.5s failures=501`,
		`level=WARN msg="database unavailable"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d: got %q, want it to contain %q", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[1], "failures_not_logged=499") {
		t.Errorf("got %q, want the 499 failures not logged", lines[1])
	}
}
