package aritest

import (
	"fmt"
	"net/http"
	"slices"
)

type objKey struct{ class, typ, id string }

// AddConfigObject adds an object as if pjsip.conf defined it: readable,
// never writable through ARI (PUT and DELETE answer 403).
func (s *Server) AddConfigObject(class, typ, id string, fields map[string]string, order ...string) {
	o := newObject(typ)
	for _, name := range order {
		o.set(name, fields[name])
	}
	for name, v := range fields {
		if !slices.Contains(order, name) {
			o.set(name, v)
		}
	}
	o.fromConfig = true
	s.mu.Lock()
	s.objects[objKey{class, typ, id}] = o
	s.mu.Unlock()
}

// Object returns the attributes of a stored object as GET shows them, and
// whether GET finds it.
func (s *Server) Object(class, typ, id string) (map[string]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.find(objKey{class, typ, id})
	if o == nil {
		return nil, false
	}
	out := map[string]string{}
	for _, f := range o.fields() {
		out[f.Attribute] = f.Value
	}
	return out, true
}

// DeleteObject removes an object behind the client's back, as a CLI
// command or an Asterisk restart (memory wizard) would.
func (s *Server) DeleteObject(class, typ, id string) {
	s.mu.Lock()
	delete(s.objects, objKey{class, typ, id})
	s.mu.Unlock()
}

// ForgetDynamicObjects is an Asterisk restart where sorcery.conf maps the
// written types to the memory wizard: every object created through ARI is
// gone, those of the configuration files stay.
func (s *Server) ForgetDynamicObjects() {
	s.mu.Lock()
	for k, o := range s.objects {
		if !o.fromConfig {
			delete(s.objects, k)
		}
	}
	s.mu.Unlock()
}

// find is ast_sorcery_retrieve_by_id: an endpoint without codecs fails to
// load, so Asterisk 22.10.1 cannot find it (PUT 200, then GET 404).
func (s *Server) find(k objKey) *object {
	o, ok := s.objects[k]
	if !ok || (k.typ == "endpoint" && len(o.codecs) == 0 && o.vals["allow"] == "(nothing)") {
		return nil
	}
	if o.fromConfig {
		return o.clone()
	}
	return o.throughAstdb()
}

// sorcery is /asterisk/config/dynamic/{class}/{type}/{id}, as
// res/ari/resource_asterisk.c answers it. crash reports a field without a
// value, which makes Asterisk 22.10.1 crash.
func (s *Server) sorcery(method string, k objKey, body any) (a answer, crash bool) {
	types, ok := schemas[k.class]
	if !ok {
		return message(http.StatusNotFound, fmt.Sprintf("configClass '%s' not found", k.class)), false
	}
	if _, ok := types[k.typ]; !ok {
		return message(http.StatusNotFound, fmt.Sprintf("objectType '%s' not found", k.typ)), false
	}
	o := s.find(k)
	switch method {
	case http.MethodGet:
		if o == nil {
			return notFound(k.id), false
		}
		return jsonAnswer(http.StatusOK, o.fields()), false
	case http.MethodDelete:
		if o == nil {
			return notFound(k.id), false
		}
		if o.fromConfig {
			return message(http.StatusForbidden, fmt.Sprintf("Could not delete object with id '%s'", k.id)), false
		}
		delete(s.objects, k)
		return noContent, false
	case http.MethodPut:
		return s.put(k, o, body)
	}
	return message(http.StatusMethodNotAllowed, "Invalid method"), false
}

func (s *Server) put(k objKey, existing *object, body any) (answer, bool) {
	created := existing == nil
	o := existing
	if created {
		o = newObject(k.typ)
	}
	root, _ := body.(map[string]any)
	fields, present := root["fields"]
	if !present && !created {
		return message(http.StatusBadRequest, fmt.Sprintf("Fields must be provided to update object '%s'", k.id)), false
	}
	list, _ := fields.([]any)
	ok := true
	for _, item := range list {
		f, _ := item.(map[string]any)
		name, _ := f["attribute"].(string)
		value, hasValue := f["value"].(string)
		if name == "" || !hasValue {
			return answer{}, true // ast_variable_new(NULL, ...) : SIGSEGV
		}
		ok = o.set(name, value) && ok
	}
	what := "Update"
	if created {
		what = "Creation"
	}
	if !ok || !o.valid() {
		return message(http.StatusBadRequest, fmt.Sprintf("%s of object '%s' failed field value validation", what, k.id)), false
	}
	switch {
	case created && s.staticOnly[k.class+"/"+k.typ]:
		return message(http.StatusForbidden, fmt.Sprintf("Cannot create sorcery objects of type '%s'", k.typ)), false
	case !created && o.fromConfig:
		return message(http.StatusForbidden, fmt.Sprintf("Cannot update sorcery objects of type '%s'", k.typ)), false
	}
	s.objects[k] = o
	return jsonAnswer(http.StatusOK, o.fields()), false
}

func notFound(id string) answer {
	return message(http.StatusNotFound, fmt.Sprintf("Object with id '%s' not found", id))
}
