package conference

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time. The tick benchmark reports
// it beside wall time: the 2-core machine is often busy with other work,
// which inflates wall time but not the CPU a tick actually uses.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
