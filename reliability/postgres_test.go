//go:build reliability

package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCluster is a PostgreSQL cluster run with pg_ctl, so that a scenario
// can crash it (stop -m immediate) and start it again on the same port
// and data directory. internal/pgtest keeps its server tied to the test
// process instead, which cannot be restarted.
type pgCluster struct {
	bin, dir, data string
	port           int
	cred           *syscall.Credential
}

func pgBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(m, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[i]))))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
		return a > b
	})
	if len(m) == 0 {
		return "", errors.New("PostgreSQL server binaries (pg_ctl, initdb) not found")
	}
	return filepath.Dir(m[0]), nil
}

// startPostgres creates a cluster in the scenario's directory and starts
// it. Without PostgreSQL the test is skipped, unless CI=true.
func startPostgres(t *testing.T, dir string) *pgCluster {
	t.Helper()
	bin, err := pgBinDir()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	c := &pgCluster{bin: bin, dir: filepath.Join(dir, "pg"), port: freePort(t)}
	c.data = filepath.Join(c.dir, "data")
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres system user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{dir, c.dir} {
			_ = os.Chmod(d, 0o755)
		}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.run("pg_ctl", "stop", "-D", c.data, "-m", "immediate", "-w") })
	return c
}

func (c *pgCluster) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

// start starts the server and waits until it accepts connections.
// Durability is PostgreSQL's default (synchronous_commit on) except fsync:
// the scenarios crash PostgreSQL, never the machine, so the page cache
// survives, and the shared disk is spared.
func (c *pgCluster) start() error {
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=200 -c shared_buffers=64MB", c.port, c.dir)
	if out, err := c.run("pg_ctl", "start", "-D", c.data, "-w", "-t", "60", "-l", filepath.Join(c.dir, "postgres.log"), "-o", opts); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// crash stops the server the way a crash does: no checkpoint, sessions cut.
func (c *pgCluster) crash() error {
	if out, err := c.run("pg_ctl", "stop", "-D", c.data, "-m", "immediate", "-w"); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// createDatabase makes a fresh database for one server group.
func (c *pgCluster) createDatabase(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return c.url(name)
}
