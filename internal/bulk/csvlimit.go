package bulk

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
)

// csvLimiter sits between the body and encoding/csv. It follows the
// records as the parser splits them (quotes open only at a field's start,
// "" inside quotes, an error discards the rest of its line) and passes at
// most max+2 bytes of each. The rest of a longer record is skipped and
// replaced by bytes that make the parser refuse the record, then by as
// many line ends as were skipped, so that later records keep their line
// numbers; the record's start line is noted for wasCut.
type csvLimiter struct {
	br          *bufio.Reader
	max         int
	state       csvState
	size        int   // bytes of the current record passed on
	line, start int64 // line of the next byte; line the current record started on
	skipping    bool
	refusal     []byte  // bytes still to pass on after a cut
	newlines    int     // line ends still to pass on after a cut
	cut         []int64 // start lines of the records cut, not yet reported
	err         error   // the body's error, passed on after the above
}

type csvState uint8

const (
	csvFieldStart csvState = iota
	csvUnquoted
	csvQuoted
	csvQuote   // a quote inside a quoted field: its end, or the first of ""
	csvQuoteCR // \r after a closing quote: a line end if \n or the body's end follows
	csvInvalid // the parser has refused the record and discards the line
)

// csvRefusals end a cut record, by the state it was cut in, so that
// encoding/csv (without LazyQuotes) fails it: a bare quote, or a
// character after a closing quote.
var csvRefusals = [...][]byte{
	csvFieldStart: []byte(`x"`),
	csvUnquoted:   []byte(`"`),
	csvQuoted:     []byte(`"x`),
	csvQuote:      []byte(`x`),
	csvQuoteCR:    []byte(`x`), // encoding/csv drops a \r before the end: cut there, the record would pass
	csvInvalid:    nil,
}

func (l *csvLimiter) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		switch {
		case len(l.refusal) > 0:
			k := copy(p[n:], l.refusal)
			l.refusal, n = l.refusal[k:], n+k
			continue
		case l.newlines > 0:
			p[n], n = '\n', n+1
			l.newlines--
			continue
		case l.err != nil:
			if n > 0 {
				return n, nil
			}
			return 0, l.err
		case n > 0 && l.br.Buffered() == 0:
			return n, nil // do not wait for more of the body with bytes in hand
		}
		if _, err := l.br.Peek(1); err != nil {
			l.err = err
			continue
		}
		chunk, _ := l.br.Peek(l.br.Buffered())
		used := 0
		for used < len(chunk) && n < len(p) {
			if !l.skipping && l.size >= l.max+2 { // +2: the line end
				l.skipping = true
				l.cut = append(l.cut, l.start)
				l.refusal = csvRefusals[l.state]
			}
			rest := chunk[used:]
			if !l.skipping {
				rest = rest[:min(len(rest), len(p)-n, l.max+2-l.size)]
			}
			if k := l.plain(rest); k > 0 { // a run of bytes that leave the state as it is
				nl := bytes.Count(rest[:k], []byte{'\n'}) // only inside quotes
				l.line += int64(nl)
				if l.skipping {
					l.newlines += nl
				} else {
					n += copy(p[n:], rest[:k])
					l.size += k
				}
				used += k
				continue
			}
			c := rest[0]
			used++
			if !l.skipping {
				p[n], n = c, n+1
				l.size++
			} else if c == '\n' {
				l.newlines++
			}
			if l.step(c) && l.skipping {
				l.skipping = false
				break // the refusal and the line ends go before the next record
			}
		}
		_, _ = l.br.Discard(used)
	}
	return n, nil
}

// plain is the length of b's prefix that leaves the state as it is.
func (l *csvLimiter) plain(b []byte) int {
	i := 0
	switch l.state {
	case csvUnquoted:
		i = bytes.IndexAny(b, ",\n\"")
	case csvQuoted:
		i = bytes.IndexByte(b, '"')
	case csvInvalid:
		i = bytes.IndexByte(b, '\n')
	}
	if i < 0 {
		return len(b)
	}
	return i
}

// step advances the state by one byte and reports a record's end.
func (l *csvLimiter) step(c byte) bool {
	if c == '\n' {
		l.line++
	}
	switch l.state {
	case csvFieldStart:
		switch c {
		case '"':
			l.state = csvQuoted
		case ',':
		case '\n':
			return l.end()
		default:
			l.state = csvUnquoted
		}
	case csvUnquoted:
		switch c {
		case ',':
			l.state = csvFieldStart
		case '\n':
			return l.end()
		case '"':
			l.state = csvInvalid
		}
	case csvQuoted:
		if c == '"' {
			l.state = csvQuote
		}
	case csvQuote:
		switch c {
		case '"':
			l.state = csvQuoted
		case ',':
			l.state = csvFieldStart
		case '\n':
			return l.end()
		case '\r':
			l.state = csvQuoteCR
		default:
			l.state = csvInvalid
		}
	case csvQuoteCR:
		if c == '\n' {
			return l.end()
		}
		l.state = csvInvalid
	case csvInvalid:
		if c == '\n' {
			return l.end()
		}
	}
	return false
}

func (l *csvLimiter) end() bool {
	l.state, l.size, l.start = csvFieldStart, 0, l.line
	return true
}

// wasCut reports whether err is the parser's refusal of a record the
// limiter cut.
func (l *csvLimiter) wasCut(err error) bool {
	var perr *csv.ParseError
	if !errors.As(err, &perr) {
		return false
	}
	for len(l.cut) > 0 && l.cut[0] < int64(perr.StartLine) {
		l.cut = l.cut[1:] // reported by an earlier error of its own
	}
	if len(l.cut) > 0 && l.cut[0] == int64(perr.StartLine) {
		l.cut = l.cut[1:]
		return true
	}
	return false
}
