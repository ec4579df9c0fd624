package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time: -ldflags "-X main.version=v1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = ""
)

// versionCmd is "roster version".
type versionCmd struct{}

func (versionCmd) run(_ context.Context, _ *flagSources, env environment) error {
	_, err := fmt.Fprintln(env.stdout, versionLine())
	return err
}

func versionLine() string {
	return fmt.Sprintf("roster %s (commit %s, %s %s/%s)", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
