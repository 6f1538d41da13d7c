//go:build !linux

package main

import "syscall"

// childAttr: without Pdeathsig, a child outlives a killed test binary
// until its cleanup (never reached then) would have stopped it.
func childAttr() *syscall.SysProcAttr { return nil }
