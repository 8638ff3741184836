//go:build !linux

package dynalitetest

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
