//go:build reliability

package reliability

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// figure records one scenario's row for docs/RELIABILITY.md: printed in
// the test log and, when RELIABILITY_REPORT names a file, appended to it.
func figure(t *testing.T, scenario string, cells ...string) {
	t.Helper()
	line := fmt.Sprintf("| %s | %s |", scenario, strings.Join(cells, " | "))
	t.Log("FIGURE " + line)
	if path := os.Getenv("RELIABILITY_REPORT"); path != "" {
		reportMu.Lock()
		defer reportMu.Unlock()
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("report: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
}

var reportMu sync.Mutex

func fmtMS(v float64) string { return fmt.Sprintf("%.0f ms", v) }
