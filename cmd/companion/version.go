package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// buildVersion is the module version: the -ldflags value, else the one
// `go install …@version` records, else "dev".
func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// buildInfo is what `companion version` prints beside the version: the
// VCS revision and time the binary was built from (recorded by `go build`
// in a git checkout), and whether the tree had uncommitted changes.
type buildInfo struct {
	Module   string
	Version  string
	Revision string // "" when the build recorded none (go run, go test)
	Time     string
	Modified bool
	Go       string
}

func readBuildInfo(bi *debug.BuildInfo, ok bool) buildInfo {
	info := buildInfo{Version: buildVersion(), Go: runtime.Version()}
	if !ok {
		return info
	}
	info.Module = bi.Main.Path
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

func (b buildInfo) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "companion %s", b.Version)
	if b.Module != "" {
		fmt.Fprintf(&sb, "\nmodule    %s", b.Module)
	}
	switch {
	case b.Revision == "":
		sb.WriteString("\nrevision  unknown (built without VCS information, e.g. by go run)")
	default:
		rev := b.Revision
		if b.Modified {
			rev += " (with uncommitted changes)"
		}
		fmt.Fprintf(&sb, "\nrevision  %s", rev)
		if b.Time != "" {
			fmt.Fprintf(&sb, "\ncommitted %s", b.Time)
		}
	}
	fmt.Fprintf(&sb, "\ngo        %s\n", b.Go)
	return sb.String()
}

func printVersion(w io.Writer) int {
	fmt.Fprint(w, readBuildInfo(debug.ReadBuildInfo()))
	return 0
}
