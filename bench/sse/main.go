// Command sse measures the change feed under fan-out: it opens many
// subscribers to a running roster, writes users at full speed, and reports
// the delivery latency (event "at" to receipt), writes per second while
// streaming, and the server's memory per idle subscriber.
//
//	go run ./bench/sse -url http://127.0.0.1:8080 -token $TOKEN -pid $(pgrep -n roster)
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latency buckets: 100 µs wide up to 10 s, then one overflow bucket.
const (
	bucketWidth = 100 * time.Microsecond
	buckets     = 100_000
)

type histogram struct{ counts [buckets + 1]atomic.Int64 }

func (h *histogram) add(d time.Duration) {
	i := max(int(d/bucketWidth), 0)
	h.counts[min(i, buckets)].Add(1)
}

func (h *histogram) quantile(q float64) time.Duration {
	var total int64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	target := int64(q * float64(total))
	var seen int64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen > target {
			return time.Duration(i+1) * bucketWidth
		}
	}
	return 0
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "roster base URL")
	token := flag.String("token", os.Getenv("TOKEN"), "admin bearer token")
	subs := flag.Int("subscribers", 10000, "subscribers to open")
	writers := flag.Int("writers", 8, "concurrent writers")
	duration := flag.Duration("duration", 10*time.Second, "how long to write")
	pid := flag.Int("pid", 0, "server pid, for its memory (0: skip)")
	rate := flag.Float64("rate", 0, "total writes per second (0: as fast as the writers go)")
	admin := flag.String("admin", "", "server admin URL (http://127.0.0.1:9090), for its Go memory after a forced GC")
	flag.Parse()
	if err := run(*url, *token, *subs, *writers, *duration, *rate, *pid, *admin); err != nil {
		fmt.Fprintln(os.Stderr, "sse:", err)
		os.Exit(1)
	}
}

func run(base, token string, nsubs, nwriters int, duration time.Duration, rate float64, pid int, admin string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: nwriters * 2, DisableCompression: true}}
	rssBefore := rss(pid)
	goBefore := goMemory(admin)

	var hist histogram
	var received, connected, failed, dropped atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range nsubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := subscribe(ctx, client, base, token, &hist, &received, &connected)
			switch {
			case ctx.Err() != nil:
			case errors.Is(err, errEnded):
				dropped.Add(1) // the server cut the stream: a slow-consumer drop
			default:
				failed.Add(1)
			}
		}()
	}
	for connected.Load()+failed.Load() < int64(nsubs) {
		time.Sleep(50 * time.Millisecond)
		if time.Since(start) > 2*time.Minute {
			return fmt.Errorf("only %d of %d subscribers connected", connected.Load(), nsubs)
		}
	}
	connectTime := time.Since(start)
	time.Sleep(time.Second) // let the server settle before reading its memory
	rssIdle := rss(pid)
	goIdle := goMemory(admin)

	var writes atomic.Int64
	wctx, stopWrites := context.WithTimeout(ctx, duration)
	defer stopWrites()
	var wwg sync.WaitGroup
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
	wstart := time.Now()
	for w := range nwriters {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			var pace *time.Ticker
			if rate > 0 {
				pace = time.NewTicker(time.Duration(float64(nwriters) / rate * float64(time.Second)))
				defer pace.Stop()
			}
			for i := 0; wctx.Err() == nil; i++ {
				if pace != nil {
					select {
					case <-pace.C:
					case <-wctx.Done():
						return
					}
				}
				body := fmt.Sprintf(`{"name":"SSE bench","email":"sse-%s-%d-%d@example.com"}`, prefix, w, i)
				req, _ := http.NewRequestWithContext(wctx, "POST", base+"/api/users", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close() // drained above; only the status matters
				if res.StatusCode == http.StatusCreated {
					writes.Add(1)
				}
			}
		}()
	}
	wwg.Wait()
	writeTime := time.Since(wstart)
	want := writes.Load() * connected.Load()
	for deadline := time.Now().Add(30 * time.Second); received.Load() < want && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	rssPeak := rss(pid)
	cancel()
	wg.Wait()

	fmt.Printf("subscribers           %d connected (%d failed) in %v\n", connected.Load(), failed.Load(), connectTime.Round(time.Millisecond))
	fmt.Printf("writes while streaming %d in %v: %.0f writes/s\n", writes.Load(), writeTime.Round(time.Millisecond), float64(writes.Load())/writeTime.Seconds())
	fmt.Printf("events delivered      %d of %d (%d streams dropped as slow consumers)\n", received.Load(), want, dropped.Load())
	fmt.Printf("delivery latency      p50 %v  p99 %v  p99.9 %v\n", hist.quantile(0.5), hist.quantile(0.99), hist.quantile(0.999))
	if pid != 0 && connected.Load() > 0 {
		fmt.Printf("server RSS            before %s, idle with subscribers %s (%.1f KiB per subscriber), at the end %s\n",
			mib(rssBefore), mib(rssIdle), float64(rssIdle-rssBefore)/1024/float64(connected.Load()), mib(rssPeak))
	}
	if admin != "" && connected.Load() > 0 {
		fmt.Printf("server Go memory      heap+stacks after GC: before %s, with idle subscribers %s (%.1f KiB per subscriber)\n",
			mib(goBefore), mib(goIdle), float64(goIdle-goBefore)/1024/float64(connected.Load()))
	}
	return nil
}

// goMemory forces a GC in the server (the heap profile endpoint does) and
// returns its heap and stack memory in use, so garbage does not count.
func goMemory(admin string) int64 {
	if admin == "" {
		return 0
	}
	if res, err := http.Get(admin + "/debug/pprof/heap?gc=1"); err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close() // drained above; the request only forces a GC
	}
	res, err := http.Get(admin + "/metrics")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var total int64
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		for _, name := range []string{"go_memstats_heap_inuse_bytes ", "go_memstats_stack_inuse_bytes "} {
			if v, ok := strings.CutPrefix(sc.Text(), name); ok {
				f, _ := strconv.ParseFloat(v, 64)
				total += int64(f)
			}
		}
	}
	return total
}

func subscribe(ctx context.Context, client *http.Client, base, token string, hist *histogram, received, connected *atomic.Int64) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("status %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 4096), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if first {
			connected.Add(1)
			first = false
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok {
			continue
		}
		// "at" is the last field; slicing it out keeps the client's CPU for
		// reading, so the figures are the server's.
		i := bytes.LastIndex(data, []byte(`"at":"`))
		if i < 0 {
			continue
		}
		raw := data[i+6:]
		if j := bytes.IndexByte(raw, '"'); j > 0 {
			if at, err := time.Parse(time.RFC3339Nano, string(raw[:j])); err == nil {
				hist.add(time.Since(at))
				received.Add(1)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errEnded
}

// errEnded is a stream the server closed.
var errEnded = errors.New("stream ended")

// rss reads a process's resident set size in bytes from /proc.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
