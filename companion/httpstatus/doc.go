// Package httpstatus is the companion's status listener ([companion]
// http_listen): /metrics in the Prometheus text format, /healthz and
// /readyz for supervisors and load balancers, and /status, the JSON that
// "companion status" reads.
//
// It is the only package that imports the Prometheus client. It keeps no
// counters of its own: at every request it reads the snapshots the
// domain and the adapters keep (Source), so a scrape costs nothing
// between scrapes and the hot paths pay only their atomic adds.
//
// It serves GET and HEAD only, with bounded header size, timeouts and
// connection count, and nothing it writes comes from the configuration
// file except names and addresses: never a secret.
package httpstatus
