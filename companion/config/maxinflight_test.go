package config

import (
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func TestConfigMaxInFlight(t *testing.T) {
	const src = `[companion]
name = "n"
eid = "02:42:ac:11:00:02"
sip_listen = ["udp://127.0.0.1:5070"]

[ami]
username = "u"
secret = "s"

[[peer]]
name = "p"
  [peer.publish]
  server_uri = "sip:n@192.0.2.7:5070"
  device_state = true
  MAX
`
	parse := func(v string) (*companion.Config, error) {
		return Parse("m.toml", []byte(strings.Replace(src, "MAX", v, 1)))
	}
	for v, want := range map[string]int{"": companion.DefaultMaxInFlight, "max_in_flight = 1": 1, "max_in_flight = 64": 64, "max_in_flight = 8": 8} {
		cfg, err := parse(v)
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got := cfg.Peer("p").Publish.InFlight(); got != want {
			t.Errorf("%q: InFlight() = %d, want %d", v, got, want)
		}
	}
	for v, msg := range map[string]string{
		"max_in_flight = 0":   "from 1 to 64",
		"max_in_flight = 65":  "from 1 to 64",
		"max_in_flight = -3":  "from 1 to 64",
		`max_in_flight = "8"`: "must be an integer, not a string",
		"max_in_fligth = 8":   `did you mean "max_in_flight"?`,
	} {
		_, err := parse(v)
		key := `peer "p".publish.max_in_flight`
		if strings.Contains(v, "fligth") {
			key = `peer "p".publish.max_in_fligth`
		}
		checkErrors(t, err, []wantErr{{15, key, msg}})
	}
}
