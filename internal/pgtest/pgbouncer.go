package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPgBouncer means no pgbouncer binary was found.
var ErrNoPgBouncer = errors.New("pgtest: pgbouncer not found")

// Bouncer is a running PgBouncer in transaction pooling mode in front of
// a Cluster: every database of the cluster, under its own name.
type Bouncer struct {
	dir   string
	port  int
	cmd   *exec.Cmd
	stdin io.Closer
	done  chan error
}

// BouncerOptions sizes the pools; zero fields take the defaults.
type BouncerOptions struct {
	// PoolSize is the number of server connections per database and
	// user (default_pool_size; default 20).
	PoolSize int
	// MaxClients is max_client_conn (default 1000).
	MaxClients int
}

// pgbouncerBin finds pgbouncer: PATH, then Debian's /usr/sbin, which is
// not on an ordinary user's PATH.
func pgbouncerBin() (string, error) {
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer", nil
	}
	return "", ErrNoPgBouncer
}

// StartBouncer starts PgBouncer (pool_mode = transaction) on a free
// loopback port in front of c. The caller must Stop it. Like the server,
// it runs as the postgres user when the caller is root (PgBouncer
// refuses to run as root).
func StartBouncer(ctx context.Context, c *Cluster, opts BouncerOptions) (*Bouncer, error) {
	bin, err := pgbouncerBin()
	if err != nil {
		return nil, err
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 20
	}
	if opts.MaxClients == 0 {
		opts.MaxClients = 1000
	}
	dir, err := os.MkdirTemp("", "pgbouncer-")
	if err != nil {
		return nil, err
	}
	b := &Bouncer{dir: dir}
	if err := b.start(ctx, bin, c, opts); err != nil {
		_ = os.RemoveAll(dir) // best effort: the start error is the one to report
		return nil, err
	}
	return b, nil
}

func (b *Bouncer) start(ctx context.Context, bin string, c *Cluster, opts BouncerOptions) error {
	if c.cred != nil {
		if err := os.Chown(b.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	// trust, as the cluster's own pg_hba: the user must still be listed.
	if err := os.WriteFile(filepath.Join(b.dir, "userlist.txt"), []byte(`"postgres" ""`+"\n"), 0o644); err != nil { // #nosec G306 -- no secret: trust authentication on loopback
		return err
	}
	var lastErr error
	for range 3 { // a free port can be taken before PgBouncer binds it
		port, err := freePort()
		if err != nil {
			return err
		}
		b.port = port
		// The server resets nothing between clients in transaction mode
		// (server_reset_query_always = 0, the default): whatever session
		// state a transaction leaves behind, the next client's transaction
		// sees. That is what the store suite through this pooler checks.
		conf := strings.Join([]string{
			"[databases]",
			fmt.Sprintf("* = host=127.0.0.1 port=%d", c.port),
			"[pgbouncer]",
			"listen_addr = 127.0.0.1",
			fmt.Sprintf("listen_port = %d", port),
			"unix_socket_dir =",
			"auth_type = trust",
			"auth_file = " + filepath.Join(b.dir, "userlist.txt"),
			"pool_mode = transaction",
			fmt.Sprintf("default_pool_size = %d", opts.PoolSize),
			fmt.Sprintf("max_client_conn = %d", opts.MaxClients),
			"max_db_connections = 0",
			"logfile = " + filepath.Join(b.dir, "pgbouncer.log"),
			"log_connections = 0",
			"log_disconnections = 0",
			"admin_users = postgres",
			"",
		}, "\n")
		ini := filepath.Join(b.dir, "pgbouncer.ini")
		if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil { // #nosec G306 -- no secret in it
			return err
		}
		if lastErr = b.launch(ctx, bin, ini, c.cred); lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (b *Bouncer) launch(ctx context.Context, bin, ini string, cred *syscall.Credential) error {
	// The same watchdog as the server's (see Cluster.launch): when this
	// process ends in any way, PgBouncer is stopped (SIGTERM: immediate
	// shutdown; SIGINT would wait for its clients) and, the owner gone,
	// its directory removed.
	const watchdog = `exec 3<&0
"$0" "$@" & pid=$!
(
	cat <&3 >/dev/null
	kill -TERM $pid 2>/dev/null
	while kill -0 $pid 2>/dev/null; do sleep 0.1; done
	case $(cut -d' ' -f3 "/proc/${PGTEST_OWNER:?}/stat" 2>/dev/null) in
	""|Z) rm -rf "${PGTEST_DIR:?}" ;;
	esac
) &
wait $pid`
	// #nosec G204 -- a fixed script; bin is the pgbouncer found on PATH, ini the harness's own file
	cmd := exec.Command("/bin/sh", "-c", watchdog, bin, ini)
	logf, err := os.Create(filepath.Join(b.dir, "stderr.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	if cred != nil {
		_ = logf.Chown(int(cred.Uid), int(cred.Gid))
		for _, f := range []string{"userlist.txt", "pgbouncer.ini"} {
			_ = os.Chown(filepath.Join(b.dir, f), int(cred.Uid), int(cred.Gid))
		}
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PGTEST_DIR="+b.dir, "PGTEST_OWNER="+strconv.Itoa(os.Getpid()))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start pgbouncer: %w", err)
	}
	b.cmd, b.stdin, b.done = cmd, stdin, make(chan error, 1)
	go func() { b.done <- cmd.Wait() }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(pctx, b.URL("postgres")+"&default_query_exec_mode=simple_protocol")
		cancel()
		if err == nil {
			_ = conn.Close(ctx) // only a probe
			return nil
		}
		select {
		case <-b.done:
			_ = b.stdin.Close()
			b.cmd = nil
			return fmt.Errorf("pgtest: pgbouncer exited at start:\n%s", b.logTail())
		case <-ctx.Done():
			_ = b.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = b.Stop()
			return fmt.Errorf("pgtest: pgbouncer not ready after 15s: %v\n%s", err, b.logTail())
		}
	}
}

func (b *Bouncer) logTail() string {
	var out []byte
	for _, f := range []string{"stderr.log", "pgbouncer.log"} {
		if bs, err := os.ReadFile(filepath.Join(b.dir, f)); err == nil {
			out = append(out, bs...)
		}
	}
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	return strings.TrimSpace(string(out))
}

// Port is the TCP port PgBouncer listens on (127.0.0.1).
func (b *Bouncer) Port() int { return b.port }

// URL is the URL of database db through PgBouncer, as the superuser.
func (b *Bouncer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.port, db)
}

// Via turns a URL of the cluster behind b (from URL or CreateDatabase)
// into the same database's URL through b.
func (b *Bouncer) Via(clusterURL string) string {
	cfg, err := pgx.ParseConfig(clusterURL)
	if err != nil {
		panic(fmt.Sprintf("pgtest: Via(%q): %v", clusterURL, err))
	}
	return b.URL(cfg.Database)
}

// Stop shuts PgBouncer down and removes its directory.
func (b *Bouncer) Stop() error {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = b.stdin.Close() // the watchdog sends SIGTERM
		select {
		case <-b.done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
		b.cmd = nil
	}
	return os.RemoveAll(b.dir)
}
