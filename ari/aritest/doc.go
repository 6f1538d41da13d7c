// Package aritest is a fake Asterisk 22.10.1 ARI for tests, on
// net/http/httptest (loopback only). It keeps sorcery objects in memory
// per class/type/id, normalises values and fills defaults like Asterisk,
// answers with Asterisk's statuses and bodies (checked against the
// recordings in fixtures/ari by replay_test.go), and can be told to behave
// as a static config wizard, to fail the Nth request, or to hang.
//
// It imports companion/ (device states, ARIConfig) and the standard
// library; it serves the tests of ari/ and cmd/.
package aritest
