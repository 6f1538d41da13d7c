package main

import (
	"fmt"
	"io"
)

// daemon is "companion run".
func daemon(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "companion run: not implemented yet")
	return 2
}
