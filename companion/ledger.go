package companion

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
)

// Ledger remembers, across restarts of the companion, what it wrote into
// its Asterisk and for which origin. Asterisk keeps those writes (astdb
// for Custom: devices, res_mwi_external's mailboxes) when the companion
// goes, so after a restart its snapshot lists them beside the truly local
// states; without the ledger the companion would take a peer's mailbox for
// its own and publish it back to its origin, overwriting the real one.
//
// A name in the ledger is never local state (Echoes asks it), and Apply
// clears the ledger's names that no peer asserts again after a restart.
// The file holds names and Entity IDs only, is written atomically, and is
// bounded like the states it stands for.
type Ledger struct {
	path string // "" keeps the ledger in memory only

	mu      sync.Mutex
	entries map[ledgerKey]EntityID
	dirty   bool

	saves atomic.Uint64 // files written, for tests
}

type ledgerKey struct {
	kind Kind
	name string
}

// LedgerEntry is one name the companion wrote, and the origin it wrote it
// for.
type LedgerEntry struct {
	Kind   Kind
	Name   string
	Origin EntityID
}

// MaxLedgerEntries bounds the ledger file as the peers' bounds bound what
// the companion writes.
const MaxLedgerEntries = 1 << 20

// ledgerFile is the file's JSON form.
type ledgerFile struct {
	Version int           `json:"version"`
	Entries []ledgerEntry `json:"entries"`
}

type ledgerEntry struct {
	Kind   string `json:"kind"` // "device" or "mailbox"
	Name   string `json:"name"`
	Origin string `json:"origin"`
}

// OpenLedger reads the ledger at path; a missing file is an empty ledger.
// path "" gives a ledger kept in memory only. An unreadable or damaged
// file is an error: the caller decides whether to go on without it.
func OpenLedger(path string) (*Ledger, error) {
	l := &Ledger{path: path, entries: make(map[ledgerKey]EntityID)}
	if path == "" {
		return l, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("ledger: %w", err)
	}
	defer f.Close()
	var lf ledgerFile
	// A name is at most MaxNameLen bytes: bound what is read.
	if err := json.NewDecoder(io.LimitReader(f, MaxLedgerEntries*(MaxNameLen+64))).Decode(&lf); err != nil {
		return l, fmt.Errorf("ledger %s: not a ledger: %w", path, err)
	}
	if lf.Version != 1 {
		return l, fmt.Errorf("ledger %s: version %d unknown", path, lf.Version)
	}
	for i, e := range lf.Entries {
		if i >= MaxLedgerEntries {
			break
		}
		var k Kind
		switch e.Kind {
		case "device":
			k = KindDevice
		case "mailbox":
			k = KindMailbox
		default:
			return l, fmt.Errorf("ledger %s: entry %d: kind %q", path, i+1, e.Kind)
		}
		origin, err := ParseEntityID(e.Origin)
		if err != nil {
			return l, fmt.Errorf("ledger %s: entry %d: %w", path, i+1, err)
		}
		if err := CheckName(e.Name); err != nil {
			return l, fmt.Errorf("ledger %s: entry %d: %w", path, i+1, err)
		}
		l.entries[ledgerKey{k, e.Name}] = origin
	}
	return l, nil
}

// Path is the ledger's file, "" for one kept in memory.
func (l *Ledger) Path() string { return l.path }

// Record notes that name was written for origin.
func (l *Ledger) Record(kind Kind, name string, origin EntityID) {
	k := ledgerKey{kind, name}
	l.mu.Lock()
	defer l.mu.Unlock()
	if o, ok := l.entries[k]; ok && o == origin {
		return
	}
	if _, ok := l.entries[k]; !ok && len(l.entries) >= MaxLedgerEntries {
		return
	}
	l.entries[k] = origin
	l.dirty = true
}

// Forget notes that name holds nothing of a peer any more.
func (l *Ledger) Forget(kind Kind, name string) {
	k := ledgerKey{kind, name}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.entries[k]; ok {
		delete(l.entries, k)
		l.dirty = true
	}
}

// Has reports whether name was written for a peer and not cleared since.
func (l *Ledger) Has(kind Kind, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.entries[ledgerKey{kind, name}]
	return ok
}

// Entries returns the ledger, sorted by kind and name.
func (l *Ledger) Entries() []LedgerEntry {
	l.mu.Lock()
	out := make([]LedgerEntry, 0, len(l.entries))
	for k, o := range l.entries {
		out = append(out, LedgerEntry{Kind: k.kind, Name: k.name, Origin: o})
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b LedgerEntry) int {
		return compareKeys(Key{a.Kind, a.Name}, Key{b.Kind, b.Name})
	})
	return out
}

// Save writes the ledger if it changed since the last Save: to a
// temporary file in the same folder, synced, then renamed over the old
// one, so that a crash leaves the old ledger or the new one, never half.
func (l *Ledger) Save() error {
	l.mu.Lock()
	if !l.dirty || l.path == "" {
		l.mu.Unlock()
		return nil
	}
	lf := ledgerFile{Version: 1, Entries: make([]ledgerEntry, 0, len(l.entries))}
	for k, o := range l.entries {
		lf.Entries = append(lf.Entries, ledgerEntry{Kind: k.kind.String(), Name: k.name, Origin: o.String()})
	}
	l.dirty = false
	l.mu.Unlock()
	slices.SortFunc(lf.Entries, func(a, b ledgerEntry) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	b, err := lf.encode()
	if err == nil {
		err = WriteFileAtomic(l.path, b)
		l.saves.Add(1)
	}
	if err != nil {
		l.mu.Lock()
		l.dirty = true // try again at the next Save
		l.mu.Unlock()
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// WriteFileAtomic writes b to path through a temporary file in the same
// folder: written, synced, renamed over the old file, and the folder
// synced, so that a crash leaves the old file or the new one, never a torn
// one. The ledger and the provisioning state file both use it.
func WriteFileAtomic(path string, b []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the folder is synced.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// encode writes the file one entry a line: readable and diffable, and
// without the cost of json.MarshalIndent's second pass over the whole
// file, which a burst of new names pays at every save.
func (lf ledgerFile) encode() ([]byte, error) {
	var b bytes.Buffer
	b.Grow(64 + 80*len(lf.Entries))
	fmt.Fprintf(&b, "{\"version\":%d,\"entries\":[", lf.Version)
	for i, e := range lf.Entries {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n ")
		b.Write(line)
	}
	b.WriteString("\n]}\n")
	return b.Bytes(), nil
}
