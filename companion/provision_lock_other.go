//go:build !unix

package companion

import "os"

// tryLock is a no-op where flock(2) does not exist: the companion runs
// beside Asterisk, on Unix; elsewhere two runs are not kept apart.
func tryLock(*os.File) (bool, error) { return true, nil }
