//go:build !(js && wasm)

package main

import (
	"bufio"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestD1Contract runs the store contract (internal/storetest) against D1:
// internal/d1's test binary, built for js/wasm, runs inside workerd in the
// contract's test Worker (edge/contract.mjs, served by serve.mjs --test)
// with a fresh D1 database, and streams its output back. It fails on a
// failed case, a non-zero exit or a contract that did not run. Without node
// it is skipped, except with CI=true, like TestEdgeWorker.
func TestD1Contract(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "d1.test.wasm")
	// -s -w: workerd compiles the module as it loads the Worker, and
	// Go's tracebacks do not need the symbol table or DWARF.
	run(t, ".", []string{"GOOS=js", "GOARCH=wasm"},
		"go", "test", "-c", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/rosterhq/roster/internal/d1")
	url := serve(t, "--test", bin)

	// No client timeout: the run takes as long as the contract does, and
	// its output streams in as it goes; a hung run ends with go test's
	// own timeout.
	resp, err := client.Post(url+"/?run=^TestContract$", "text/plain", nil)
	if err != nil {
		t.Fatalf("run the contract: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("run the contract: got status %d", resp.StatusCode)
	}
	var out, failed []string
	exit := ""
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		out = append(out, line)
		if e, ok := strings.CutPrefix(line, "exit "); ok {
			exit = e
		}
		if failLine.MatchString(line) {
			failed = append(failed, strings.TrimSpace(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read the run's output: %v", err)
	}
	text := strings.Join(out, "\n")
	switch {
	case len(failed) > 0:
		t.Errorf("the contract failed on D1:\n%s", strings.Join(failed, "\n"))
	case exit != "0":
		t.Errorf("the test binary exited with %q, want 0", exit)
	case !strings.Contains(text, "--- PASS: TestContract "):
		t.Errorf("TestContract did not run and pass (skipped, or no binding?)")
	}
	t.Logf("on D1: %d cases passed, %d skipped, %d failed", len(passCase.FindAllString(text, -1)),
		len(skipCase.FindAllString(text, -1)), len(failCase.FindAllString(text, -1)))
}

var (
	failLine = regexp.MustCompile(`^\s*--- FAIL|^FAIL|^panic:`)
	// The suite's cases are TestContract's direct subtests.
	passCase = regexp.MustCompile(`(?m)^    --- PASS: TestContract/`)
	skipCase = regexp.MustCompile(`(?m)^    --- SKIP: TestContract/`)
	failCase = regexp.MustCompile(`(?m)^    --- FAIL: TestContract/`)
)
