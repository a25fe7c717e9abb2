//go:build !unix

package inference

import (
	"os"
	"syscall"
)

// Without process groups the supervisor can only stop the server itself;
// runners it leaves behind are the operating system's to end.
func procAttr() *syscall.SysProcAttr { return nil }

func terminate(p *os.Process) error { return p.Kill() }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func groupAlive(int) bool { return false }
