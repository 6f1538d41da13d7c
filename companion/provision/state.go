package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/astcompanion/sidecar/companion"
)

// State is the state file: which sorcery objects provisioning has
// applied, so that --prune knows what it may delete (ARI cannot list
// dynamic objects). It holds names only, never values: no secret lands on
// disk. A missing file is an empty record, so losing it can only make
// prune delete less, never more.
type State struct {
	Version int      `json:"version"`
	Target  string   `json:"ari_url"` // the Asterisk the objects live on
	Objects []Record `json:"objects"`
}

// Record is one applied object and the field names last sent, so
// that a field removed from the file can be noticed (Asterisk keeps a
// field's value until the object is re-created).
type Record struct {
	Class  string   `json:"class"`
	Type   string   `json:"type"`
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

// Key returns the record's object key.
func (r Record) Key() Key { return Key{r.Class, r.Type, r.ID} }

const stateVersion = 1

// LoadState reads the state file. A file that does not exist is
// an empty state; a file that cannot be read or parsed is an error (it is
// not silently replaced: it may be the only record of what to prune).
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Version: stateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON (%v): move it away to start a new record", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state file %s has version %d, this companion reads version %d", path, s.Version, stateVersion)
	}
	return &s, nil
}

// record returns the record of key, or nil.
func (s *State) record(key Key) *Record {
	for i := range s.Objects {
		if s.Objects[i].Key() == key {
			return &s.Objects[i]
		}
	}
	return nil
}

// set records key with the given field names; it reports whether anything
// changed.
func (s *State) set(key Key, fields []string) bool {
	if r := s.record(key); r != nil {
		if slices.Equal(r.Fields, fields) {
			return false
		}
		r.Fields = fields
		return true
	}
	s.Objects = append(s.Objects, Record{Class: key.Class, Type: key.Type, ID: key.ID, Fields: fields})
	return true
}

// forget drops key's record; it reports whether there was one.
func (s *State) forget(key Key) bool {
	n := len(s.Objects)
	s.Objects = slices.DeleteFunc(s.Objects, func(r Record) bool { return r.Key() == key })
	return len(s.Objects) != n
}

func (s *State) clone() *State {
	c := *s
	c.Objects = make([]Record, len(s.Objects))
	for i, r := range s.Objects {
		r.Fields = slices.Clone(r.Fields)
		c.Objects[i] = r
	}
	return &c
}

// Save writes the state atomically: a temporary file in the same folder,
// fsync, rename over the old one, fsync of the folder. A crash leaves
// either the old file or the new one, never a torn one.
func (s *State) Save(path string) error {
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := companion.WriteFileAtomic(path, b); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
