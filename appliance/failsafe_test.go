package appliance

import "time"

// failsafe bounds the waits of the package's own tests for a goroutine or a peer to get
// somewhere: only what never happens takes that long, however busy the machine is.
const failsafe = time.Minute
