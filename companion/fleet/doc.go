// Package fleet shares this node's states with the other members of a
// fleet through a NATS JetStream key-value bucket, instead of a SIP
// full mesh: each node talks to the NATS cluster, not to every other
// node. It is the only importer of nats.go; NATS types stay inside it.
//
// Data model, in one bucket:
//
//   - one key per (origin EID, kind, name), <eid>.<d|m>.<name>, written
//     only by its origin node (NATS permissions can enforce it: a node may
//     publish only to $KV.<bucket>.<its eid>.>). The value is the exact
//     body res_pjsip_publish_asterisk would PUBLISH, read back with the
//     same codec, so a name from the fleet passes the same checks as one
//     from a SIP peer before it can reach AMI or ARI.
//   - one presence key per node, <eid>.presence, written with a per-message
//     TTL (JetStream ≥ 2.11, bucket with LimitMarkerTTL) and refreshed at a
//     third of it. When a node dies its presence expires, the server
//     leaves a delete marker, and every watcher clears that node's states.
//     A node's states are applied only while its presence lives.
//
// Remote states go into the exchange's remote table under their origin's
// EID, so the exchange's Apply writes them with the same echo suppression
// as states from SIP peers. Only this node's own local states are written
// into the bucket: nothing learned from SIP peers or from the fleet is
// relayed, which keeps loops out as in a SIP mesh.
package fleet
