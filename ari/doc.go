// Package ari is the companion's adapter to the local Asterisk's REST
// interface, and the only importer of github.com/CyCoreSystems/ari/v6. It
// reads the Entity ID (GET /asterisk/info), implements
// provision.Store (/asterisk/config/dynamic) for provisioning and
// companion.Applier for apply mode "ari" (/deviceStates, /mailboxes).
// Besides ari/v6 it imports only companion/ and companion/provision (for
// Store, Key and the sorcery errors); cmd/ wires it, and ari/aritest is the
// fake ARI its tests talk to.
//
// ari/v6 is used REST-only (native.New, never Connect, which waits for the
// events websocket). Its traps, and what this package does about them:
//
//   - Its http.Client is unexported and zero-valued and it takes no context:
//     no call would ever time out. Every request is routed through a
//     transport of ours that bounds it (transport.go).
//   - It decodes error bodies as data and keeps only "Non-2XX response":
//     the transport captures status and body, and errors are built from
//     those (Asterisk's message included).
//   - Config().Update discards the PUT's answer: provisioning reads the
//     object back with GET.
//   - It puts ids and device names into URL paths unescaped: sorcery ids are
//     checked here too (config load already refuses unsafe ones), device and
//     mailbox names are escaped here (escape.go). Escaping is not enough
//     for control bytes, which Asterisk decodes back into the name: any
//     path part holding a byte below 0x20 or 0x7f is refused before a
//     request is made, with an *UnsafeNameError (ErrUnsafeName).
//   - Mailbox().Update sends the counts as JSON strings, which Asterisk
//     reads as 0 (ast_json_integer_get): that one call goes around the
//     library, with the counts in the query string as Asterisk documents.
package ari
