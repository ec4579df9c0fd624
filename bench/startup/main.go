// Command startup measures how long a server takes from exec to ready: it
// starts the command after "--", polls url every millisecond until it
// answers 200, stops the server with SIGTERM, and repeats. It prints each
// time and the median in milliseconds:
//
//	startup -n 5 -url http://127.0.0.1:8080/health/ready -- roster serve --addr 127.0.0.1:8080
//	STARTUP median_ms=9.8 runs_ms=10.1,9.8,9.5,9.9,9.7
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	n := fs.Int("n", 5, "runs")
	url := fs.String("url", "", "readiness URL to poll")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on a run after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if *url == "" || len(argv) == 0 || *n < 1 {
		return errors.New("usage: startup [-n 5] -url URL -- command [args]")
	}
	// A fresh connection per poll, as a load balancer's probe would make.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var runs []time.Duration
	for range *n {
		d, err := once(ctx, client, *url, *timeout, argv)
		if err != nil {
			return err
		}
		runs = append(runs, d)
	}
	ms := make([]string, len(runs))
	for i, d := range runs {
		ms[i] = fmt.Sprintf("%.1f", millis(d))
	}
	slices.Sort(runs)
	fmt.Printf("STARTUP median_ms=%.1f runs_ms=%s\n", millis(runs[len(runs)/2]), strings.Join(ms, ","))
	return nil
}

// once starts the server, waits for readiness and stops it again.
func once(ctx context.Context, client *http.Client, url string, timeout time.Duration, argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...) // #nosec G204 -- the benchmark starts the command its operator gives
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, client, url) {
			d := time.Since(start)
			stop()
			return d, nil
		}
		if time.Since(start) > timeout {
			stop()
			return 0, fmt.Errorf("%s not ready after %s", url, timeout)
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("server exited before it was ready: %v", err)
		case <-ctx.Done():
			stop()
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
}

func ready(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close() // a readiness probe: only the status matters
	return resp.StatusCode == http.StatusOK
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
