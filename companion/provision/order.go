package provision

import (
	"slices"
	"strings"

	"github.com/astcompanion/sidecar/companion"
)

// PJSIP looks objects up by name when a request arrives: an endpoint whose
// auth or aor does not exist yet rejects REGISTERs, an identify whose
// endpoint is missing matches nothing. So objects are created after the
// objects they name and deleted before them.

// typeRank orders types that do not name each other: the order of the
// seed document (auth, aor before endpoint), then everything else.
var typeRank = map[string]int{
	"auth": 0, "aor": 1, "domain_alias": 2, "transport": 3,
	"identify": 4, "registration": 5, "endpoint": 6,
}

func rankOf(typ string) int {
	if r, ok := typeRank[typ]; ok {
		return r
	}
	return len(typeRank)
}

// refFields says which fields name which other objects, by type.
var refFields = map[string]map[string]string{
	"endpoint":             {"auth": "auth", "outbound_auth": "auth", "aors": "aor", "transport": "transport"},
	"identify":             {"endpoint": "endpoint"},
	"registration":         {"outbound_auth": "auth", "transport": "transport", "endpoint": "endpoint"},
	"outbound-publish":     {"outbound_auth": "auth", "transport": "transport"},
	"inbound-publication":  {"endpoint": "endpoint"},
	"asterisk-publication": {"devicestate_publish": "outbound-publish", "mailboxstate_publish": "outbound-publish"},
}

// objectRef is a type and id an object names. The class is left out:
// identify and asterisk-publication live in res_pjsip like the rest.
type objectRef struct{ Type, ID string }

// references lists the objects named by fields of an object of type typ.
func references(typ string, fields []companion.SorceryField) []objectRef {
	var refs []objectRef
	for _, f := range fields {
		target, ok := refFields[typ][f.Name]
		if !ok {
			continue
		}
		for _, id := range splitList(f.Value) {
			refs = append(refs, objectRef{Type: target, ID: id})
		}
	}
	return refs
}

// orderNode is one object to order.
type orderNode struct {
	key  Key
	refs []objectRef
}

// dependencyOrder returns the indexes of nodes so that every node comes
// after the nodes it names; among nodes that are free to go, the lower type
// rank goes first, then the earlier one. References to objects not among
// nodes are ignored (they may live in pjsip.conf). Nodes caught in a cycle
// follow in rank order and are returned in cycle.
func dependencyOrder(nodes []orderNode) (order []int, cycle []Key) {
	index := map[objectRef]int{}
	for i, n := range nodes {
		index[objectRef{n.key.Type, n.key.ID}] = i
	}
	waiting := make([]int, len(nodes)) // how many named nodes are not placed yet
	named := make([][]int, len(nodes)) // reverse edges: who names node i
	for i, n := range nodes {
		seen := map[int]bool{}
		for _, r := range n.refs {
			j, ok := index[r]
			if !ok || j == i || seen[j] {
				continue
			}
			seen[j] = true
			waiting[i]++
			named[j] = append(named[j], i)
		}
	}
	less := func(a, b int) int {
		if ra, rb := rankOf(nodes[a].key.Type), rankOf(nodes[b].key.Type); ra != rb {
			return ra - rb
		}
		return a - b
	}
	placed := make([]bool, len(nodes))
	for len(order) < len(nodes) {
		next := -1
		for i := range nodes {
			if !placed[i] && waiting[i] == 0 && (next < 0 || less(i, next) < 0) {
				next = i
			}
		}
		if next < 0 { // a cycle: place the rest by rank
			var rest []int
			for i := range nodes {
				if !placed[i] {
					rest = append(rest, i)
					cycle = append(cycle, nodes[i].key)
				}
			}
			slices.SortFunc(rest, less)
			return append(order, rest...), cycle
		}
		placed[next] = true
		order = append(order, next)
		for _, k := range named[next] {
			waiting[k]--
		}
	}
	return order, nil
}

// keyList joins keys for messages.
func keyList(keys []Key) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}
