package companion

import "time"

// This file declares what the exchange reports about itself, for the
// status listener (/metrics, /status). The adapters read these snapshots;
// the domain imports no metrics library.

// PublisherStats is what one publisher (one peer, one event) has done.
type PublisherStats struct {
	Peer  string
	Event Event
	// Answers counts PUBLISHes by final status; status 0 counts those that
	// got no final answer (timeout, transport error).
	Answers   map[int]uint64
	Retries   uint64 // PUBLISHes sent again after a failure
	Coalesced uint64 // queued values replaced by a newer one before they went out
	Queued    int    // keys waiting to be sent
	// Publications are the publication slots (max_in_flight), in order.
	Publications []PublicationStats
	LastSent     time.Time // last 2xx
	LastError    string    // "" when the last PUBLISH succeeded
	LastErrorAt  time.Time
	// Latency is AMI in (the local table's change) to the peer's 2xx.
	Latency HistogramSnapshot
}

// PublicationStats is one publication slot towards a peer.
type PublicationStats struct {
	ETag    string    // "" while it has none
	Granted time.Time // when ETag was last granted or refreshed; zero without ETag
	Keys    int       // keys sharded to it
}
