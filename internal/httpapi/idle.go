package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// idleReader is an import body whose read deadline moves forward before
// each read: a body that makes no progress for idle ends the import,
// however long the whole upload takes. The connection's deadline does the
// waiting, so there is no timer or goroutine per read. Without a
// connection (in-process, tests) deadlines are not supported, and
// interrupt closes the body instead.
type idleReader struct {
	body io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration // 0: no limit

	// mu orders the re-arming of the deadline in Read against interrupt,
	// which must not be undone by a Read that starts after it.
	mu          sync.Mutex
	unsupported bool
	interrupted bool
	timedOut    bool // a read failed at the idle deadline
}

// errImportInterrupted is what a read after interrupt returns.
var errImportInterrupted = errors.New("import body: reading interrupted")

// arm sets the first deadline, or clears the server's read timeout when
// there is no idle limit.
func (ir *idleReader) arm() error {
	var at time.Time
	if ir.idle > 0 {
		at = time.Now().Add(ir.idle)
	}
	err := ir.rc.SetReadDeadline(at)
	if errors.Is(err, http.ErrNotSupported) {
		ir.unsupported, err = true, nil
	}
	return err
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.mu.Lock()
	if ir.interrupted {
		ir.mu.Unlock()
		return 0, errImportInterrupted
	}
	if ir.idle > 0 && !ir.unsupported {
		_ = ir.rc.SetReadDeadline(time.Now().Add(ir.idle)) // supported: arm succeeded
	}
	ir.mu.Unlock()
	n, err := ir.body.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		ir.mu.Lock()
		ir.timedOut = !ir.interrupted
		ir.mu.Unlock()
	}
	return n, err
}

// interrupt makes a read in progress, and every later one, fail: the
// import ended early (a store error, say) while the client may still be
// sending, or idling. The connection closes after the response.
func (ir *idleReader) interrupt() {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	ir.interrupted = true
	if ir.unsupported {
		_ = ir.body.Close()
		return
	}
	_ = ir.rc.SetReadDeadline(time.Now())
}

// idled reports whether the body made no progress for the idle limit.
func (ir *idleReader) idled() bool {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	return ir.timedOut
}
