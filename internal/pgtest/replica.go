package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// StartReplica starts a streaming replica of primary: pg_basebackup -R
// (which writes standby.signal and primary_conninfo) into a directory of
// its own, then the server on another free port, as a hot standby. A
// positive applyDelay sets recovery_min_apply_delay: the replica applies
// each commit that much after the primary made it. settings are further
// -c settings of the replica (name=value). The caller must Stop it.
func StartReplica(ctx context.Context, primary *Cluster, applyDelay time.Duration, settings ...string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "pgtest-replica-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: primary.bin, cred: primary.cred, durable: primary.durable}
	if applyDelay > 0 {
		c.extra = append(c.extra, fmt.Sprintf("recovery_min_apply_delay=%dms", applyDelay.Milliseconds()))
	}
	c.extra = append(c.extra, settings...)
	if err := c.startReplica(ctx, primary); err != nil {
		_ = os.RemoveAll(dir) // best effort: the start error is the one to report
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startReplica(ctx context.Context, primary *Cluster) error {
	if c.cred != nil {
		if err := os.Chown(c.dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	data := filepath.Join(c.dir, "data")
	// #nosec G204 -- bin is the PostgreSQL install directory the harness found; the arguments are its own
	backup := exec.CommandContext(ctx, filepath.Join(c.bin, "pg_basebackup"),
		"-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", "postgres",
		"-R", "-X", "stream", "-c", "fast", "--no-sync")
	backup.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := backup.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_basebackup: %w\n%s", err, out)
	}
	return c.launchOnFreePort(ctx, c.bin, data, c.cred)
}

// Promote ends a replica's recovery (pg_ctl promote): it becomes a
// primary that accepts writes. It waits until the server says so.
func (c *Cluster) Promote(ctx context.Context) error {
	// #nosec G204 -- as in StartReplica
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "pg_ctl"), "promote", "-w", "-D", filepath.Join(c.dir, "data"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: pg_ctl promote: %w\n%s", err, out)
	}
	return nil
}
