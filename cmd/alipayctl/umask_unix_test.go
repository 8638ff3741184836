//go:build unix

package main

import (
	"syscall"
	"testing"
)

// withUmask sets the process umask for the test and restores it afterwards. Tests that
// use it must not run in parallel.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}
