package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/ari/aritest"
	"github.com/astcompanion/sidecar/companion/provision"
)

// The password of alice's auth: it must never be printed or written to the
// state file.
const alicePW = "alice-pw-Zq9x"

// The seed's alice (auth, aor, endpoint), written endpoint first: the
// order in which they are applied must come from the references.
const aliceSorcery = `
[[sorcery]]
class = "res_pjsip"
type = "endpoint"
id = "alice"
  [sorcery.fields]
  from_user = "alice"
  allow = "!all,g722,ulaw,alaw"
  ice_support = true
  force_rport = true
  rewrite_contact = true
  rtp_symmetric = true
  context = "default"
  auth = "alice"
  aors = "alice"

[[sorcery]]
class = "res_pjsip"
type = "aor"
id = "alice"
fields = { support_path = true, remove_existing = true, max_contacts = 1 }

[[sorcery]]
class = "res_pjsip"
type = "auth"
id = "alice"
fields = { auth_type = "userpass", username = "alice", password = { env = "PROVISION_TEST_ALICE_PW" } }
`

type provisionEnv struct {
	t     *testing.T
	ari   *aritest.Server
	dir   string
	state string
	url   string // [ari] url; the fake's unless changed
	outs  []string
}

func newProvisionEnv(t *testing.T) *provisionEnv {
	t.Setenv("PROVISION_TEST_ALICE_PW", alicePW)
	t.Setenv("PROVISION_TEST_ARI_PW", aritest.Password)
	dir := t.TempDir()
	s := aritest.New(t)
	e := &provisionEnv{t: t, ari: s, dir: dir, state: filepath.Join(dir, "state", "provisioned.json"), url: s.URL()}
	t.Cleanup(func() {
		for _, o := range e.outs {
			if strings.Contains(o, alicePW) {
				t.Errorf("alice's password printed:\n%s", o)
			}
		}
		if b, err := os.ReadFile(e.state); err == nil && strings.Contains(string(b), alicePW) {
			t.Errorf("alice's password in the state file:\n%s", b)
		}
		if s.Crashed() {
			t.Error("a request would have crashed Asterisk 22.10.1")
		}
	})
	return e
}

// config writes a configuration with these [[sorcery]] objects.
func (e *provisionEnv) config(sorcery string) string {
	src := `[companion]
name = "n"
eid = "02:42:ac:11:00:02"

[ari]
url = "` + e.url + `"
username = "asterisk"
password_env = "PROVISION_TEST_ARI_PW"
timeout = "5s"
state_file = "` + e.state + `"
` + sorcery
	path := filepath.Join(e.dir, "c.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// run runs "companion provision" with args after --config.
func (e *provisionEnv) run(sorcery string, args ...string) (code int, stdout, stderr string) {
	code, stdout, stderr = runCLI(append([]string{"provision", "--config", e.config(sorcery)}, args...)...)
	e.outs = append(e.outs, stdout, stderr)
	return code, stdout, stderr
}

// writes lists the PUTs and DELETEs since request number from (0-based).
func (e *provisionEnv) writes(from int) []string {
	var out []string
	for _, r := range e.ari.Requests()[from:] {
		if r.Method != "GET" {
			out = append(out, r.Method+" "+strings.Join(r.Path[3:], "/"))
		}
	}
	return out
}

func (e *provisionEnv) mustRun(sorcery string, args ...string) string {
	e.t.Helper()
	code, out, errOut := e.run(sorcery, args...)
	if code != 0 {
		e.t.Fatalf("provision %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

// sameJSON compares a JSON body with want by value (ari/v6 escapes < and >).
func sameJSON(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func wantLines(t *testing.T, out string, lines ...string) {
	t.Helper()
	pos := 0
	for _, l := range lines {
		i := strings.Index(out[pos:], l)
		if i < 0 {
			t.Errorf("output lacks %q (in this order):\n%s", l, out)
			return
		}
		pos += i + len(l)
	}
}

func TestProvisionAliceSeed(t *testing.T) {
	e := newProvisionEnv(t)

	// --plan (the default) reads and changes nothing.
	out := e.mustRun(aliceSorcery)
	wantLines(t, out,
		"+   create     res_pjsip/auth/alice  auth_type=userpass username=alice password=******",
		"+   create     res_pjsip/aor/alice  support_path=yes remove_existing=yes max_contacts=1",
		"+   create     res_pjsip/endpoint/alice  from_user=alice allow=!all,g722,ulaw,alaw",
		"Plan: 3 to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged.",
		"Nothing was changed: run with --apply")
	if w := e.writes(0); len(w) != 0 {
		t.Fatalf("plan wrote %v", w)
	}

	// --apply: auth and aor before the endpoint that names them.
	n := len(e.ari.Requests())
	out = e.mustRun(aliceSorcery, "--apply")
	if w := e.writes(n); !slices.Equal(w, []string{"PUT res_pjsip/auth/alice", "PUT res_pjsip/aor/alice", "PUT res_pjsip/endpoint/alice"}) {
		t.Fatalf("writes %v", w)
	}
	wantLines(t, out, "Applying:",
		"created    res_pjsip/auth/alice", "created    res_pjsip/aor/alice", "created    res_pjsip/endpoint/alice",
		"Apply complete: 3 created, 0 updated, 0 replaced, 0 deleted, 0 unchanged.")
	ep, ok := e.ari.Object("res_pjsip", "endpoint", "alice")
	if !ok || ep["allow"] != "(g722|ulaw|alaw)" || ep["ice_support"] != "true" || ep["auth"] != "alice" {
		t.Errorf("endpoint as Asterisk has it: %v", ep)
	}
	if auth, _ := e.ari.Object("res_pjsip", "auth", "alice"); auth["password"] != alicePW {
		t.Error("the password did not reach Asterisk")
	}

	// Applied again: Asterisk's yes->true, (g722|ulaw|alaw) and defaults
	// compare equal, so nothing is sent.
	n = len(e.ari.Requests())
	out = e.mustRun(aliceSorcery, "--apply")
	if w := e.writes(n); len(w) != 0 {
		t.Fatalf("second apply wrote %v", w)
	}
	wantLines(t, out, "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 3 unchanged.",
		"unchanged  res_pjsip/auth/alice", "unchanged  res_pjsip/aor/alice", "unchanged  res_pjsip/endpoint/alice",
		"Apply complete: 0 created, 0 updated, 0 replaced, 0 deleted, 3 unchanged.")

	// The state file names the objects and their fields, no value.
	b, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	var st provision.State
	if err := json.Unmarshal(b, &st); err != nil || len(st.Objects) != 3 || st.Target != e.ari.URL() {
		t.Errorf("state file %s (%v)", b, err)
	}
}

func TestProvisionOneFieldChangeIsOneUpdate(t *testing.T) {
	e := newProvisionEnv(t)
	e.mustRun(aliceSorcery, "--apply")
	changed := strings.Replace(aliceSorcery, `from_user = "alice"`, `from_user = "alice"`+"\n  callerid = \"Alice <201>\"", 1)

	out := e.mustRun(changed)
	wantLines(t, out, `~   update     res_pjsip/endpoint/alice  callerid: "unknown" -> "Alice <201>"`,
		"Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 2 unchanged.")

	n := len(e.ari.Requests())
	out = e.mustRun(changed, "--apply")
	reqs := e.ari.Requests()[n:]
	var puts []aritest.Request
	for _, r := range reqs {
		if r.Method != "GET" {
			puts = append(puts, r)
		}
	}
	if len(puts) != 1 || puts[0].Method != "PUT" || !sameJSON(puts[0].Body, `{"fields":[{"attribute":"callerid","value":"Alice <201>"}]}`) {
		t.Fatalf("writes %v", puts)
	}
	wantLines(t, out, "updated    res_pjsip/endpoint/alice  callerid", "Apply complete: 0 created, 1 updated")
	if ep, _ := e.ari.Object("res_pjsip", "endpoint", "alice"); ep["callerid"] != `"Alice" <201>` {
		t.Errorf("callerid %q", ep["callerid"])
	}
	// Asterisk writes it back as "Alice" <201>: still the same value.
	out = e.mustRun(changed)
	wantLines(t, out, "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, 3 unchanged.")
}

func TestProvisionPruneDeletesEndpointFirst(t *testing.T) {
	e := newProvisionEnv(t)
	e.mustRun(aliceSorcery, "--apply")
	const bobOnly = `
[[sorcery]]
class = "res_pjsip"
type = "aor"
id = "bob"
`
	// Without --prune nothing is deleted, only pointed out.
	n := len(e.ari.Requests())
	out := e.mustRun(bobOnly, "--apply")
	if w := e.writes(n); !slices.Equal(w, []string{"PUT res_pjsip/aor/bob"}) {
		t.Fatalf("writes %v", w)
	}
	wantLines(t, out, "not in the file any more, kept (--prune deletes them): res_pjsip/auth/alice, res_pjsip/aor/alice, res_pjsip/endpoint/alice")

	// --plan --prune shows the deletions and deletes nothing.
	n = len(e.ari.Requests())
	out = e.mustRun(bobOnly, "--prune")
	wantLines(t, out, "-   delete     res_pjsip/endpoint/alice", "-   delete     res_pjsip/aor/alice", "-   delete     res_pjsip/auth/alice",
		"Plan: 0 to create, 0 to update, 0 to replace, 3 to delete, 1 unchanged.", "run with --apply --prune")
	if w := e.writes(n); len(w) != 0 {
		t.Fatalf("plan wrote %v", w)
	}

	n = len(e.ari.Requests())
	out = e.mustRun(bobOnly, "--apply", "--prune")
	if w := e.writes(n); !slices.Equal(w, []string{"DELETE res_pjsip/endpoint/alice", "DELETE res_pjsip/aor/alice", "DELETE res_pjsip/auth/alice"}) {
		t.Fatalf("writes %v", w)
	}
	wantLines(t, out, "deleted    res_pjsip/endpoint/alice", "Apply complete: 0 created, 0 updated, 0 replaced, 3 deleted, 1 unchanged.")
	if _, ok := e.ari.Object("res_pjsip", "auth", "alice"); ok {
		t.Error("auth still there")
	}
	// The record no longer names them: nothing left to prune.
	n = len(e.ari.Requests())
	e.mustRun(bobOnly, "--apply", "--prune")
	if w := e.writes(n); len(w) != 0 {
		t.Errorf("writes %v", w)
	}
}

// Losing the state file must never cause a deletion.
func TestProvisionLostStateDeletesNothing(t *testing.T) {
	e := newProvisionEnv(t)
	e.mustRun(aliceSorcery, "--apply")
	if err := os.Remove(e.state); err != nil {
		t.Fatal(err)
	}
	n := len(e.ari.Requests())
	e.mustRun("", "--apply", "--prune")
	if w := e.writes(n); len(w) != 0 {
		t.Fatalf("writes %v", w)
	}
}

func TestProvisionStaticWizardExplains(t *testing.T) {
	e := newProvisionEnv(t)
	for _, typ := range []string{"auth", "aor", "endpoint"} {
		e.ari.StaticOnly("res_pjsip", typ)
	}
	code, out, errOut := e.run(aliceSorcery, "--apply")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	wantLines(t, out, "FAILED     res_pjsip/auth/alice  create failed",
		"Apply stopped: create res_pjsip/auth/alice failed.",
		"applied (0): none",
		"not applied (3): res_pjsip/auth/alice (create, failed), res_pjsip/aor/alice (create), res_pjsip/endpoint/alice (create)",
		// Running again cannot help until sorcery.conf changes.
		"Running it again cannot succeed until Asterisk's configuration changes (sorcery.conf maps the type to a writable wizard")
	if strings.Contains(out, "Run the same command again to continue") {
		t.Errorf("advises a rerun that cannot work:\n%s", out)
	}
	wantLines(t, errOut, `Asterisk cannot create res_pjsip/auth/alice (403 "Cannot create sorcery objects of type 'auth'")`,
		"sorcery.conf and restart Asterisk", "[res_pjsip]", "auth = config,pjsip.conf,criteria=type=auth", "auth = astdb,ps_auths")
	if _, err := os.Stat(e.state); err == nil {
		t.Error("state file written although nothing was applied")
	}
}

// The 3rd request is the GET of the endpoint while planning: nothing is
// applied, and a rerun does it all.
func TestProvisionThirdRequestFailsWhilePlanning(t *testing.T) {
	e := newProvisionEnv(t)
	e.ari.FailRequest(3, aritest.Fault{Status: 500, Message: "Internal Server Error"})
	code, out, errOut := e.run(aliceSorcery, "--apply")
	if code != 1 || len(e.writes(0)) != 0 {
		t.Fatalf("exit %d, writes %v", code, e.writes(0))
	}
	wantLines(t, out, "Planning stopped: reading res_pjsip/endpoint/alice:", "Nothing was applied.")
	wantLines(t, errOut, `Asterisk answered 500 "Internal Server Error" to GET res_pjsip/endpoint/alice`)

	out = e.mustRun(aliceSorcery, "--apply")
	wantLines(t, out, "Apply complete: 3 created")
}

// The 3rd write fails (the connection drops): the report says auth and aor
// were applied and the endpoint was not; the rerun creates only the
// endpoint.
func TestProvisionThirdWriteFailsThenRerunFinishes(t *testing.T) {
	e := newProvisionEnv(t)
	e.ari.FailMethod("PUT", 3, aritest.Fault{Drop: true})
	code, out, errOut := e.run(aliceSorcery, "--apply")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	wantLines(t, out,
		"created    res_pjsip/auth/alice", "created    res_pjsip/aor/alice", "FAILED     res_pjsip/endpoint/alice  create failed",
		"Apply stopped: create res_pjsip/endpoint/alice failed.",
		"applied (2): res_pjsip/auth/alice (created), res_pjsip/aor/alice (created)",
		"not applied (1): res_pjsip/endpoint/alice (create, failed)",
		"Run the same command again to continue")
	wantLines(t, errOut, "no answer from ARI at "+e.ari.URL()+"/asterisk/config/dynamic/res_pjsip/endpoint/alice")

	n := len(e.ari.Requests())
	out = e.mustRun(aliceSorcery, "--apply")
	if w := e.writes(n); !slices.Equal(w, []string{"PUT res_pjsip/endpoint/alice"}) {
		t.Fatalf("rerun writes %v", w)
	}
	wantLines(t, out, "unchanged  res_pjsip/auth/alice", "unchanged  res_pjsip/aor/alice", "created    res_pjsip/endpoint/alice",
		"Apply complete: 1 created, 0 updated, 0 replaced, 0 deleted, 2 unchanged.")
}

// identify match accumulates on PUT: a changed match is DELETE then PUT, so
// that the old address does not stay. The identify goes after its endpoint.
func TestProvisionAccumulatingFieldReplaced(t *testing.T) {
	e := newProvisionEnv(t)
	identify := func(match string) string {
		return `
[[sorcery]]
class = "res_pjsip"
type = "identify"
id = "alice"
fields = { endpoint = "alice", match = "` + match + `" }
` + aliceSorcery
	}
	e.mustRun(identify("192.0.2.1"), "--apply")
	if w := e.writes(0); !slices.Equal(w, []string{"PUT res_pjsip/auth/alice", "PUT res_pjsip/aor/alice", "PUT res_pjsip/endpoint/alice", "PUT res_pjsip/identify/alice"}) {
		t.Fatalf("writes %v", w)
	}
	out := e.mustRun(identify("192.0.2.1"))
	wantLines(t, out, "4 unchanged") // Asterisk shows 192.0.2.1/255.255.255.255

	n := len(e.ari.Requests())
	out = e.mustRun(identify("192.0.2.2"), "--apply")
	if w := e.writes(n); !slices.Equal(w, []string{"DELETE res_pjsip/identify/alice", "PUT res_pjsip/identify/alice"}) {
		t.Fatalf("writes %v", w)
	}
	wantLines(t, out, "replaced   res_pjsip/identify/alice  match")
	if id, _ := e.ari.Object("res_pjsip", "identify", "alice"); id["match"] != "192.0.2.2/255.255.255.255" {
		t.Errorf("match %q", id["match"])
	}
}

// A changed codec list goes out whole, disallow first, in one PUT: a PUT
// of allow alone would add to the old codecs, one of disallow alone would
// strip them all.
func TestProvisionCodecChange(t *testing.T) {
	e := newProvisionEnv(t)
	e.mustRun(aliceSorcery, "--apply")
	changed := strings.Replace(aliceSorcery, `allow = "!all,g722,ulaw,alaw"`, `disallow = "all"`+"\n  allow = \"opus,ulaw\"", 1)
	n := len(e.ari.Requests())
	e.mustRun(changed, "--apply")
	var puts [][]byte
	for _, r := range e.ari.Requests()[n:] {
		if r.Method == "PUT" {
			puts = append(puts, r.Body)
		}
	}
	want := `{"fields":[{"attribute":"disallow","value":"all"},{"attribute":"allow","value":"opus,ulaw"}]}`
	if len(puts) != 1 || !sameJSON(puts[0], want) {
		t.Fatalf("PUTs %q", puts)
	}
	if ep, _ := e.ari.Object("res_pjsip", "endpoint", "alice"); ep["allow"] != "(opus|ulaw)" {
		t.Errorf("allow %q", ep["allow"])
	}
}

// An endpoint without codecs: Asterisk answers 200 and cannot read it
// back. Warn; one PUT per run, no loop.
func TestProvisionEndpointWithoutCodecs(t *testing.T) {
	e := newProvisionEnv(t)
	const bob = `
[[sorcery]]
class = "res_pjsip"
type = "endpoint"
id = "bob"
fields = { context = "default" }
`
	code, out, errOut := e.run(bob, "--apply")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	wantLines(t, out, "has no codecs", "created    res_pjsip/endpoint/bob", "cannot read the object back (an endpoint without codecs vanishes")
	if w := e.writes(0); len(w) != 1 {
		t.Errorf("writes %v", w)
	}
}

func TestProvisionRefusedFieldExplains(t *testing.T) {
	e := newProvisionEnv(t)
	bad := strings.Replace(aliceSorcery, `auth_type = "userpass",`, `auth_type = "userpass", nonce_lifetime = "soon",`, 1)
	code, _, errOut := e.run(bad, "--apply")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	wantLines(t, errOut, "Asterisk refused a field name or value of res_pjsip/auth/alice",
		`400 "Creation of object 'alice' failed field value validation"`,
		"Fields sent: auth_type=userpass nonce_lifetime=soon username=alice password=******")
}

func TestProvisionCredentialsAndConnection(t *testing.T) {
	e := newProvisionEnv(t)
	t.Setenv("PROVISION_TEST_ARI_PW", "wrong-ari-Zq9x")
	code, _, errOut := e.run(aliceSorcery)
	if code != 1 || strings.Contains(errOut, "wrong-ari-Zq9x") {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	wantLines(t, errOut, `ARI refused the credentials of user "asterisk" (401 "Authentication required")`, "ari.conf")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + l.Addr().String() + "/ari"
	l.Close()
	code, _, errOut = e.run(aliceSorcery)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	wantLines(t, errOut, "no answer from ARI at "+e.url+"/asterisk/config/dynamic/", "connection refused", "http.conf")
}

func TestProvisionUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"provision"}, 2, provisionUsage},
		{[]string{"provision", "--config", "x.toml", "--plan", "--apply"}, 2, "exclude each other"},
		{[]string{"provision", "--config", "/nonexistent/c.toml"}, 1, "no such file"},
	} {
		code, _, errOut := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.err) {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, errOut)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(path, []byte("[companion]\nname = \"n\"\neid = \"02:42:ac:11:00:02\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI("provision", "--config", path); code != 1 || !strings.Contains(errOut, "no [ari] section") {
		t.Errorf("without [ari]: exit %d, stderr %q", code, errOut)
	}
}

// Two runs applying with one state file would overwrite each other's
// record: the second is refused, touching nothing; a plan still reads.
func TestProvisionApplyRefusedWhileAnotherRunHoldsTheLock(t *testing.T) {
	e := newProvisionEnv(t)
	unlock, err := provision.LockState(e.state)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut := e.run(aliceSorcery, "--apply")
	if code != 1 || len(e.ari.Requests()) != 0 {
		t.Fatalf("exit %d with %d requests, want 1 and none", code, len(e.ari.Requests()))
	}
	wantLines(t, errOut, "another provisioning run is applying with this state file", e.state+".lock")
	wantLines(t, e.mustRun(aliceSorcery, "--plan"), "Plan: 3 to create")
	unlock()
	wantLines(t, e.mustRun(aliceSorcery, "--apply"), "Apply complete: 3 created")
}

// companion run applies the same plan, without pruning.
func TestApplySorceryForDaemon(t *testing.T) {
	e := newProvisionEnv(t)
	e.mustRun(aliceSorcery, "--apply")
	cfg, status := loadConfig(e.config(`
[[sorcery]]
class = "res_pjsip"
type = "aor"
id = "bob"
`), &bytes.Buffer{})
	if cfg == nil {
		t.Fatalf("config: %d", status)
	}
	n := len(e.ari.Requests())
	var out bytes.Buffer
	if err := applySorcery(context.Background(), cfg, &out, false); err != nil {
		t.Fatal(err)
	}
	e.outs = append(e.outs, out.String())
	if w := e.writes(n); !slices.Equal(w, []string{"PUT res_pjsip/aor/bob"}) {
		t.Fatalf("writes %v (no pruning expected)", w)
	}
	wantLines(t, out.String(), "created    res_pjsip/aor/bob", "Apply complete: 1 created")

	// The keeper's rechecks are quiet: nothing printed while Asterisk
	// matches, the whole report once it does not.
	out.Reset()
	n = len(e.ari.Requests())
	if err := applySorcery(context.Background(), cfg, &out, true); err != nil || out.Len() != 0 || len(e.writes(n)) != 0 {
		t.Errorf("quiet recheck of a match: err %v, writes %v, printed %q", err, e.writes(n), out.String())
	}
	e.ari.DeleteObject("res_pjsip", "aor", "bob")
	if err := applySorcery(context.Background(), cfg, &out, true); err != nil {
		t.Fatal(err)
	}
	wantLines(t, out.String(), "+   create     res_pjsip/aor/bob", "created    res_pjsip/aor/bob", "Apply complete: 1 created")
	out.Reset()

	e.ari.StaticOnly("res_pjsip", "aor")
	cfg, _ = loadConfig(e.config(`
[[sorcery]]
class = "res_pjsip"
type = "aor"
id = "carol"
`), &bytes.Buffer{})
	err := applySorcery(context.Background(), cfg, &out, false)
	if err == nil || !strings.Contains(err.Error(), "aor = astdb,ps_aors") {
		t.Errorf("error %v", err)
	}

	cfg.Sorcery = nil
	n = len(e.ari.Requests())
	if err := applySorcery(context.Background(), cfg, &out, false); err != nil || len(e.ari.Requests()) != n {
		t.Errorf("no objects: err %v, %d requests", err, len(e.ari.Requests())-n)
	}
}
