// Package companion is the domain of the Asterisk state companion and its
// exchange engine: device and mailbox states, the keys and Entity IDs that
// identify them, the state table shared by the AMI, SIP and ARI sides, the
// filters of res_pjsip_publish_asterisk, its JSON wire codec, the
// configuration types, and the publisher, receiver and apply loops that
// move states between this node and its peers, with the liveness loop
// that clears the states of a peer that fell silent (Exchange).
//
// It imports the standard library only: no adapter, no TOML parser. The
// adapters ami/, ari/ and companion/sipstack implement the small interfaces
// declared here (ports.go); companion/config loads the file into a Config,
// companion/provision pushes its [[sorcery]] objects through ARI; cmd/
// wires them together.
package companion
