package main

import "syscall"

// childAttr makes a child companion die with the test process, should the
// test binary itself be killed.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
