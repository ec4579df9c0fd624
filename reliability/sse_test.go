//go:build reliability

package reliability

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stream is one change-feed subscriber on a raw connection, so that how
// the stream ends (a clean close after a whole frame, or a reset) is seen
// as it happened.
type stream struct {
	mu        sync.Mutex
	ids       []int64  // event ids, in arrival order
	types     []string // event names, in arrival order (retry-only frames excluded)
	status    int
	partial   bool   // the connection ended inside a frame
	endErr    string // "" for a clean EOF
	reset     bool
	done      chan struct{}
	lastEvent string
}

// openStream subscribes to base's change feed after lastID (-1: now).
func openStream(ctx context.Context, base, token string, lastID int64) (*stream, error) {
	addr := strings.TrimPrefix(base, "http://")
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	req := "GET /api/events HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + token + "\r\nAccept: text/event-stream\r\n"
	if lastID >= 0 {
		req += "Last-Event-ID: " + strconv.FormatInt(lastID, 10) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("stream status line: %w", err)
	}
	s := &stream{done: make(chan struct{})}
	if f := strings.Fields(line); len(f) >= 2 {
		s.status, _ = strconv.Atoi(f[1])
	}
	chunked := false
	for { // the head
		h, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("stream head: %w", err)
		}
		if strings.EqualFold(strings.TrimSpace(h), "transfer-encoding: chunked") {
			chunked = true
		}
		if h == "\r\n" {
			break
		}
	}
	if s.status != 200 || chunked {
		conn.Close()
		return nil, fmt.Errorf("stream: status %d (chunked %v): want 200 on a hijacked connection", s.status, chunked)
	}
	go s.read(ctx, conn, br)
	return s, nil
}

func (s *stream) read(ctx context.Context, conn net.Conn, br *bufio.Reader) {
	defer close(s.done)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var event, id string
	inFrame := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			s.mu.Lock()
			s.partial = inFrame || line != ""
			if !errors.Is(err, io.EOF) {
				s.endErr = err.Error()
				s.reset = errors.Is(err, syscall.ECONNRESET)
			}
			s.mu.Unlock()
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" { // end of a frame
			s.mu.Lock()
			if event != "" || id != "" {
				s.types = append(s.types, event)
				s.lastEvent = event
				if n, err := strconv.ParseInt(id, 10, 64); err == nil {
					s.ids = append(s.ids, n)
				}
			}
			s.mu.Unlock()
			event, id, inFrame = "", "", false
			continue
		}
		inFrame = true
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "id:"):
			id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		}
	}
}

func (s *stream) snapshot() (ids []int64, types []string, last string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.ids...), append([]string(nil), s.types...), s.lastEvent
}
