// Package faultnet injects network faults between two endpoints on
// loopback, for tests and benchmarks of whole companions.
//
// A UDPRelay stands for one target address: whoever sends datagrams to
// Addr reaches the target, and the target's answers go back the same way,
// each client source through an upstream socket of its own (so the target
// answers to the relay, as it would to a NAT). On command it drops,
// delays (fixed plus jitter), duplicates and reorders datagrams, in each
// direction separately, and drops those a predicate picks. A Link joins
// two endpoints A and B with two relays, so that both A→B and B→A traffic
// (requests one way, their answers the other) can be faulted by
// direction.
//
// A TCPProxy forwards byte streams to a target and, on command, delays
// them, stalls them (bytes are held, connections stay open), cuts every
// open connection, or stops listening (connections are refused) and
// listens again on the same port.
//
// Heal turns every fault off; counters tell what was done. Randomness is
// drawn from a seeded generator, so a given seed makes the same decisions
// for the same sequence of datagrams. Every goroutine ends on Close, and
// every wait inside is bounded by Close.
package faultnet
