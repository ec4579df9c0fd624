//go:build !(js && wasm)

// Command roster-edge builds for GOOS=js GOARCH=wasm only: it is roster's
// API as a Cloudflare Worker. See edge/README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "roster-edge runs in a Cloudflare Worker: build it with edge/build (GOOS=js GOARCH=wasm), see edge/README.md")
	os.Exit(2)
}
