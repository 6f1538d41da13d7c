package aritest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// recorded is one exchange of fixtures/ari/*.txt.
type recorded struct {
	method, uri string
	header      http.Header
	body        string
	status      int
	respHeader  http.Header
	respBody    string
}

func loadRecording(t *testing.T, name string) []recorded {
	t.Helper()
	src, err := os.ReadFile("../../fixtures/ari/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out []recorded
	for _, block := range strings.Split(string(src), "#### REQUEST\n")[1:] {
		reqText, respText, ok := strings.Cut(block, "#### RESPONSE\n")
		if !ok {
			t.Fatalf("%s: exchange without response", name)
		}
		var x recorded
		reqHead, reqBody, _ := strings.Cut(reqText, "\n\n")
		lines := strings.Split(strings.TrimRight(reqHead, "\n"), "\n")
		parts := strings.Fields(lines[0])
		x.method, x.uri = parts[0], parts[1]
		x.header = headers(lines[1:])
		x.body = strings.TrimRight(reqBody, "\n")

		respHead, respBody, _ := strings.Cut(respText, "\n\n")
		lines = strings.Split(respHead, "\n")
		x.status, err = strconv.Atoi(strings.Fields(lines[0])[1])
		if err != nil {
			t.Fatalf("%s: status line %q", name, lines[0])
		}
		x.respHeader = headers(lines[1:])
		if i := strings.Index(respBody, "\n\n#### "); i >= 0 {
			respBody = respBody[:i]
		}
		x.respBody = strings.TrimRight(respBody, "\n")
		out = append(out, x)
	}
	return out
}

func headers(lines []string) http.Header {
	h := http.Header{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ": "); ok {
			h.Add(k, v)
		}
	}
	return h
}

// replay sends the recorded requests, in order, and compares the fake's
// statuses and bodies with Asterisk's. Reason phrases are not compared:
// net/http writes the standard ones ("Bad Request" where Asterisk wrote
// "Bad request").
func replay(t *testing.T, s *Server, name string, skip func(recorded) bool) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for i, x := range loadRecording(t, name) {
		if skip != nil && skip(x) {
			continue
		}
		req, err := http.NewRequest(x.method, s.srv.URL+x.uri, strings.NewReader(x.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = x.header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s #%d %s %s: %v", name, i+1, x.method, x.uri, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != x.status || !bytes.Equal(body, []byte(x.respBody)) {
			t.Errorf("%s #%d %s %s:\n got %d %s\nwant %d %s", name, i+1, x.method, x.uri, resp.StatusCode, body, x.status, x.respBody)
		}
		if want := x.respHeader.Get("Www-Authenticate"); resp.Header.Get("Www-Authenticate") != want {
			t.Errorf("%s #%d: WWW-Authenticate %q, want %q", name, i+1, resp.Header.Get("Www-Authenticate"), want)
		}
		if want := x.respHeader.Get("Content-Type"); resp.Header.Get("Content-Type") != want {
			t.Errorf("%s #%d: Content-Type %q, want %q", name, i+1, resp.Header.Get("Content-Type"), want)
		}
	}
	if s.Crashed() {
		t.Errorf("%s: a replayed request counted as a crash", name)
	}
}

// static100 is inst1's pjsip.conf endpoint.
func addStatic100(s *Server) {
	s.AddConfigObject("res_pjsip", "endpoint", "static100",
		map[string]string{"context": "default", "disallow": "all", "allow": "ulaw", "auth": "static100", "aors": "static100"},
		"context", "disallow", "allow", "auth", "aors")
}

// /ari/endpoints is not part of the fake.
func skipEndpoints(x recorded) bool { return strings.HasPrefix(x.uri, "/ari/endpoints") }

func TestReplayInst1ConfigPushDeviceStates(t *testing.T) {
	s := New(t)
	addStatic100(s)
	s.SetDeviceState("Custom:alice", "NOT_INUSE") // set over AMI before the recording
	replay(t, s, "01_inst1_info_and_config_push.txt", nil)
	replay(t, s, "02_inst1_device_states_endpoints.txt", skipEndpoints)
}

func TestReplayInst1Mailboxes(t *testing.T) {
	s := New(t)
	s.SetMailbox("100@default", 3, 0) // set over AMI MWIUpdate before the recording
	s.SetMailbox("300", 0, 5)
	replay(t, s, "03_mailboxes_inst1.txt", nil)
}

func TestReplayInst2StaticWizard(t *testing.T) {
	s := New(t)
	for _, typ := range []string{"endpoint", "auth", "aor", "identify"} {
		s.StaticOnly("res_pjsip", typ)
	}
	addStatic100(s)
	s.SetMailbox("500@default", 2, 1)
	s.SetInfo(`{"build":{"os":"Linux","kernel":"6.18.44-fc-v782","machine":"x86_64","options":"OPTIONAL_API","date":"2026-11-26 12:34:41 UTC","user":"root"},` +
		`"system":{"version":"22.10.1","entity_id":"02:00:00:00:00:02"},"config":{"name":"","default_language":"en","setid":{"user":"","group":""}},` +
		`"status":{"startup_time":"2026-11-26T12:43:53.626+0000","last_reload_time":"2026-11-26T12:43:53.626+0000"}}`)
	replay(t, s, "04_inst2_static_sorcery_push_and_info.txt", nil)
}

// The recordings never sent a field without "value" (it crashed the
// recorded Asterisk); the fake must treat one as that crash.
func TestFieldWithoutValueCrashes(t *testing.T) {
	s := New(t)
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/asterisk/config/dynamic/res_pjsip/endpoint/dave",
		strings.NewReader(`{"fields":[{"attribute":"context"}]}`))
	req.SetBasicAuth(User, Password)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 10 * time.Second}
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d, want the connection dropped", resp.StatusCode)
	}
	if !s.Crashed() {
		t.Fatal("not counted as a crash")
	}
	req, _ = http.NewRequest(http.MethodGet, s.URL()+"/asterisk/info", nil)
	req.SetBasicAuth(User, Password)
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a crashed Asterisk answered")
	}
}

// Device and mailbox names travel in one path segment that ARI decodes
// after splitting on '/', '+' as a space.
func TestPathSegmentsDecodedLikeARI(t *testing.T) {
	s := New(t)
	req, _ := http.NewRequest(http.MethodPut, s.URL()+"/deviceStates/Stasis:PJSIP%2Fa+b%2Bc?deviceState=BUSY", nil)
	req.SetBasicAuth(User, Password)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if st, ok := s.DeviceState("Stasis:PJSIP/a b+c"); !ok || st != "BUSY" {
		t.Fatalf("state %q %v", st, ok)
	}
}
