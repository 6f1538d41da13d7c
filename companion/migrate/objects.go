package migrate

import "strings"

// object is one PJSIP sorcery object of pjsip.conf: a section that is not
// a template, with its type. Several objects may share a name ([ast2] as
// endpoint, inbound-publication and asterisk-publication).
type object struct {
	Type string
	cat  *Category
	used map[int]bool // indexes of options carried over (or explained)
}

func (o *object) Name() string  { return o.cat.Name }
func (o *object) Where() string { return o.cat.Where() }

// label names the object as pjsip.conf writes it.
func (o *object) label() string { return "[" + o.cat.Name + "] type=" + o.Type }

// last is the value of the last option called name (later options
// override earlier ones when Asterisk applies them), marking every option
// of that name as carried over.
func (o *object) last(name string) (*Var, bool) {
	var found *Var
	for i := range o.cat.Vars {
		if o.cat.Vars[i].Name == name {
			found = &o.cat.Vars[i]
			o.used[i] = true
		}
	}
	return found, found != nil
}

// peek is the value of the last option called name, without marking it.
func (o *object) peek(name string) string {
	val := ""
	for _, v := range o.cat.Vars {
		if v.Name == name {
			val = v.Value
		}
	}
	return val
}

// value is last's value, "" when absent.
func (o *object) value(name string) string {
	if v, ok := o.last(name); ok {
		return v.Value
	}
	return ""
}

// all returns every option called name, in order (list options such as
// identify's match accumulate).
func (o *object) all(name string) []*Var {
	var vs []*Var
	for i := range o.cat.Vars {
		if o.cat.Vars[i].Name == name {
			vs = append(vs, &o.cat.Vars[i])
			o.used[i] = true
		}
	}
	return vs
}

// unused lists the options not carried over, in order.
func (o *object) unused() []*Var {
	var vs []*Var
	for i := range o.cat.Vars {
		if !o.used[i] {
			vs = append(vs, &o.cat.Vars[i])
		}
	}
	return vs
}

// objects reads the sorcery objects of conf, in file order. Sections
// without type= are returned apart: Asterisk loads nothing from them.
func objects(conf *Conf) (objs []*object, untyped []*Category) {
	for _, c := range conf.Categories {
		if c.Template {
			continue
		}
		o := &object{cat: c, used: map[int]bool{}}
		// The first type= decides, as sorcery's criteria lookup finds it.
		for i, v := range c.Vars {
			if v.Name == "type" {
				o.Type = strings.TrimSpace(v.Value)
				o.used[i] = true
				break
			}
		}
		for i, v := range c.Vars {
			if v.Name == "type" && strings.TrimSpace(v.Value) == o.Type {
				o.used[i] = true
			}
		}
		if o.Type == "" {
			untyped = append(untyped, c)
			continue
		}
		objs = append(objs, o)
	}
	return objs, untyped
}

// astTrue is Asterisk's ast_true.
func astTrue(v string) (value, known bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "y", "t", "1", "on":
		return true, true
	case "no", "false", "n", "f", "0", "off":
		return false, true
	}
	return false, false
}

// splitList splits a comma-separated option value, trimmed, empty items
// dropped.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
