package provision

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProvisionStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "provisioned.json") // the folder is created
	s, err := LoadState(path)
	if err != nil || len(s.Objects) != 0 {
		t.Fatalf("missing file: %v %v", s, err)
	}
	s.Target = "http://127.0.0.1:8088/ari"
	s.set(Key{"res_pjsip", "auth", "alice"}, []string{"username", "password"})
	s.set(Key{"res_pjsip", "endpoint", "alice"}, []string{"allow"})
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Target != s.Target || len(got.Objects) != 2 || got.record(Key{"res_pjsip", "auth", "alice"}).Fields[1] != "password" {
		t.Fatalf("read back %+v", got)
	}
	// Nothing but the file is left in the folder: the temporary file was
	// renamed over it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %v", entries)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if !s.forget(Key{"res_pjsip", "auth", "alice"}) || s.forget(Key{"res_pjsip", "auth", "alice"}) {
		t.Error("forget")
	}
}

// A state file that cannot be read is never replaced silently: it may be
// the only record of what prune may delete.
func TestProvisionStateCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "provisioned.json")
	for _, content := range []string{"{not json", `{"version": 7, "objects": []}`} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: error %v", content, err)
		}
	}
}

func TestLockProvisionState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "provisioned.json")
	unlock, err := LockState(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second open file description, as another process would have.
	_, err = LockState(path)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), path+".lock") {
		t.Fatalf("second lock: %v, want ErrBusy naming the lock file", err)
	}
	unlock()
	unlock2, err := LockState(path)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("locking created the state file itself: %v", err)
	}
}
