//go:build reliability

package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rosterhq/roster/internal/auth"
)

// rosterBin is the binary under test, built once by TestMain.
var rosterBin string

// jwtSecret signs the suite's tokens; every instance shares it so that a
// token works on each of them.
const jwtSecret = "reliability-suite-secret-0123456789abcdef"

// ciMode shortens the scenarios to the CI subset's budget.
var ciMode = os.Getenv("RELIABILITY") == "ci"

func TestMain(m *testing.M) {
	raiseFileLimit()
	dir, err := os.MkdirTemp("", "roster-reliability-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rosterBin = filepath.Join(dir, "roster")
	build := exec.Command("go", "build", "-o", rosterBin, "../cmd/roster")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building roster:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// raiseFileLimit lifts the soft descriptor limit to the hard one: the
// abuse scenario opens thousands of connections, and the servers started
// from here inherit the limit.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// workDir is the scenario's directory: ledgers, logs and databases. It is
// kept when the test fails, and its path is printed either way.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "roster-reliability-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("work directory (ledger, logs): %s", dir)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("RELIABILITY_KEEP") != "" {
			t.Logf("kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// server is one running roster process.
type server struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	admin   string // http://127.0.0.1:adminport
	logPath string
	done    chan struct{}
	exitErr error
	exitAt  time.Time
}

// startServer runs roster serve on db with the suite's defaults and extra
// flags, and waits until it is ready.
func startServer(t *testing.T, dir, name, db string, extra ...string) *server {
	t.Helper()
	port, aport := freePort(t), freePort(t)
	s := &server{
		t:       t,
		name:    name,
		base:    fmt.Sprintf("http://127.0.0.1:%d", port),
		admin:   fmt.Sprintf("http://127.0.0.1:%d", aport),
		logPath: filepath.Join(dir, name+".log"),
		done:    make(chan struct{}),
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve",
		"--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", aport),
		"--db", db,
		"--rate-limit", "0", // the load generator is one client
		"--log-format", "json",
	}, extra...)
	s.cmd = exec.Command(rosterBin, args...)
	s.cmd.Env = append(os.Environ(), "JWT_SECRET="+jwtSecret)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.exitErr = s.cmd.Wait()
		s.exitAt = time.Now()
		logf.Close()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	s.waitReady(t, 30*time.Second)
	return s
}

func (s *server) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("%s exited at start: %v\n%s", s.name, s.exitErr, tail(s.logPath, 3000))
		default:
		}
		resp, err := http.Get(s.base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %s\n%s", s.name, within, tail(s.logPath, 3000))
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) signal(sig syscall.Signal) {
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("signal %v to %s: %v", sig, s.name, err)
	}
}

// wait waits up to d for the process to exit; false if it did not.
func (s *server) wait(d time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(d):
		return false
	}
}

// exitCode is the exit status, -1 for a signal.
func (s *server) exitCode() int {
	if s.exitErr == nil {
		return 0
	}
	if ee, ok := s.exitErr.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

var metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([-+0-9.eE]+|NaN|[-+]Inf)$`)

// metrics scrapes the admin listener: series (name plus labels) to value.
func (s *server) metrics() (map[string]float64, error) {
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		out[m[1]+m[2]] = v
	}
	return out, sc.Err()
}

// procStatus reads a field of /proc/PID/status in kB (VmHWM, VmRSS).
func procStatus(pid int, field string) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return -1
}

// openFDs counts the process's open descriptors, and the sockets among
// them (database files and pool connections may grow legitimately).
func openFDs(pid int) (all, sockets int) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return -1, -1
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			sockets++
		}
	}
	return len(ents), sockets
}

// tail is the last n bytes of a file.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// adminToken mints an admin token with the roster binary itself.
func adminToken(t *testing.T) string {
	t.Helper()
	tokenOnce.Do(func() {
		cmd := exec.Command(rosterBin, "token", "--sub", "reliability", "--role", "admin", "--ttl", "2h")
		cmd.Env = append(os.Environ(), "JWT_SECRET="+jwtSecret)
		out, err := cmd.Output()
		if err != nil {
			tokenErr = fmt.Errorf("roster token: %w", err)
			return
		}
		tokenVal = strings.TrimSpace(string(out))
	})
	if tokenErr != nil {
		t.Fatal(tokenErr)
	}
	return tokenVal
}

// streamTokens mints n admin tokens with distinct subjects, for as many
// event streams.
func streamTokens(t *testing.T, n int) []string {
	t.Helper()
	a, err := auth.New(auth.Config{Secret: []byte(jwtSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, n)
	for i := range tokens {
		if tokens[i], err = a.Issue(fmt.Sprintf("stream-%d", i), []string{"admin"}, 2*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

var (
	tokenOnce sync.Once
	tokenVal  string
	tokenErr  error
)

// envelope is the API's error body.
type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// envelopeCode returns the error code of an error body, "" if the body is
// not the envelope.
func envelopeCode(body []byte) string {
	var e envelope
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// drainClose reads a body to the end (so the connection is reused) and
// closes it.
func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, rc)
	rc.Close()
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
