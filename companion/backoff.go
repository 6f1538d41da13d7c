package companion

import "time"

// Default bounds of the delay between retries of a PUBLISH or a write.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
)

// backoffBounds fills unset bounds with the defaults and keeps max >= min.
func backoffBounds(minD, maxD time.Duration) (time.Duration, time.Duration) {
	if minD <= 0 {
		minD = DefaultMinBackoff
	}
	if maxD <= 0 {
		maxD = DefaultMaxBackoff
	}
	return minD, max(minD, maxD)
}

// backoffDelay is the wait after failures failures in a row: minD,
// doubling with each further failure, capped at maxD.
func backoffDelay(minD, maxD time.Duration, failures int) time.Duration {
	d := minD
	for i := 1; i < failures && d < maxD; i++ {
		d *= 2
	}
	return min(d, maxD)
}

// BackoffBounds is backoffBounds for the provisioning keeper
// (companion/provision), which retries the way the publisher and apply do.
func BackoffBounds(minD, maxD time.Duration) (time.Duration, time.Duration) {
	return backoffBounds(minD, maxD)
}

// BackoffDelay is backoffDelay for the provisioning keeper.
func BackoffDelay(minD, maxD time.Duration, failures int) time.Duration {
	return backoffDelay(minD, maxD, failures)
}
