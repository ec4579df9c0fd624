package roster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// preparedBatch is a batch of valid rows, ready for the store, and the
// records that failed while it was read.
type preparedBatch struct {
	rows []ImportRow // nil: no rows remain
	last bool        // no valid row follows
	// errs are the problems of the failed records, in line order, at most
	// MaxImportErrors of them: later ones could not be listed anyway.
	errs      []ImportError
	failed    int64 // failed records, all counted
	firstFail int64 // the line of the first failed record; 0 if none
	err       error // reading failed: the import aborts
}

func (p *preparedBatch) fail(errs ...ImportError) {
	p.failed++
	if p.firstFail == 0 {
		p.firstFail = errs[0].Line
	}
	if len(p.errs) < MaxImportErrors {
		p.errs = append(p.errs, errs...)
	}
}

// prepareBatches reads records with next and validates them into batches
// in a goroutine of its own, one batch ahead of whoever receives them:
// while the store writes one batch, the next is read and validated. After
// a batch with no rows or with err, nothing more is sent. stop ends the
// goroutine and waits for it; it must be called on every path.
func (s *Service) prepareBatches(ctx context.Context, at time.Time,
	next func(context.Context) (ImportRecord, error)) (batches <-chan preparedBatch, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	c := make(chan preparedBatch) // unbuffered: one batch waits, the next is being read
	done := make(chan struct{})
	b := &batcher{s: s, at: at, next: next, seen: make(map[string]int64, ImportBatchSize)}
	go func() {
		defer close(done)
		defer close(c)
		for {
			p := b.batch(ctx)
			select {
			case c <- p:
			case <-ctx.Done():
				return
			}
			if p.rows == nil || p.err != nil {
				return
			}
		}
	}()
	return c, func() {
		cancel()
		<-done
	}
}

// batcher turns records into batches.
type batcher struct {
	s    *Service
	at   time.Time
	next func(context.Context) (ImportRecord, error)
	seen map[string]int64 // email → line, within the batch
	// ahead is the first valid row after a full batch: reading up to it
	// tells whether that batch is the last.
	ahead *ImportRow
	eof   bool
}

// batch reads the next batch: up to ImportBatchSize valid rows with
// distinct emails.
func (b *batcher) batch(ctx context.Context) preparedBatch {
	p := preparedBatch{rows: make([]ImportRow, 0, ImportBatchSize)}
	clear(b.seen)
	for {
		var row ImportRow
		if b.ahead != nil {
			row, b.ahead = *b.ahead, nil
		} else if r, ok := b.read(ctx, &p); ok {
			row = r
		} else {
			break
		}
		if len(p.rows) == ImportBatchSize {
			b.ahead = &row
			break
		}
		if first, ok := b.seen[row.User.Email]; ok {
			p.fail(ImportError{Line: row.Line, Field: "email", Code: CodeConflict,
				Message: fmt.Sprintf("duplicates line %d", first)})
			continue
		}
		b.seen[row.User.Email] = row.Line
		p.rows = append(p.rows, row)
	}
	if len(p.rows) == 0 || p.err != nil {
		p.rows = nil
	}
	p.last = b.ahead == nil
	return p
}

// read reads records until a valid one, which it returns, or the end of
// the input (p.err set if reading failed), counting failed records in p.
func (b *batcher) read(ctx context.Context, p *preparedBatch) (ImportRow, bool) {
	for !b.eof && p.err == nil {
		rec, err := b.next(ctx)
		switch {
		case errors.Is(err, io.EOF):
			b.eof = true
		case err != nil:
			p.err = err
		case rec.Err != nil:
			p.fail(*rec.Err)
		default:
			u, bad := b.s.newUser(rec.User, b.at)
			if bad == nil {
				return ImportRow{Line: rec.Line, User: u}, true
			}
			errs := make([]ImportError, len(bad))
			for i, fe := range bad {
				errs[i] = ImportError{Line: rec.Line, Field: fe.Field, Code: CodeInvalid, Message: fe.Message}
			}
			p.fail(errs...)
		}
	}
	return ImportRow{}, false
}
