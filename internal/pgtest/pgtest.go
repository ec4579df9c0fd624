// Package pgtest starts throwaway PostgreSQL clusters for tests and
// benchmarks: initdb into a temporary directory, postgres on a free
// loopback port, torn down afterwards. Nothing outside the directory is
// touched, so it runs beside any other PostgreSQL on the machine.
//
// PostgreSQL refuses to run as root; when the caller is root the server
// runs as the "postgres" system user, which owns the directory.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled means no initdb/postgres binaries were found.
var ErrNotInstalled = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found")

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string
	bin  string
	cred *syscall.Credential
	// durable: commits reach the operating system before they are
	// acknowledged, so that a Crash loses no acknowledged transaction.
	durable bool
	// extra are further -c settings of the server (a replica's).
	extra []string
	port  int
	cmd   *exec.Cmd
	stdin io.Closer  // closing it stops the server (see launch)
	done  chan error // receives the server's exit
}

// binDir finds the directory holding initdb and postgres: PATH first,
// then Debian's versioned /usr/lib/postgresql/N/bin, newest first.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	if len(matches) == 0 {
		return "", ErrNotInstalled
	}
	return filepath.Dir(matches[0]), nil
}

func version(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// runAs returns the credentials to run the server with: nil for a
// non-root caller, the postgres user for root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs a postgres system user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Start creates and starts a cluster. The caller must Stop it.
func Start(ctx context.Context) (*Cluster, error) { return start(ctx, false) }

// StartDurable is Start for tests that Crash the server: an acknowledged
// commit survives the crash (synchronous_commit on; fsync stays off, the
// machine does not crash).
func StartDurable(ctx context.Context) (*Cluster, error) { return start(ctx, true) }

func start(ctx context.Context, durable bool) (*Cluster, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, cred: cred, durable: durable}
	if err := c.start(ctx, bin, cred); err != nil {
		_ = os.RemoveAll(dir) // best effort: the start error is the one to report
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, bin string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	// #nosec G204 -- bin is the PostgreSQL install directory the harness found; the arguments are its own
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}

	return c.launchOnFreePort(ctx, bin, data, cred)
}

// launchOnFreePort launches the server on a free port. A free port can be
// taken between our probe and the server's bind; it tries a few before
// giving up.
func (c *Cluster) launchOnFreePort(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.port = port
		if lastErr = c.launch(ctx, bin, data, cred); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (c *Cluster) launch(ctx context.Context, bin, data string, cred *syscall.Credential) error {
	logf, err := os.Create(filepath.Join(c.dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	if cred != nil {
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
	}
	// postgres cannot notice that its parent died, so a test binary killed
	// by a timeout would leave it running. A shell watchdog holds the
	// read end of a pipe whose write end only this process holds: when
	// the pipe closes — Stop, or this process dying in any way — the
	// watchdog stops the server. The shell exits when the server does.
	// When this process is gone, the watchdog also removes the cluster's
	// directory, which nobody else would. (Background jobs of a script
	// read /dev/null unless redirected, hence fd 3.) Durability is
	// irrelevant here; speed is not.
	const watchdog = `exec 3<&0
"$0" "$@" & pid=$!
(
	cat <&3 >/dev/null
	kill -INT $pid 2>/dev/null
	while kill -0 $pid 2>/dev/null; do sleep 0.1; done
	case $(cut -d' ' -f3 "/proc/${PGTEST_OWNER:?}/stat" 2>/dev/null) in
	""|Z) rm -rf "${PGTEST_DIR:?}" ;; # the owner is gone (or a zombie nobody reaps)
	esac
) &
wait $pid`
	// #nosec G204 -- a fixed script; bin and data are the harness's own install and temp directories
	cmd := exec.Command("/bin/sh", "-c", watchdog, filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+c.dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit="+map[bool]string{false: "off", true: "on"}[c.durable],
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
	)
	for _, e := range c.extra {
		cmd.Args = append(cmd.Args, "-c", e)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PGTEST_DIR="+c.dir, "PGTEST_OWNER="+strconv.Itoa(os.Getpid()))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	// Own process group: a Ctrl-C in the terminal reaches the test
	// binary, which then stops the server in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	c.stdin = stdin
	c.cmd = cmd
	c.done = make(chan error, 1)
	go func() { c.done <- cmd.Wait() }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, c.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(ctx) // only a probe: the server answered
			return nil
		}
		select {
		case <-c.done:
			_ = c.stdin.Close() // ends the watchdog; the directory stays for a retry
			return fmt.Errorf("pgtest: postgres exited at start:\n%s", c.logTail())
		case <-ctx.Done():
			_ = c.Stop() // best effort: the cancellation is the error to report
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.Stop() // best effort: the timeout is the error to report
			return fmt.Errorf("pgtest: postgres not ready after 30s: %v\n%s", err, c.logTail())
		}
	}
}

func (c *Cluster) logTail() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the TCP port the server listens on (127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// URL is the connection URL of database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a fresh database with a random name and returns
// its URL.
func (c *Cluster) CreateDatabase(ctx context.Context) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.URL(name), nil
}

// Crash stops the server at once, as pg_ctl stop -m immediate does: open
// sessions are cut and nothing is checkpointed. The data stays; Restart
// starts the server again on the same port.
func (c *Cluster) Crash() error {
	if c.cmd == nil {
		return errors.New("pgtest: not running")
	}
	pid, err := c.postmasterPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil { // immediate shutdown
		return fmt.Errorf("pgtest: stop postgres: %w", err)
	}
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
	_ = c.stdin.Close() // ends the watchdog, which keeps the directory: we live
	c.cmd = nil
	return nil
}

// Kill is kill -9 of the server: the postmaster and every backend (the
// whole process group) get SIGKILL at once, with no shutdown of any kind
// — the crash a failover test wants. The data stays; Restart starts the
// server again (crash recovery).
func (c *Cluster) Kill() error {
	if c.cmd == nil {
		return errors.New("pgtest: not running")
	}
	if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("pgtest: kill postgres: %w", err)
	}
	<-c.done
	_ = c.stdin.Close()
	c.cmd = nil
	return nil
}

// Restart starts a crashed server again on its port and data, and waits
// until it accepts connections (after crash recovery).
func (c *Cluster) Restart(ctx context.Context) error {
	if c.cmd != nil {
		return errors.New("pgtest: already running")
	}
	return c.launch(ctx, c.bin, filepath.Join(c.dir, "data"), c.cred)
}

func (c *Cluster) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(string(bytes.TrimSpace(first)))
	if err != nil {
		return 0, fmt.Errorf("pgtest: postmaster.pid: %w", err)
	}
	return pid, nil
}

// Stop shuts the server down (fast mode: open sessions are cut) and
// removes its directory.
func (c *Cluster) Stop() error {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.stdin.Close() // the watchdog sends the server SIGINT: fast shutdown
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) // the whole group
			<-c.done
		}
		c.cmd = nil
	}
	return os.RemoveAll(c.dir)
}
