package provision

import (
	"fmt"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func TestRerunAdvice(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrReadOnly), "cannot succeed until Asterisk's configuration changes (sorcery.conf"},
		{fmt.Errorf("x: %w", companion.ErrARIUnauthorized), "cannot succeed until [ari] username/password match"},
		{fmt.Errorf("x: %w", ErrRejected), "cannot succeed until the [[sorcery]] object in the file is corrected"},
		{fmt.Errorf("x: %w", companion.ErrARIUnreachable), "Run the same command again to continue"},
	} {
		if got := rerunAdvice(c.err); !strings.Contains(got, c.want) {
			t.Errorf("rerunAdvice(%v) = %q, want it to contain %q", c.err, got, c.want)
		}
	}
}
