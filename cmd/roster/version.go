package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

func showVersion(args []string, env environment) error {
	fs := newFlagSet("version", "Prints the version, commit and Go version of this binary.")
	if err := fs.parse(args, env); err != nil {
		return helpIsSuccess(err)
	}
	fmt.Fprintf(env.stdout, "roster %s (commit %s, %s %s/%s)\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

// buildCommit prefers the linker-set commit, then the VCS stamp Go records.
func buildCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}
