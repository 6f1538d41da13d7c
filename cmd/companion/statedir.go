package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"

	"github.com/astcompanion/sidecar/companion"
)

// printStatePaths shows where the companion keeps what outlives it, as
// resolved from [companion] state_dir, and warns when that folder cannot
// be written by the user running check-config.
func printStatePaths(w io.Writer, cfg *companion.Config) {
	fmt.Fprintf(w, "state     %s\n", cfg.Node.StateDir)
	if cfg.Apply.DeviceState == companion.ApplyNone && cfg.Apply.MailboxState == companion.ApplyNone {
		fmt.Fprintf(w, "  ledger  none (nothing is applied)\n")
	} else {
		fmt.Fprintf(w, "  ledger  %s (what was written for peers)\n", cfg.Apply.LedgerFile)
	}
	if cfg.ARI != nil {
		fmt.Fprintf(w, "  ari     %s (what provisioning created; its lock %s.lock)\n", cfg.ARI.StateFile, cfg.ARI.StateFile)
	}
	if problem := unwritableDir(cfg.Node.StateDir); problem != "" {
		fmt.Fprintf(w, "  warning: state_dir %s\n", problem)
	}
	if cfg.ARI != nil {
		if dir := filepath.Dir(cfg.ARI.StateFile); dir != filepath.Clean(cfg.Node.StateDir) {
			if problem := unwritableDir(dir); problem != "" {
				fmt.Fprintf(w, "  warning: ari.state_file's folder %s\n", problem)
			}
		}
	}
}

// unwritableDir says why dir cannot hold new files for the current user,
// "" when it can. It tries, as the ledger does at start.
func unwritableDir(dir string) string {
	who := "the current user"
	if u, err := user.Current(); err == nil {
		who = fmt.Sprintf("user %s (uid %s)", u.Username, u.Uid)
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist: create it, writable by the user the companion runs as (%s runs check-config); until then the ledger lives in memory only and provisioning cannot record what it created", dir, who)
	case err != nil:
		return fmt.Sprintf("%s cannot be read: %v", dir, err)
	case !st.IsDir():
		return fmt.Sprintf("%s is not a folder", dir)
	}
	f, err := os.CreateTemp(dir, ".companion-check-*")
	if err != nil {
		return fmt.Sprintf("%s cannot be written by %s: %v; the companion needs it writable (chown it to the user it runs as), or the ledger lives in memory only", dir, who, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return ""
}
