package provision

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrBusy is a state file whose lock another run holds.
var ErrBusy = errors.New("another provisioning run is applying with this state file")

// LockState takes the exclusive lock that guards the state file
// from the read in Plan to the last Save of Apply, so that a "companion
// provision --apply" run by hand beside "companion run" (which re-applies
// after every AMI reconnect) cannot overwrite the other's record. The lock
// is flock(2) on path+".lock": the kernel drops it when the process dies,
// so it is never stale. It does not wait; a lock held elsewhere is an error
// wrapping ErrBusy. The returned function releases it.
func LockState(path string) (unlock func(), err error) {
	lockPath := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o750); err != nil {
		return nil, fmt.Errorf("state file lock: %w", err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state file lock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("state file lock %s: %w", lockPath, err)
	}
	if !held {
		f.Close()
		return nil, fmt.Errorf("%w (%s holds the lock); wait for it to finish and run again", ErrBusy, lockPath)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
