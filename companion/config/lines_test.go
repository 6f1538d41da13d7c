package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const trickyTOML = `# a comment with key = value
title = "a = b" # trailing = comment
"quoted key" = 1
'literal.key' = 2
a.b.c = 3
a . "d e" . f = 4
multi = """
not_a_key = 1
[not_a_table]
"""
lit = '''
x = 2 '''
esc = """a \""" b
c = 3"""
arr = [
  "one",   # comment = here
  "two, ]",
  [1, 2],
  { inner = 1 },
]
inline = { x = 1, y = { z = "}" }, w = "{#" }
s = "a # b = c"
when = 1979-05-27 07:32:00Z

[[peer]]
name = "p1"
[peer.publish]
server_uri = "x"

[[peer]]
name = "p2"
publish.server_uri = "y"

[[peer]]
name = "p3"
  [peer.accept]
  match = [
    "1.2.3.4",
    "5.6.7.8",
  ]

[ tbl . "sub.key" ]
k = 1
[[tbl.list]]
v = 1
[[tbl.list]]
v = 2
`

func TestLineIndexTricky(t *testing.T) {
	var v map[string]any
	if _, err := toml.Decode(trickyTOML, &v); err != nil {
		t.Fatalf("the test input must be valid TOML: %v", err)
	}
	x := indexLines(trickyTOML)
	for _, tt := range []struct {
		path []string
		line int
	}{
		{[]string{"title"}, 2},
		{[]string{"quoted key"}, 3},
		{[]string{"literal.key"}, 4},
		{[]string{"a"}, 5},
		{[]string{"a", "b"}, 5},
		{[]string{"a", "b", "c"}, 5},
		{[]string{"a", "d e", "f"}, 6},
		{[]string{"multi"}, 7},
		{[]string{"not_a_key"}, 0},
		{[]string{"not_a_table"}, 0},
		{[]string{"lit"}, 11},
		{[]string{"x"}, 0},
		{[]string{"esc"}, 13},
		{[]string{"c"}, 0},
		{[]string{"arr"}, 15},
		{[]string{"arr", elem(0)}, 16},
		{[]string{"arr", elem(1)}, 17},
		{[]string{"arr", elem(2)}, 18},
		{[]string{"arr", elem(3), "inner"}, 19},
		{[]string{"inline", "x"}, 21},
		{[]string{"inline", "y", "z"}, 21},
		{[]string{"inline", "w"}, 21},
		{[]string{"s"}, 22},
		{[]string{"when"}, 23},
		{[]string{"peer"}, 25},
		{[]string{"peer", elem(0)}, 25},
		{[]string{"peer", elem(0), "name"}, 26},
		{[]string{"peer", elem(0), "publish"}, 27},
		{[]string{"peer", elem(0), "publish", "server_uri"}, 28},
		{[]string{"peer", elem(1)}, 30},
		{[]string{"peer", elem(1), "name"}, 31},
		{[]string{"peer", elem(1), "publish"}, 32},
		{[]string{"peer", elem(1), "publish", "server_uri"}, 32},
		{[]string{"peer", elem(2), "name"}, 35},
		{[]string{"peer", elem(2), "accept"}, 36},
		{[]string{"peer", elem(2), "accept", "match"}, 37},
		{[]string{"peer", elem(2), "accept", "match", elem(1)}, 39},
		{[]string{"tbl", "sub.key"}, 42},
		{[]string{"tbl", "sub.key", "k"}, 43},
		{[]string{"tbl", "list", elem(0), "v"}, 45},
		{[]string{"tbl", "list", elem(1), "v"}, 47},
	} {
		if got := x.line(tt.path...); got != tt.line {
			t.Errorf("line(%q) = %d, want %d", tt.path, got, tt.line)
		}
	}
	for _, tt := range []struct {
		path []string
		keys []string
	}{
		{nil, []string{"title", "quoted key", "literal.key", "a", "multi", "lit", "esc", "arr", "inline", "s", "when", "peer", "tbl"}},
		{[]string{"a"}, []string{"b", "d e"}},
		{[]string{"inline"}, []string{"x", "y", "w"}},
		{[]string{"peer", elem(1)}, []string{"name", "publish"}},
		{[]string{"tbl"}, []string{"sub.key", "list"}},
	} {
		if got := x.keys(tt.path...); !reflect.DeepEqual(got, tt.keys) {
			t.Errorf("keys(%q) = %q, want %q", tt.path, got, tt.keys)
		}
	}
}

func TestLineIndexCRLFAndBOM(t *testing.T) {
	x := indexLines("\uFEFF[companion]\r\nname = \"n\"\r\n\r\n[ami]\r\nsecret = 'x'\r\n")
	if x.line("companion") != 1 || x.line("companion", "name") != 2 || x.line("ami", "secret") != 5 {
		t.Errorf("lines = %v", x.lines)
	}
}

func TestLineIndexEscapedKeys(t *testing.T) {
	x := indexLines("\"a\\\"b\" = 1\n\"\\u00e9\" = 2\n\"tab\\there\" = 3\n")
	if x.line(`a"b`) != 1 || x.line("é") != 2 || x.line("tab\there") != 3 {
		t.Errorf("lines = %v", x.lines)
	}
}

// Every key toml reports is found in the example, at a line that holds it.
func TestLineIndexAgreesWithToml(t *testing.T) {
	data := readFile(t, "../../companion.example.toml")
	var v map[string]any
	md, err := toml.Decode(data, &v)
	if err != nil {
		t.Fatal(err)
	}
	x := indexLines(data)
	lines := strings.Split(data, "\n")
	seen := map[string]int{}
	for _, k := range md.Keys() {
		// Keys() gives no array indices: count repeats of array tables.
		path := []string{}
		for i, seg := range k {
			path = append(path, seg)
			if (seg == "peer" || seg == "sorcery") && i == 0 {
				if len(k) == 1 {
					seen[seg]++
				}
				path = append(path, elem(seen[seg]-1))
			}
		}
		n := x.line(path...)
		if n == 0 || !strings.Contains(lines[n-1], k[len(k)-1]) {
			t.Errorf("key %v: line %d", k, n)
		}
	}
}

func FuzzLineIndex(f *testing.F) {
	for _, s := range []string{trickyTOML, "a = [", "a = {", "[[", "x = \"\"\"", "a.\"b", "= 1", "[a]]\n[[b]\n", "k = '''\n'''''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x := indexLines(s)
		for _, n := range x.lines {
			if n < 1 || n > strings.Count(s, "\n")+1 {
				t.Fatalf("line %d out of range", n)
			}
		}
	})
}

func TestLineIndexDeepNesting(t *testing.T) {
	deep := "a = " + strings.Repeat("[", 200000) + strings.Repeat("]", 200000) + "\nb = 1\n"
	x := indexLines(deep)
	if x.line("b") != 2 {
		t.Errorf("b at line %d", x.line("b"))
	}
	deep = "a = " + strings.Repeat("{a = ", 100000) + "1" + strings.Repeat("}", 100000) + "\nb = 1\n"
	x = indexLines(deep)
	if x.line("b") != 2 || x.line("a", "a", "a") != 1 {
		t.Errorf("b at line %d", x.line("b"))
	}
}
