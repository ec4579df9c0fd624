//go:build reliability

package reliability

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// toxicProxy is a small TCP proxy with toxiproxy's four toxics the suite
// needs: latency, reset_peer, timeout and bandwidth. (The Go module
// github.com/Shopify/toxiproxy/v2 would do this too, but brings a
// dozen modules into go.mod for a test; this is 120 lines.)
type toxicProxy struct {
	ln       net.Listener
	upstream string
	latency  atomic.Int64 // added to every chunk, each way (ns)
	bps      atomic.Int64 // bytes per second each way; 0: unlimited
	blackout atomic.Bool  // timeout: data stops flowing, connections stay open
	mu       sync.Mutex
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func newToxicProxy(upstream string) (*toxicProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &toxicProxy{ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *toxicProxy) addr() string { return p.ln.Addr().String() }

func (p *toxicProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.track(c, true)
		p.track(u, true)
		p.wg.Add(2)
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *toxicProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

// pipe copies src to dst through the toxics until either side ends.
func (p *toxicProxy) pipe(src, dst net.Conn) {
	defer p.wg.Done()
	defer func() {
		src.Close()
		dst.Close()
		p.track(src, false)
		p.track(dst, false)
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			for p.blackout.Load() { // timeout: hold the data, keep the connection
				time.Sleep(50 * time.Millisecond)
				if !p.isOpen(src) {
					return
				}
			}
			if d := time.Duration(p.latency.Load()); d > 0 {
				time.Sleep(d)
			}
			if bps := p.bps.Load(); bps > 0 {
				time.Sleep(time.Duration(int64(n) * int64(time.Second) / bps))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF or a cut: the other direction ends with it
			return
		}
	}
}

func (p *toxicProxy) isOpen(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conns[c]
}

// resetPeers cuts every open connection with a TCP RST (reset_peer).
func (p *toxicProxy) resetPeers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
		delete(p.conns, c)
		n++
	}
	return n
}

// clear removes every toxic.
func (p *toxicProxy) clear() {
	p.latency.Store(0)
	p.bps.Store(0)
	p.blackout.Store(false)
}

func (p *toxicProxy) close() {
	p.ln.Close()
	p.resetPeers()
	p.wg.Wait()
}
