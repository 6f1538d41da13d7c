package migrate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/astcompanion/sidecar/companion/config"
)

// flat renders the non-template sections as "[name] k=v k=v" lines.
func flat(c *Conf) string {
	var b strings.Builder
	for _, cat := range c.Categories {
		if cat.Template {
			b.WriteString("!")
		}
		b.WriteString("[" + cat.Name + "]")
		for _, v := range cat.Vars {
			b.WriteString(" " + v.Name + "=" + v.Value)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestAsteriskSyntax(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"comments and blanks", "; c\n\n[a] ; c\n  k = v ; c\n", "[a] k=v\n"},
		{"escaped semicolon", "[a]\nk = x\\;y\\;z ; c\n", "[a] k=x;y;z\n"},
		{"other backslashes stay", `[a]` + "\n" + `k = a\b\\c` + "\n", `[a] k=a\b\\c` + "\n"},
		{"object arrow", "[a]\nk => v\n", "[a] k=v\n"},
		{"append", "[a]\nk = one\nk = two\nk +=,three \n", "[a] k=one k=two,three\n"},
		{"append keeps inner blank", "[a]\nk = x\nk += y\n", "[a] k=x y\n"},
		{"append to nothing sets", "[a]\nk += y\n", "[a] k=y\n"},
		{"block comment across lines", "[a]\nk=1 ;-- x\n[b]\ny=2 --; j=3\n", "[a] k=1 j=3\n"},
		{"nested block comment", "[a]\n;-- ;-- --; k=1 --;\nm=2\n", "[a] m=2\n"},
		{";--- is a plain comment", "[a]\nk=1 ;--- x\nm=2\n", "[a] k=1 m=2\n"},
		{"template, inherit, override after", "[t](!)\nk=1\nm=t\n[a](t)\nk=2\n", "![t] k=1 m=t\n[a] k=1 m=t k=2\n"},
		{"two templates in order", "[t1](!)\nk=1\n[t2](!)\nk=2\n[a](t1,t2)\n", "![t1] k=1\n![t2] k=2\n[a] k=1 k=2\n"},
		{"template found case-insensitively", "[T](!)\nk=1\n[a](t)\n", "![T] k=1\n[a] k=1\n"},
		{"template of a template", "[t](!)\nk=1\n[u](!,t)\nm=2\n[a](u)\n", "![t] k=1\n![u] k=1 m=2\n[a] k=1 m=2\n"},
		{"addition", "[a]\nk=1\n[b]\n[a](+)\nm=2\n", "[a] k=1 m=2\n[b]\n"},
		{"addition with filter", "[a]\ntype=endpoint\n[a]\ntype=aor\n[a](+type=aor)\nm=2\n", "[a] type=endpoint\n[a] type=aor m=2\n"},
		{"same name twice", "[a]\ntype=endpoint\n[a]\ntype=inbound-publication\n", "[a] type=endpoint\n[a] type=inbound-publication\n"},
		{"text after ] ignored", "[a] junk\nk=1\n", "[a] k=1\n"},
		{"CRLF", "[a]\r\nk = v\r\n", "[a] k=v\n"},
		{"escaped first character", "[a]\n\\[k=v\n", "[a] [k=v\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("p.conf", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := flat(c); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestAsteriskNotes(t *testing.T) {
	c, err := Parse("p.conf", []byte("[a]\nno equals\n#exec /bin/true\n#frobnicate\n = v\n;-- open\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range c.Notes {
		got = append(got, n.String())
	}
	want := []string{
		"p.conf:2: line without '=' ignored, as Asterisk does",
		"p.conf:3: #exec is not run: what the program would print is not carried over",
		"p.conf:4: unknown directive #frobnicate ignored, as Asterisk does",
		"p.conf:5: line without an option name ignored, as Asterisk does",
		"p.conf:6: block comment ;-- never closed with --;: Asterisk ignores the rest of the file",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestIncludes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Relative paths are read from the configuration folder, also from a
	// file in a subfolder, as Asterisk does; options before a header in an
	// included file go to the includer's section, and the includer goes on
	// with its own section afterwards.
	write("pjsip.conf", "[a]\nk=1\n#include \"sub/one.conf\"\nm=3\n#tryinclude <absent.conf>\n#include d/*.conf\n")
	write("sub/one.conf", "j=2\n[b]\n#include two.conf\n")
	write("two.conf", "x=9\n")
	write("d/1.conf", "[c]\n")
	write("d/2.conf", "[e]\n")
	c, err := Load(filepath.Join(dir, "pjsip.conf"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := flat(c), "[a] k=1 j=2 m=3\n[b] x=9\n[c]\n[e]\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if v := c.Categories[1].Vars[0]; v.Where() != filepath.Join(dir, "two.conf")+":1" {
		t.Errorf("where %s", v.Where())
	}
	// The same file twice, not nested, is no loop.
	write("twice.conf", "#include two.conf\n[z]\n#include two.conf\n")
	if _, err := Load(filepath.Join(dir, "twice.conf"), LoadOptions{}); err == nil {
		t.Errorf("an option before any section in an include was accepted")
	}
	write("twice2.conf", "[z]\n#include two.conf\n#include two.conf\n")
	if c, err := Load(filepath.Join(dir, "twice2.conf"), LoadOptions{}); err != nil || flat(c) != "[z] x=9 x=9\n" {
		t.Errorf("twice: %v %q", err, flat(c))
	}
	// Parse reads no other file.
	if _, err := Parse("p.conf", []byte("#include two.conf\n")); err == nil || !strings.Contains(err.Error(), "p.conf:1:") {
		t.Errorf("Parse followed an include: %v", err)
	}
}

// FuzzParse: any input is read or refused at file:line, never a panic;
// what is read converts to a file that passes check-config.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"seed_instance1_pjsip.conf", "seed_filtering_pjsip.conf", "recorded_inst1_pjsip.conf", "everything/pjsip.conf", "everything/publish.conf"} {
		data, err := os.ReadFile(fixtures + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("[a](!)\nk=v\n[b](a,+)\n;-- x --;\n\\;=1\nk+=2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.conf", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), "fuzz.conf:") {
				t.Fatalf("error without file:line: %v", err)
			}
			return
		}
		res, err := Convert(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := config.Parse("companion.toml", res.TOML); err != nil {
			t.Fatalf("output does not pass check-config: %v\n--- input\n%q\n--- output\n%s", err, data, res.TOML)
		}
	})
}
