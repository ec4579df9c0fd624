// Command edge measures warm request latency of a running roster, native
// or the edge Worker, for three requests: GET /health (no auth, no
// database), GET /api/users without a token (a 401: the middleware chain,
// no database) and GET /api/users/{id} (auth and one database read). Each
// runs n times one at a time, then n times from c concurrent clients over
// kept-alive connections, after a warm-up of n/10. It prints one markdown
// table row per request and mode:
//
//	edge -url http://127.0.0.1:8080 -token $TOKEN -id $ID -n 2000 -c 16 -label native
//	| native | /health | 1 | 0.05 | 0.12 | 18000 |
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "base URL of the server")
	token := flag.String("token", "", "bearer token for get-by-id")
	id := flag.String("id", "", "id of an existing user")
	n := flag.Int("n", 2000, "requests per request kind and mode")
	c := flag.Int("c", 16, "concurrent clients")
	label := flag.String("label", "", "first column of each row")
	flag.Parse()
	if *url == "" || *token == "" || *id == "" {
		fmt.Fprintln(os.Stderr, "edge: -url, -token and -id are required")
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, DisableCompression: true}}
	reqs := []struct {
		name, path, token string
		status            int
	}{
		{"/health", "/health", "", 200},
		{"401", "/api/users", "", 401},
		{"get-by-id", "/api/users/" + *id, *token, 200},
	}
	for _, r := range reqs {
		one := func() (time.Duration, error) {
			req, err := http.NewRequest("GET", *url+r.path, nil)
			if err != nil {
				return 0, err
			}
			if r.token != "" {
				req.Header.Set("Authorization", "Bearer "+r.token)
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			d := time.Since(start)
			if resp.StatusCode != r.status {
				return 0, fmt.Errorf("%s: got %d, want %d", r.path, resp.StatusCode, r.status)
			}
			return d, nil
		}
		for _, clients := range []int{1, *c} {
			if _, err := measure(one, *n/10, clients); err != nil { // warm-up
				fmt.Fprintln(os.Stderr, "edge:", err)
				os.Exit(1)
			}
			start := time.Now()
			lat, err := measure(one, *n, clients)
			if err != nil {
				fmt.Fprintln(os.Stderr, "edge:", err)
				os.Exit(1)
			}
			rps := float64(len(lat)) / time.Since(start).Seconds()
			slices.Sort(lat)
			fmt.Printf("| %s | %s | %d | %.2f | %.2f | %.0f |\n", *label, r.name, clients, ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), rps)
		}
	}
}

// measure runs one n times from clients goroutines and returns the
// latencies.
func measure(one func() (time.Duration, error), n, clients int) ([]time.Duration, error) {
	var (
		mu   sync.Mutex
		lat  = make([]time.Duration, 0, n)
		errs []error
		wg   sync.WaitGroup
	)
	for w := range clients {
		wg.Go(func() {
			for i := w; i < n; i += clients {
				d, err := one()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return lat, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
