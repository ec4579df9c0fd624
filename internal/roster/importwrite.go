package roster

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/rosterhq/roster/internal/tracing"
)

// cutShortEventTimeout bounds the transaction that records the event of a
// partial import cut short; it runs after the import's context may have
// ended (a client gone), so it needs a limit of its own.
const cutShortEventTimeout = 5 * time.Second

// WriteImport writes the batches next returns through store's import
// transactions until next returns no rows (or an error, which aborts the
// import); last marks the final batch: no rows follow it. Each row's User
// is complete and valid, and emails are unique within a batch. written is
// called with each batch's outcomes once written (partial: committed).
//
// With opts.Atomic everything happens in one transaction, committed only
// when next returns no rows; otherwise each batch commits on its own, and
// an abort keeps the batches already committed. When anything changed,
// one users.imported event with the totals is committed with the rows it
// counts: in the import's transaction (atomic) or in that of the last
// batch (partial), so that no crash can leave the rows without it. A
// partial import cut short (an error from next or from the store) has no
// last batch: the event for the batches that stay is then written in a
// transaction of its own, even when ctx is done.
func WriteImport(ctx context.Context, store UserStore, opts ImportOptions,
	next func() (rows []ImportRow, last bool, err error),
	written func([]ImportRow, []ImportOutcome)) (ImportSummary, error) {
	if opts.Atomic {
		return writeAtomic(ctx, store, opts, next, written)
	}
	var (
		sum     ImportSummary
		err     error
		evented bool // the event is committed, with the last batch
	)
	for {
		rows, last, nerr := next()
		if nerr != nil || rows == nil {
			err = nerr
			break
		}
		var out []ImportOutcome
		out, evented, err = writeBatch(ctx, store, opts, sum, rows, last)
		if err != nil {
			break
		}
		sum.Add(out)
		opts.MetExisting = opts.MetExisting || metExisting(out)
		written(rows, out)
	}
	if !evented && sum.Changed() {
		// Cut short: the batches committed so far stay, even when the
		// client went away, and need their event.
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cutShortEventTimeout)
		defer cancel()
		if eerr := commitEvent(ectx, store, opts, sum); eerr != nil && err == nil {
			err = eerr
		}
	}
	return sum, err
}

// writeAtomic writes every batch in one transaction, and the event last.
func writeAtomic(ctx context.Context, store UserStore, opts ImportOptions,
	next func() ([]ImportRow, bool, error), written func([]ImportRow, []ImportOutcome)) (ImportSummary, error) {
	tx, err := store.BeginImport(ctx, opts)
	if err != nil {
		return ImportSummary{}, err
	}
	defer tx.Rollback()
	var sum ImportSummary
	for {
		rows, _, err := next()
		if err != nil {
			return ImportSummary{}, err
		}
		if rows == nil {
			break
		}
		out, err := writeRows(ctx, tx, rows)
		if err != nil {
			return ImportSummary{}, err
		}
		sum.Add(out)
		written(rows, out)
	}
	if err := tx.Commit(ctx, eventOf(sum)); err != nil {
		return ImportSummary{}, err
	}
	return sum, nil
}

// writeBatch writes rows in a transaction of their own and commits it,
// with the event of the whole import when they are the last and the
// import, with them, changed anything (evented).
func writeBatch(ctx context.Context, store UserStore, opts ImportOptions, before ImportSummary,
	rows []ImportRow, last bool) (out []ImportOutcome, evented bool, err error) {
	ctx, span := tracing.Start(ctx, "roster.import.batch", trace.SpanKindInternal,
		attribute.Int("roster.import.rows", len(rows)), attribute.Bool("roster.import.last", last))
	defer func() { endSpan(span, err) }()
	tx, err := store.BeginImport(ctx, opts)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	if out, err = tx.Write(ctx, rows); err != nil {
		return nil, false, err
	}
	var event *ImportSummary
	if last {
		total := before
		total.Add(out)
		event = eventOf(total)
	}
	if err := tx.Commit(ctx, event); err != nil {
		return nil, false, err
	}
	return out, event != nil, nil
}

// commitEvent commits the event sum in a transaction of its own.
func commitEvent(ctx context.Context, store UserStore, opts ImportOptions, sum ImportSummary) error {
	tx, err := store.BeginImport(ctx, opts)
	if err != nil {
		return fmt.Errorf("import event: %w", err)
	}
	defer tx.Rollback()
	if err := tx.Commit(ctx, &sum); err != nil {
		return fmt.Errorf("import event: %w", err)
	}
	return nil
}

// eventOf is the event an import with totals sum writes: none when it
// changed nothing.
func eventOf(sum ImportSummary) *ImportSummary {
	if !sum.Changed() {
		return nil
	}
	return &sum
}

// metExisting reports whether a batch met an email that was stored
// before: every outcome but an insert means it did.
func metExisting(out []ImportOutcome) bool {
	for _, o := range out {
		if o != ImportInserted {
			return true
		}
	}
	return false
}

// writeRows writes one batch of an atomic import, in a span of its own.
func writeRows(ctx context.Context, tx ImportTx, rows []ImportRow) (out []ImportOutcome, err error) {
	ctx, span := tracing.Start(ctx, "roster.import.batch", trace.SpanKindInternal,
		attribute.Int("roster.import.rows", len(rows)))
	defer func() { endSpan(span, err) }()
	return tx.Write(ctx, rows)
}
