package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// rows counts the rows of a format from the lines that passed: one per
// line for NDJSON, less the header for CSV; a JSON array's elements are
// not counted (nil: bytes only).
type rows func(lines int64) int64

func rowCounter(format string) rows {
	switch format {
	case "ndjson":
		return func(n int64) int64 { return n }
	case "csv":
		return func(n int64) int64 { return max(n-1, 0) }
	}
	return nil
}

// progress reports a transfer on stderr: a live line on a terminal, one
// line per interval otherwise. Once the whole body is sent it says so and
// that the server is committing, instead of an ETA of 0s.
type progress struct {
	w            io.Writer
	tty          bool
	verb         string
	rows         rows
	total        int64 // bytes; < 0 unknown
	start        time.Time
	bytes, lines atomic.Int64
	done         atomic.Bool // the reader reached EOF
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

func startProgress(ctx context.Context, w io.Writer, verb string, r rows, total int64) *progress {
	p := &progress{w: w, tty: isTerminal(w), verb: verb, rows: r, total: total, start: time.Now()}
	interval := 5 * time.Second
	if p.tty {
		interval = 250 * time.Millisecond
	}
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				p.print(false)
			}
		}
	})
	return p
}

// stop ends the reports, with a final line when final is set; otherwise a
// live line on a terminal is cleared, for the caller's own last word.
func (p *progress) stop(final bool) {
	p.cancel()
	p.wg.Wait()
	switch {
	case final:
		p.print(true)
	case p.tty:
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start).Round(time.Millisecond) }

func (p *progress) line(final bool) string {
	elapsed := time.Since(p.start)
	n := p.bytes.Load()
	line := p.verb + " "
	if p.rows != nil {
		r := p.rows(p.lines.Load())
		line += fmt.Sprintf("%s, %.0f rows/s, ", plural(r, "row"), float64(r)/max(elapsed.Seconds(), 1e-3))
	}
	line += humanBytes(n)
	if p.total > 0 {
		frac := float64(n) / float64(p.total)
		line += fmt.Sprintf(" of %s (%.0f%%)", humanBytes(p.total), 100*frac)
		if !final && !p.done.Load() && frac > 0 {
			line += fmt.Sprintf(", ETA %s", time.Duration(float64(elapsed)*(1-frac)/frac).Round(time.Second))
		}
	}
	if final {
		return line + fmt.Sprintf(" in %s", elapsed.Round(time.Millisecond))
	}
	if p.done.Load() {
		line += "; committing…"
	}
	return line
}

func (p *progress) print(final bool) {
	line := p.line(final)
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// plural is "1 row", "2 rows", "0 rows".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// countingReader counts the bytes and lines that pass through it, and
// tells the progress when the end is reached.
type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.bytes.Add(int64(n))
	lines := 0
	for _, ch := range b[:n] {
		if ch == '\n' {
			lines++
		}
	}
	c.p.lines.Add(int64(lines))
	if err == io.EOF {
		c.p.done.Store(true)
	}
	return n, err
}

// countingWriter counts the bytes and lines written through it.
type countingWriter struct {
	w io.Writer
	p *progress
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.bytes.Add(int64(n))
	c.p.lines.Add(int64(bytes.Count(b[:n], []byte{'\n'})))
	return n, err
}
