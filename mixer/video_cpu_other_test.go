//go:build !unix

package mixer

import "time"

// cpuTime is unavailable here; benchmarks then report 0 CPU ms/frame.
func cpuTime() time.Duration { return 0 }
