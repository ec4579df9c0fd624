package tracing

import "testing"

func TestStatementName(t *testing.T) {
	tests := []struct{ sql, want string }{
		{"-- name: GetUser :one\nSELECT id FROM users WHERE id = $1", "GetUser"},
		{"\n  -- name: AppendEvent :exec\nINSERT INTO events VALUES (?)", "AppendEvent"},
		{"BEGIN", "BEGIN"},
		{"commit", "COMMIT"},
		{"select 1\nfrom users", "SELECT"},
		{"select\nx", "SELECT"},
		{"-- a comment of someone else's\nSELECT 'secret'", "SQL"},
		{"   ", "SQL"},
	}
	for _, tt := range tests {
		if got := StatementName(tt.sql); got != tt.want {
			t.Errorf("StatementName(%q) got %q, want %q", tt.sql, got, tt.want)
		}
	}
}
