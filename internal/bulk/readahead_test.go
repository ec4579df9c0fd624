package bulk

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/rosterhq/roster/internal/roster"
)

// recordSource returns n records, the i-th named by i and with a name of
// size bytes, then err.
func recordSource(n, size int, err error) func() (roster.ImportRecord, error) {
	i := 0
	return func() (roster.ImportRecord, error) {
		if i == n {
			return roster.ImportRecord{}, err
		}
		i++
		return roster.ImportRecord{Line: int64(i), User: roster.NewUser{Name: strings.Repeat("x", size)}}, nil
	}
}

// Records come out in order, across chunks closed by count and by size,
// and then the error that ended the reading, again on every call.
func TestReadAheadOrder(t *testing.T) {
	broken := errors.New("broken body")
	tests := []struct {
		name    string
		n, size int
		err     error
	}{
		{"empty", 0, 1, io.EOF},
		{"small records, many chunks", 3*readAheadRecords + 7, 10, io.EOF},
		{"large records, chunks closed by size", 20, readAheadBytes / 3, io.EOF},
		{"a record over the chunk size", 3, readAheadBytes + 1, io.EOF},
		{"a read error", readAheadRecords + 1, 10, broken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra := StartReadAhead(recordSource(tt.n, tt.size, tt.err))
			defer ra.Stop(func() { t.Error("interrupt called after the reading ended") })
			for i := 1; i <= tt.n; i++ {
				rec, err := ra.Next(t.Context())
				if err != nil || rec.Line != int64(i) || len(rec.User.Name) != tt.size {
					t.Fatalf("record %d: got line %d, name of %d bytes, error %v", i, rec.Line, len(rec.User.Name), err)
				}
			}
			for range 2 {
				if _, err := ra.Next(t.Context()); !errors.Is(err, tt.err) {
					t.Fatalf("after the records: got error %v, want %v", err, tt.err)
				}
			}
			<-ra.exited // the reading goroutine is done before Stop
		})
	}
}

// Stop ends the reading goroutine wherever it is: blocked in a read
// (which interrupt ends) or on a full channel, the consumer gone.
func TestReadAheadStop(t *testing.T) {
	t.Run("blocked in a read", func(t *testing.T) {
		unblock := make(chan struct{})
		reads := 0
		ra := StartReadAhead(func() (roster.ImportRecord, error) {
			reads++
			if reads > 3 {
				<-unblock // a client that sends nothing more
				return roster.ImportRecord{}, errors.New("read deadline")
			}
			return roster.ImportRecord{Line: int64(reads)}, nil
		})
		interrupted := false
		ra.Stop(func() { interrupted = true; close(unblock) })
		if !interrupted {
			t.Error("Stop did not interrupt the read")
		}
	})
	t.Run("blocked on a full channel", func(t *testing.T) {
		ra := StartReadAhead(recordSource(-1, 1, nil)) // never ends
		if rec, err := ra.Next(t.Context()); err != nil || rec.Line != 1 {
			t.Fatalf("got record %d, error %v; want 1", rec.Line, err)
		}
		ra.Stop(func() {})
	})
}

// Next gives up when its context ends, before the reading does.
func TestReadAheadNextContext(t *testing.T) {
	unblock := make(chan struct{})
	ra := StartReadAhead(func() (roster.ImportRecord, error) {
		<-unblock
		return roster.ImportRecord{}, io.EOF
	})
	defer ra.Stop(func() { close(unblock) })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ra.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want %v", err, context.Canceled)
	}
}
