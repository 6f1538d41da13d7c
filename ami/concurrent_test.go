package ami

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/astcompanion/sidecar/ami/amitest"
	"github.com/astcompanion/sidecar/companion"
)

// companion.Apply writes several targets at once. Every caller gets the
// answer to its own action: the server refuses the "bad" devices and
// accepts the others, and each caller sees its own verdict, naming its
// own device; every action is sent once.
func TestConcurrentAppliesGetTheirOwnAnswers(t *testing.T) {
	t.Parallel()
	srv := amitest.Start(t, amitest.Config{
		Transcripts: []*amitest.Transcript{transcript(t, "01_inst1_local_devstate.transcript")},
		Answer: func(s *amitest.Session, a amitest.Message) bool {
			if a.Action() != "Setvar" {
				return false
			}
			id := a.Get("ActionID")
			if strings.Contains(a.Get("Variable"), "bad") {
				_ = s.SendString("Response: Error\r\nActionID: " + id + "\r\nMessage: Variable not set\r\n\r\n")
			} else {
				_ = s.SendString("Response: Success\r\nActionID: " + id + "\r\nMessage: Variable Set\r\n\r\n")
			}
			return true
		},
	})
	c := startClient(t, srv, newRecorder(), clientOptions{})
	sess := srv.Session(t, 1)
	awaitConnected(t, c.Client)

	const callers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for g := range callers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("Custom:good-%d-%d", g, i)
				if (g+i)%3 == 0 {
					name = fmt.Sprintf("Custom:bad-%d-%d", g, i)
				}
				err := c.ApplyDevice(context.Background(), name, companion.InUse)
				var ae *ActionError
				switch {
				case strings.Contains(name, "bad") && (!errors.As(err, &ae) || ae.Target != "DEVICE_STATE("+name+")=INUSE"):
					errs <- fmt.Errorf("%s: got %v, want its own refusal", name, err)
				case !strings.Contains(name, "bad") && err != nil:
					errs <- fmt.Errorf("%s: got %v, want success", name, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	sent := map[string]int{}
	for _, a := range sess.Actions() {
		if a.Action() == "Setvar" {
			sent[a.Get("Variable")]++
		}
	}
	if len(sent) != callers*each {
		t.Errorf("%d distinct Setvars sent, want %d", len(sent), callers*each)
	}
	for v, n := range sent {
		if n != 1 {
			t.Errorf("%s sent %d times", v, n)
		}
	}
}
