package aritest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// getInfo is GET /asterisk/info, with ?only=system.
func (s *Server) getInfo(r *http.Request) answer {
	if r.Method != http.MethodGet {
		return message(http.StatusMethodNotAllowed, "Invalid method")
	}
	if r.URL.Query().Get("only") == "system" {
		var sys string
		if i := strings.Index(s.info, `"system":`); i >= 0 {
			j := strings.IndexByte(s.info[i:], '}')
			sys = s.info[i : i+j+1]
		}
		return answer{status: http.StatusOK, body: "{" + sys + "}"}
	}
	return answer{status: http.StatusOK, body: s.info}
}

// param reads a parameter from the query, or from a JSON body as ARI's
// generated *_parse_body functions do: a string parameter from a JSON
// string, an integer one only from a JSON number (a string gives 0).
func param(r *http.Request, body any, name string, integer bool) (string, bool) {
	v, inQuery := r.URL.Query()[name]
	val, ok := "", inQuery
	if inQuery {
		val = v[0]
	}
	if m, isMap := body.(map[string]any); isMap {
		if f, present := m[name]; present {
			ok = true
			switch x := f.(type) {
			case string:
				if integer {
					val = "0"
				} else {
					val = x
				}
			case float64:
				val = strconv.Itoa(int(x))
			default:
				val = ""
			}
		}
	}
	return val, ok
}

// deviceStates is /deviceStates[/{deviceName}] (res/ari/resource_device_states.c,
// res/stasis/app/stasis_app_device_state.c).
func (s *Server) deviceStates(r *http.Request, rest []string, body any) answer {
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return message(http.StatusMethodNotAllowed, "Invalid method")
		}
		var names []string
		for n := range s.devices {
			if isStasis(n) {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		list := []map[string]string{}
		for _, n := range names {
			list = append(list, map[string]string{"name": n, "state": s.devices[n]})
		}
		return jsonAnswer(http.StatusOK, list)
	}
	name := rest[0]
	switch r.Method {
	case http.MethodGet:
		st, ok := s.devices[name]
		if !ok {
			st = "UNKNOWN"
		}
		return jsonAnswer(http.StatusOK, map[string]string{"name": name, "state": st})
	case http.MethodPut:
		if !isStasis(name) {
			return message(http.StatusConflict, "Uncontrolled device specified")
		}
		if len(name) == len("Stasis:") {
			return message(http.StatusNotFound, "Device name is missing")
		}
		v, _ := param(r, body, "deviceState", false)
		st, ok := companion.ParseDeviceState(v)
		if !ok || st == companion.Unknown { // ast_devstate_val: UNKNOWN cannot be set
			return message(http.StatusInternalServerError, "Unknown device")
		}
		s.devices[name] = st.String()
		return noContent
	case http.MethodDelete:
		if !isStasis(name) {
			return message(http.StatusConflict, "Uncontrolled device specified")
		}
		delete(s.devices, name)
		return noContent
	}
	return message(http.StatusMethodNotAllowed, "Invalid method")
}

func isStasis(name string) bool {
	return len(name) >= len("Stasis:") && strings.EqualFold(name[:len("Stasis:")], "Stasis:")
}

// mailboxesResource is /mailboxes[/{mailboxName}] (res_mwi_external through
// res_stasis_mailbox).
func (s *Server) mailboxesResource(r *http.Request, rest []string, body any) answer {
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return message(http.StatusMethodNotAllowed, "Invalid method")
		}
		var names []string
		for n := range s.mailboxes {
			names = append(names, n)
		}
		slices.Sort(names)
		list := []mailbox{}
		for _, n := range names {
			list = append(list, mailbox{n, s.mailboxes[n][0], s.mailboxes[n][1]})
		}
		return jsonAnswer(http.StatusOK, list)
	}
	name := rest[0]
	switch r.Method {
	case http.MethodGet:
		m, ok := s.mailboxes[name]
		if !ok {
			return message(http.StatusNotFound, "Mailbox is does not exist")
		}
		return jsonAnswer(http.StatusOK, mailbox{name, m[0], m[1]})
	case http.MethodPut:
		old, _ := param(r, body, "oldMessages", true)
		nw, _ := param(r, body, "newMessages", true)
		s.mailboxes[name] = [2]int{atoi(old), atoi(nw)}
		return noContent
	case http.MethodDelete:
		if _, ok := s.mailboxes[name]; !ok {
			return message(http.StatusNotFound, "Mailbox does not exist")
		}
		delete(s.mailboxes, name)
		return noContent
	}
	return message(http.StatusMethodNotAllowed, "Invalid method")
}

type mailbox struct {
	Name string `json:"name"`
	Old  int    `json:"old_messages"`
	New  int    `json:"new_messages"`
}

// atoi is C's: leading digits, else 0.
func atoi(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
