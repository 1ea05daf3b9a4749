package main

import (
	"os"
	"runtime/debug"
)

// memoryLimit is the Go runtime's soft memory limit when the environment sets none
// (GOMEMLIMIT): on a 512 MB board, which also runs the system, the recorder's files in the
// page cache and whatever else the owner adds, the appliance's Go memory (heap, stacks,
// buffers; some 5 to 10 MB in use) stays far below it, and should a leak or a flood of
// calls push it there, the collector works harder rather than the kernel's OOM killer
// ending the calls. GOGC stays at its default (100): the packet path allocates nothing,
// so collections are rare, and a higher GOGC would only grow the resident set.
const memoryLimit = 64 << 20

// setMemoryLimit applies memoryLimit unless GOMEMLIMIT is set, which the runtime has
// applied already.
func setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
