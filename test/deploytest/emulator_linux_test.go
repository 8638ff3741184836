package deploytest

import "syscall"

// The emulator dies with the test binary even when cleanups do not run (a test timeout's
// panic); its bootstrap then exits on its own when the Runtime API goes away.
func init() { emulatorProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
