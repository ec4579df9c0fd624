package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// checkAddrs validates the listen addresses without opening them, so that
// a typo stops the server before the database is created.
func checkAddrs(cfg *serveConfig, fs *flagSources) error {
	for _, a := range []struct{ flag, addr string }{{"addr", cfg.Addr}, {"admin-addr", cfg.AdminAddr}} {
		if a.flag == "admin-addr" && a.addr == "" {
			continue // disabled
		}
		if err := checkAddr(a.addr); err != nil {
			from := ""
			if src, ok := fs.given[a.flag]; ok && src != "--"+a.flag {
				from = " (from " + src + ")"
			}
			return usagef("invalid --%s %q%s: %v", a.flag, a.addr, from, err)
		}
	}
	return nil
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want HOST:PORT or :PORT, e.g. :8080 or 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("the port must be a number from 0 to 65535")
	}
	return nil
}

// listenBoth opens the public listener and, unless adminAddr is empty, the
// admin one. A port in use says which flag moves it.
func listenBoth(addr, adminAddr string) (ln, aln net.Listener, err error) {
	if ln, err = net.Listen("tcp", addr); err != nil {
		return nil, nil, listenError("--addr (or PORT)", addr, err)
	}
	if adminAddr == "" {
		return ln, nil, nil
	}
	if aln, err = net.Listen("tcp", adminAddr); err != nil {
		_ = ln.Close() // nothing served on it yet; the admin error is the one to report
		return nil, nil, listenError("--admin-addr (or ROSTER_ADMIN_ADDR; empty disables the admin listener)", adminAddr, err)
	}
	return ln, aln, nil
}

func listenError(flag, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s is already in use (another roster running?): choose another address with %s", addr, flag)
	}
	return fmt.Errorf("listen on %s: %w", addr, err)
}

// closeUnserved closes listeners that serve never got to use; closing a
// served one again is harmless.
func closeUnserved(lns ...net.Listener) {
	for _, l := range lns {
		if l != nil {
			_ = l.Close()
		}
	}
}
