// Package provision keeps the local Asterisk's sorcery objects matching the
// file's [[sorcery]] sections, like terraform plan/apply: a Provisioner
// compares and plans (Plan), applies the plan (Apply) and records what it
// created in a state file (State, LockState) so that --prune knows what it
// may delete; a Keeper re-applies them while the companion runs.
//
// It declares Store, the sorcery store that ari/ implements over
// /asterisk/config/dynamic, with its errors (StoreError, ErrNotFound, ...).
// It imports only companion/ (SorceryObject, Config) and the standard
// library: no adapter. cmd/ wires it to ari/ and to the configuration that
// companion/config loads.
package provision
