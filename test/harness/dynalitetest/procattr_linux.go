package dynalitetest

import "syscall"

// procAttr makes the kernel kill dynalite if the test binary dies without cleaning up
// (e.g. killed by the go test timeout).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
