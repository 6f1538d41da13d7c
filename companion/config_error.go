package companion

import (
	"strconv"
	"strings"
)

// ConfigError is one problem in a configuration file. Warnings use the same
// type. Messages never contain secret values.
type ConfigError struct {
	File string
	Line int    // 1-based; 0 when the problem has no line (a missing section)
	Key  string // full dotted key, e.g. `peer "instance2".publish.server_uri`; empty for syntax errors
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors is every problem found in a file, sorted by line.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
