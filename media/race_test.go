//go:build race

package media

// raceDetector says that the tests run with the race detector, under which sync.Pool (used
// inside pion/srtp) drops what it holds at random, and so allocates: allocation counts are
// checked in the run without it (make test runs the DoesNotAllocate tests once more so).
const raceDetector = true
