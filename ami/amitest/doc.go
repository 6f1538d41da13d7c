// Package amitest is a fake Asterisk Manager Interface for tests. It
// listens on 127.0.0.1 (random port), speaks the banner and the login,
// answers actions from recorded transcripts and lets a test play recorded
// events into a session, drop it mid-message or let it fall silent, so
// tests drive real AMI clients over a real socket.
//
// It imports the standard library only and serves the tests of ami/; the
// transcripts it replays are in fixtures/ami.
package amitest
