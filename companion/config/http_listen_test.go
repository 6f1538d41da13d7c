package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion"
)

func TestHTTPListen(t *testing.T) {
	head := "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n"
	for _, tc := range []struct {
		name, line string
		want       string
		warn       bool
	}{
		{name: "default", line: "", want: companion.DefaultHTTPListen},
		{name: "off", line: `http_listen = ""`, want: ""},
		{name: "loopback v4", line: `http_listen = "127.0.0.1:9191"`, want: "127.0.0.1:9191"},
		{name: "loopback v6", line: `http_listen = "[::1]:0"`, want: "[::1]:0"},
		{name: "localhost", line: `http_listen = "localhost:9090"`, want: "localhost:9090"},
		{name: "any address", line: `http_listen = ":9090"`, want: ":9090", warn: true},
		{name: "lan", line: `http_listen = "192.0.2.1:9090"`, want: "192.0.2.1:9090", warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("c.toml", []byte(head+tc.line+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Node.HTTPListen != tc.want {
				t.Errorf("http_listen = %q, want %q", cfg.Node.HTTPListen, tc.want)
			}
			warned := false
			for _, w := range cfg.Warnings {
				if w.Key == "companion.http_listen" {
					warned = true
					if w.Line != 4 || !strings.Contains(w.Msg, "not a loopback address") {
						t.Errorf("warning %v", w)
					}
				}
			}
			if warned != tc.warn {
				t.Errorf("warned %v, want %v (%v)", warned, tc.warn, cfg.Warnings)
			}
		})
	}
}

func TestHTTPListenErrors(t *testing.T) {
	head := "[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n"
	for _, tc := range []struct{ line, msg string }{
		{`http_listen = "9090"`, "want host:port"},
		{`http_listen = "127.0.0.1:http"`, "port must be a number"},
		{`http_listen = "127.0.0.1:70000"`, "port must be a number"},
		{`http_listen = 9090`, "must be a string"},
	} {
		_, err := Parse("c.toml", []byte(head+tc.line+"\n"))
		var errs companion.ConfigErrors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Fatalf("%s: err %v, want one error", tc.line, err)
		}
		if e := errs[0]; e.Line != 4 || e.Key != "companion.http_listen" || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%s: %v, want line 4, key companion.http_listen, %q", tc.line, e, tc.msg)
		}
		if !strings.HasPrefix(errs[0].Error(), "c.toml:4:") {
			t.Errorf("%s: %q does not start with file:line", tc.line, errs[0].Error())
		}
	}
}
