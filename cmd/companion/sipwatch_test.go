package main

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
)

// sipHead is what the harness reads of a SIP datagram: the start line and
// the few headers it needs, full or compact names.
type sipHead struct {
	request       bool
	method        string // of a request
	status        int    // of a response
	callID, cseq  string // CSeq as "N METHOD"
	ifMatch       string
	expires       string
	contentLength int
}

func parseSIP(p []byte) (sipHead, bool) {
	end := bytes.Index(p, []byte("\r\n\r\n"))
	if end < 0 {
		return sipHead{}, false
	}
	lines := strings.Split(string(p[:end]), "\r\n")
	var h sipHead
	start := strings.Fields(lines[0])
	switch {
	case len(start) >= 2 && start[0] == "SIP/2.0":
		h.status, _ = strconv.Atoi(start[1])
	case len(start) == 3 && start[2] == "SIP/2.0":
		h.request, h.method = true, start[0]
	default:
		return sipHead{}, false
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i":
			h.callID = value
		case "cseq":
			h.cseq = strings.Join(strings.Fields(value), " ")
		case "sip-if-match":
			h.ifMatch = value
		case "expires":
			h.expires = value
		case "content-length", "l":
			h.contentLength, _ = strconv.Atoi(value)
		}
	}
	return h, true
}

// refreshAnswerDropper loses the 2xx answers to a publisher's refreshes
// (body-less PUBLISHes naming an entity tag, not removals): observe sees
// the publisher's datagrams (faultnet.Faults.Drop of its direction, never
// dropping), drop the peer's (faultnet.Faults.Drop of the other
// direction). Retransmitted answers to the same request are lost too.
type refreshAnswerDropper struct {
	mu       sync.Mutex
	refresh  map[string]bool // Call-ID + CSeq of refreshes seen
	lostFor  map[string]int  // answers dropped, by Call-ID (one publication each)
	requests int             // refreshes seen
}

func newRefreshAnswerDropper() *refreshAnswerDropper {
	return &refreshAnswerDropper{refresh: map[string]bool{}, lostFor: map[string]int{}}
}

func (d *refreshAnswerDropper) observe(p []byte) bool {
	h, ok := parseSIP(p)
	if ok && h.request && h.method == "PUBLISH" && h.ifMatch != "" && h.contentLength == 0 && h.expires != "0" {
		d.mu.Lock()
		d.refresh[h.callID+" "+h.cseq] = true
		d.requests++
		d.mu.Unlock()
	}
	return false
}

func (d *refreshAnswerDropper) drop(p []byte) bool {
	h, ok := parseSIP(p)
	if !ok || h.request || h.status < 200 || h.status >= 300 {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.refresh[h.callID+" "+h.cseq] {
		return false
	}
	d.lostFor[h.callID]++
	return true
}

// publications is how many publications lost a refresh answer so far.
func (d *refreshAnswerDropper) publications() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lostFor)
}
