package main

import (
	"fmt"
	"io"
)

// provision is "companion provision": push [[sorcery]] objects through ARI.
func provision(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "companion provision: not implemented yet")
	return 2
}
