// Command otlpsink is an OTLP/HTTP trace receiver that keeps nothing: it
// answers every export with 200 and counts what it was sent. It stands in
// for a collector when bench/run measures what tracing costs roster
// (docs/PERFORMANCE.md, "Tracing overhead"), so that neither a real
// backend's CPU nor export failures are in the figures.
//
//	go run ./bench/otlpsink -addr 127.0.0.1:4318
//
// On SIGINT or SIGTERM it prints the exports and bytes received and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4318", "address to listen on")
	flag.Parse()
	var exports, bytes atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		exports.Add(1)
		bytes.Add(n)
		// An empty ExportTraceServiceResponse: nothing rejected.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
	fmt.Printf("otlpsink: %d exports, %d bytes\n", exports.Load(), bytes.Load())
}
