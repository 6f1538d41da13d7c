package companion

import (
	"context"
	"time"
)

// Peers publish as soon as we start, usually before the AMI login: a
// write then can only fail ("not connected"), and until the first
// snapshot of the local state Apply cannot tell a remote name from a
// local one either. So Run waits for ApplyOptions.Ready before its first
// write; what arrives meanwhile is written right after. The wait is
// bounded: past ReadyWait, Apply starts anyway (an AMI user that may not
// list device states still lets ARI apply), and says so.

// ReadyWait bounds how long Apply waits for ApplyOptions.Ready.
const ReadyWait = time.Minute

// awaitReady waits for opts.Ready, at most ReadyWait; false when ctx
// ended first.
func (a *Apply) awaitReady(ctx context.Context) bool {
	if a.opts.Ready == nil {
		return true
	}
	t := time.NewTimer(ReadyWait)
	defer t.Stop()
	select {
	case <-a.opts.Ready:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		a.opts.Logger.Info("the local state is still unknown; applying remote state anyway", "waited", ReadyWait.String())
		return true
	}
}
