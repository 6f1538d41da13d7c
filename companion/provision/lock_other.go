//go:build !unix

package provision

import "os"

// tryLock is a no-op where flock(2) does not exist: the companion runs
// beside Asterisk, on Unix; elsewhere two runs are not kept apart.
func tryLock(*os.File) (bool, error) { return true, nil }
