package companion

// The benchmarks reach the publisher through these two, so that the same
// benchmark file runs against older publishers for comparison.

func newBenchPublisher(peer *PeerConfig, local *Table, s Sender) *Publisher {
	return NewPublisher(peer, EventDeviceState, meEID, local, func() Sender { return s }, PublisherOptions{})
}

func benchEnqueue(p *Publisher, e Entry) { p.enqueue(e, true) }

func benchEnqueueBulk(p *Publisher, e Entry) { p.enqueue(e, false) }
