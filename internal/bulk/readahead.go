package bulk

import (
	"context"

	"github.com/rosterhq/roster/internal/roster"
)

// Read-ahead bounds: a chunk closes at readAheadRecords records or
// readAheadBytes of names and emails, whichever comes first, and at most
// readAheadChunks chunks wait, so memory stays small even when every line
// is near MaxRecord.
const (
	readAheadRecords = 512
	readAheadBytes   = 256 << 10
	readAheadChunks  = 4
)

// ReadAhead reads and parses an import body in a goroutine of its own,
// while the service validates the records (in a goroutine of its own too)
// and the store writes the batch before: on two or more cores the parsing
// costs little wall time. Records go over in chunks, to pay for one
// channel operation per chunk rather than per record.
//
// Next must not be called concurrently with itself or with Stop; Stop
// must be called on every path out of the import (defer it), and returns
// only once the reading goroutine has.
type ReadAhead struct {
	chunks chan recordChunk
	done   chan struct{} // closed by Stop: send nothing more
	exited chan struct{} // closed when the reading goroutine returns
	cur    recordChunk
	i      int // the next record of cur
}

// recordChunk is some records and, in the last chunk, the error that
// ended the reading (io.EOF at the end of the body).
type recordChunk struct {
	recs []roster.ImportRecord
	err  error
}

// StartReadAhead starts calling read (a Reader's Next, say) until it
// returns an error.
func StartReadAhead(read func() (roster.ImportRecord, error)) *ReadAhead {
	ra := &ReadAhead{
		chunks: make(chan recordChunk, readAheadChunks),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go func() {
		defer close(ra.exited)
		for {
			c := recordChunk{recs: make([]roster.ImportRecord, 0, readAheadRecords)}
			size := 0
			for len(c.recs) < readAheadRecords && size < readAheadBytes {
				rec, err := read()
				if err != nil {
					c.err = err
					break
				}
				c.recs = append(c.recs, rec)
				size += len(rec.User.Name) + len(rec.User.Email)
			}
			select {
			case ra.chunks <- c:
			case <-ra.done:
				return
			}
			if c.err != nil {
				return
			}
		}
	}()
	return ra
}

// Next returns the next record, or the error that ended the reading, or
// ctx's error if it ends first: roster.Service.ImportUsers's next.
func (ra *ReadAhead) Next(ctx context.Context) (roster.ImportRecord, error) {
	for ra.i == len(ra.cur.recs) {
		if ra.cur.err != nil {
			return roster.ImportRecord{}, ra.cur.err
		}
		select {
		case ra.cur = <-ra.chunks:
			ra.i = 0
		case <-ctx.Done():
			return roster.ImportRecord{}, ctx.Err()
		}
	}
	rec := ra.cur.recs[ra.i]
	ra.i++
	return rec, nil
}

// Stop ends the reading goroutine and waits for it. When the goroutine
// may be blocked in a read of the body, interrupt must make that read
// fail (say, by a read deadline in the past); it is not called when the
// goroutine has already returned.
func (ra *ReadAhead) Stop(interrupt func()) {
	close(ra.done)
	select {
	case <-ra.exited:
		return
	default:
	}
	interrupt()
	<-ra.exited
}
