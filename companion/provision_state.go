package companion

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// ProvisionState is the state file: which sorcery objects provisioning has
// applied, so that --prune knows what it may delete (ARI cannot list
// dynamic objects). It holds names only, never values: no secret lands on
// disk. A missing file is an empty record, so losing it can only make
// prune delete less, never more.
type ProvisionState struct {
	Version int               `json:"version"`
	Target  string            `json:"ari_url"` // the Asterisk the objects live on
	Objects []ProvisionRecord `json:"objects"`
}

// ProvisionRecord is one applied object and the field names last sent, so
// that a field removed from the file can be noticed (Asterisk keeps a
// field's value until the object is re-created).
type ProvisionRecord struct {
	Class  string   `json:"class"`
	Type   string   `json:"type"`
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

// Key returns the record's object key.
func (r ProvisionRecord) Key() SorceryKey { return SorceryKey{r.Class, r.Type, r.ID} }

const provisionStateVersion = 1

// LoadProvisionState reads the state file. A file that does not exist is
// an empty state; a file that cannot be read or parsed is an error (it is
// not silently replaced: it may be the only record of what to prune).
func LoadProvisionState(path string) (*ProvisionState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &ProvisionState{Version: provisionStateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var s ProvisionState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON (%v): move it away to start a new record", path, err)
	}
	if s.Version != provisionStateVersion {
		return nil, fmt.Errorf("state file %s has version %d, this companion reads version %d", path, s.Version, provisionStateVersion)
	}
	return &s, nil
}

// record returns the record of key, or nil.
func (s *ProvisionState) record(key SorceryKey) *ProvisionRecord {
	for i := range s.Objects {
		if s.Objects[i].Key() == key {
			return &s.Objects[i]
		}
	}
	return nil
}

// set records key with the given field names; it reports whether anything
// changed.
func (s *ProvisionState) set(key SorceryKey, fields []string) bool {
	if r := s.record(key); r != nil {
		if slices.Equal(r.Fields, fields) {
			return false
		}
		r.Fields = fields
		return true
	}
	s.Objects = append(s.Objects, ProvisionRecord{Class: key.Class, Type: key.Type, ID: key.ID, Fields: fields})
	return true
}

// forget drops key's record; it reports whether there was one.
func (s *ProvisionState) forget(key SorceryKey) bool {
	n := len(s.Objects)
	s.Objects = slices.DeleteFunc(s.Objects, func(r ProvisionRecord) bool { return r.Key() == key })
	return len(s.Objects) != n
}

func (s *ProvisionState) clone() *ProvisionState {
	c := *s
	c.Objects = make([]ProvisionRecord, len(s.Objects))
	for i, r := range s.Objects {
		r.Fields = slices.Clone(r.Fields)
		c.Objects[i] = r
	}
	return &c
}

// Save writes the state atomically: a temporary file in the same folder,
// fsync, rename over the old one, fsync of the folder. A crash leaves
// either the old file or the new one, never a torn one.
func (s *ProvisionState) Save(path string) (err error) {
	s.Version = provisionStateVersion
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	// The rename is durable only once the folder is synced.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
