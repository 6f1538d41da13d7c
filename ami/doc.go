// Package ami is the companion's adapter to the local Asterisk's Manager
// Interface, through github.com/ivahaev/amigo v0.1.10; nothing else in the
// project imports amigo. Besides amigo it imports only companion/; cmd/
// wires it, and ami/amitest is the fake AMI server its tests talk to.
//
// A Client is both the source of local state and a sink for remote state:
//
//   - Source: after every (re)connect it reads a snapshot (DeviceStateList;
//     mailbox counts from VoicemailUsersList where app_voicemail is loaded,
//     MWIGet where res_mwi_external_ami is) and hands it to a
//     companion.Observer, then follows DeviceStateChange and MessageWaiting
//     events. Echoes of its own writes are reported like any event:
//     companion.Local leaves them out.
//   - Sink: companion.Applier, with Setvar DEVICE_STATE(<name>) and
//     MWIUpdate. Errors wrapping companion.ErrUnsupported are permanent;
//     retrying is the caller's business.
//
// amigo escapes nothing, so the client sends nothing that could end an
// action early or smuggle in another: every action passes checkAction
// (in do) before amigo sees it, and the login credentials pass the same
// rule in Run. A header name is 0x21-0x7e without ':'; a value holds no
// CR, LF, NUL, other byte below 0x20 but TAB, or DEL (0x7f). Anything
// else is refused unsent with an *UnsafeHeaderError (ErrUnsafeHeader)
// (TestCheckAction, TestApplyRefusesUnsafeNamesBeforeSending). The other
// way, an event or list item whose device name or mailbox holds a byte
// below 0x20 or 0x7f, or is longer than 255 bytes, is dropped, counted
// (DroppedNames) and logged rate-limited (TestUnsafeNamesFromAsteriskAreDropped).
//
// How the client lives with amigo's weak spots (DESIGN.md §8; the tests
// named here pin each one down):
//
//   - One action in flight, behind a lock without a context: the client
//     queues actions on its own slot, so a caller's ctx can end the wait
//     (TestAmigoRunsOneActionAtATime, TestApplyWaitingForSlotHonoursContext).
//   - A timeout is a map {"Error": "Timeout"} with a nil error: turned into
//     ErrTimeout (TestAmigoTimeoutIsAMapWithNilError, TestApplyTimeout).
//   - Handlers run on amigo's event goroutine, which feeds its reader through
//     a 4096-event buffer: the handler only parses and queues into a
//     per-key coalescing queue drained by the client's own goroutine
//     (TestSlowObserverNeitherStallsNorGrows).
//   - Handlers see events only, never responses, and amigo has no event
//     lists: list items and Complete events are matched by ActionID, and
//     live events that arrive while a list runs are merged into it in wire
//     order (TestAmigoHandlersNeverSeeResponses,
//     TestSnapshotOrderAgainstLiveEvents).
//   - The connect callback fires before amigo counts itself connected: the
//     resync waits for amigo.Connected before its first action.
//   - Bytes that arrive with the login response are lost: the snapshot read
//     after every login covers them (TestAmigoLosesEventsInLoginPacket,
//     TestSnapshotCoversEventLostAtLogin).
//   - Repeated keys collapse (Command's Output lines): the client sends no
//     Command (TestAmigoCollapsesRepeatedKeys).
//   - No Close: after Run returns, amigo keeps reconnecting until the
//     process exits; the client's callbacks are detached by then.
//   - A connection is judged silent only by amigo's keepalive: Ping every
//     5 s, 3 s to answer, both fixed (TestConnectionLifecycle).
//   - amigo joins host and port with a bare ':' (IPv6 hosts get brackets)
//     and logs in as admin/amp111 when either credential is empty (refused).
//
// What amigo makes impossible: a server that accepts the TCP connection
// but never sends the banner or answers the login hangs amigo's connect
// loop for good (no read deadline there, and no way to close its
// connection); an action caught by a drop between amigo's connected check
// and its write waits for the next connection; and amigo's keepalive
// goroutine races with its reconnect loop on the connection id (harmless
// in practice, but the race detector reports it when a connection ends
// before its first keepalive, which the tests therefore avoid).
package ami
