// Command pooler measures roster behind PgBouncer against roster direct to
// PostgreSQL (docs/SCALING.md): a throwaway cluster (internal/pgtest),
// PgBouncer in transaction pooling mode in front of it with 20 server
// connections, and INSTANCES roster processes with pools of 20 each,
// first direct (INSTANCES × 20 server connections), then through the
// pooler (20). A load driver in this process spreads CONCURRENCY
// workers over the instances, round robin, for each scenario: get by id
// (of users it created first) and create. It prints a markdown table.
//
//	go build -o /tmp/roster ./cmd/roster
//	go run ./bench/pooler -roster /tmp/roster -instances 8 -duration 10s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rosterhq/roster/internal/pgtest"
)

const secret = "bench-pooler-secret-at-least-32-bytes"

func main() {
	bin := flag.String("roster", "", "roster binary (required)")
	instances := flag.Int("instances", 8, "roster instances")
	conns := flag.Int("conns", 20, "pool size of each instance (--db-max-conns)")
	serverConns := flag.Int("server-conns", 20, "PgBouncer's server connections (default_pool_size)")
	concurrency := flag.Int("concurrency", 64, "load workers, spread over the instances")
	duration := flag.Duration("duration", 10*time.Second, "length of each scenario")
	seed := flag.Int("seed", 2000, "users created before the get-by-id scenario")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "pooler: -roster is required")
		os.Exit(2)
	}
	if err := run(*bin, *instances, *conns, *serverConns, *concurrency, *duration, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "pooler:", err)
		os.Exit(1)
	}
}

type result struct {
	mode, scenario string
	n, errs        int64
	rps            float64
	p50, p99       time.Duration
	serverConns    int
}

func run(bin string, instances, conns, serverConns, concurrency int, duration time.Duration, seed int) error {
	ctx := context.Background()
	c, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer c.Stop()
	direct, err := c.CreateDatabase(ctx)
	if err != nil {
		return err
	}
	b, err := pgtest.StartBouncer(ctx, c, pgtest.BouncerOptions{PoolSize: serverConns})
	if err != nil {
		return err
	}
	defer b.Stop()
	if out, err := exec.Command(bin, "migrate", "up", "--db", direct).CombinedOutput(); err != nil { // #nosec G204 -- the binary the caller named
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	tc := exec.Command(bin, "token", "--sub", "bench", "--role", "admin", "--ttl", "2h") // #nosec G204 -- as above
	tc.Env = append(os.Environ(), "JWT_SECRET="+secret)
	tok, err := tc.Output()
	if err != nil {
		return fmt.Errorf("token: %v", err)
	}
	token := strings.TrimSpace(string(tok))

	var ids []string
	var results []result
	for _, mode := range []string{"direct", "pgbouncer"} {
		var extra []string
		url := direct
		if mode == "pgbouncer" {
			url = b.Via(direct)
			extra = []string{"--db-pooler", "transaction", "--listen-database-url", direct}
		}
		bases, stop, err := startInstances(bin, instances, conns, url, extra)
		if err != nil {
			return err
		}
		if ids == nil {
			if ids, err = createUsers(bases, token, seed, concurrency); err != nil {
				stop()
				return err
			}
		}
		for _, sc := range []string{"get-by-id", "create"} {
			r := load(bases, token, sc, ids, concurrency, duration, direct)
			r.mode = mode
			results = append(results, r)
			fmt.Fprintf(os.Stderr, "%s %s: %.0f req/s, p50 %v, p99 %v, %d errors, %d server connections\n", mode, sc, r.rps, r.p50, r.p99, r.errs, r.serverConns)
		}
		stop()
	}
	fmt.Printf("| scenario | path | requests/s | p50 | p99 | errors | server connections (busiest sample) |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, sc := range []string{"get-by-id", "create"} {
		for _, r := range results {
			if r.scenario == sc {
				fmt.Printf("| %s | %s | %.0f | %.1f ms | %.1f ms | %d | %d |\n", sc, r.mode, r.rps,
					float64(r.p50.Microseconds())/1000, float64(r.p99.Microseconds())/1000, r.errs, r.serverConns)
			}
		}
	}
	return nil
}

func startInstances(bin string, n, conns int, url string, extra []string) ([]string, func(), error) {
	var cmds []*exec.Cmd
	stop := func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Signal(os.Interrupt)
		}
		for _, cmd := range cmds {
			_ = cmd.Wait()
		}
	}
	var bases []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		args := append([]string{"serve", "--addr", addr, "--admin-addr", "", "--no-migrate", "--rate-limit", "0",
			"--max-inflight", "0", "--db-max-conns", fmt.Sprint(conns), "--db-min-conns", fmt.Sprint(conns), "--db-acquire-timeout", "10s", "--log-level", "error"}, extra...)
		cmd := exec.Command(bin, args...) // #nosec G204 -- the binary the caller named
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "JWT_SECRET="+secret)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stop()
			return nil, nil, err
		}
		cmds = append(cmds, cmd)
		bases = append(bases, "http://"+addr)
	}
	for _, base := range bases {
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := http.Get(base + "/health/ready")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				stop()
				return nil, nil, fmt.Errorf("%s not ready in 30s", base)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return bases, stop, nil
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}

var emails atomic.Int64

func create(base, token string) (string, error) {
	n := emails.Add(1)
	body := fmt.Sprintf(`{"name":"Bench %d","email":"bench%d-%d@example.com"}`, n, n, time.Now().UnixNano())
	req, _ := http.NewRequest("POST", base+"/api/users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 201 {
		return "", fmt.Errorf("create: %d %s", res.StatusCode, b)
	}
	var u struct{ ID string }
	if err := json.Unmarshal(b, &u); err != nil {
		return "", err
	}
	return u.ID, nil
}

func get(base, token, id string) error {
	req, _ := http.NewRequest("GET", base+"/api/users/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("get: %d", res.StatusCode)
	}
	return nil
}

func createUsers(bases []string, token string, n, workers int) ([]string, error) {
	var (
		mu   sync.Mutex
		ids  []string
		errs []error
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				id, err := create(bases[w%len(bases)], token)
				for try := 0; err != nil && try < 3; try++ { // a busy machine's slow first connections
					id, err = create(bases[w%len(bases)], token)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					ids = append(ids, id)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("seeding: %d errors, first %v", len(errs), errs[0])
	}
	return ids, nil
}

// load runs one scenario and samples the server connections (client
// backends of the database) every 200 ms.
func load(bases []string, token, scenario string, ids []string, workers int, d time.Duration, direct string) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lats    []time.Duration
		errs    atomic.Int64
		maxConn int
	)
	go func() {
		conn, err := pgx.Connect(context.Background(), direct)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			var n int
			if conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()").Scan(&n) == nil {
				mu.Lock()
				maxConn = max(maxConn, n)
				mu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := w; ctx.Err() == nil; i += workers {
				t := time.Now()
				var err error
				if scenario == "create" {
					_, err = create(bases[i%len(bases)], token)
				} else {
					err = get(bases[i%len(bases)], token, ids[i%len(ids)])
				}
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	r := result{scenario: scenario, n: int64(len(lats)), errs: errs.Load(), rps: float64(len(lats)) / elapsed.Seconds()}
	if len(lats) > 0 {
		r.p50, r.p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	}
	mu.Lock()
	r.serverConns = maxConn
	mu.Unlock()
	return r
}
