package promtext

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteTo(t *testing.T) {
	calls := NewDesc("calls_total", "Calls ended,\nby result \\ reason.", Counter, "result")
	info := NewDesc("build_info", "Always 1.", Gauge, "version", "board")
	level := NewDesc("level_dbfs", "A level.", Gauge)
	var s Set
	s.Add(info, 1, `1.0 "beta"`, "sim\npi")
	s.Add(calls, 3, "remote")
	s.Add(calls, 0, "failed")
	s.Add(level, math.Inf(-1))
	s.Add(calls, 12, "local")
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	// Families in the order first added, samples by label value, labels by name.
	want := `# HELP build_info Always 1.
# TYPE build_info gauge
build_info{board="sim\npi",version="1.0 \"beta\""} 1
# HELP calls_total Calls ended,\nby result \\ reason.
# TYPE calls_total counter
calls_total{result="failed"} 0
calls_total{result="local"} 12
calls_total{result="remote"} 3
# HELP level_dbfs A level.
# TYPE level_dbfs gauge
level_dbfs -Inf
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{
		1795514400: "1.7955144e+09", 0.0025: "0.0025", -31: "-31", 0: "0", 4.1: "4.1",
		math.Inf(1): "+Inf", math.NaN(): "NaN",
	} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %s, want %s", v, got, want)
		}
	}
}

// TestWriteToRefusesMistakes: a sample with the wrong number of label values, or two with
// the same labels, would make Prometheus refuse the scrape; WriteTo says so and writes
// nothing.
func TestWriteToRefusesMistakes(t *testing.T) {
	d := NewDesc("state", "A state.", Gauge, "handset", "state")
	for name, add := range map[string]func(*Set){
		"too few values": func(s *Set) { s.Add(d, 1, "h1") },
		"too many":       func(s *Set) { s.Add(d, 1, "h1", "idle", "x") },
		"twice":          func(s *Set) { s.Add(d, 1, "h1", "idle"); s.Add(d, 0, "h1", "idle") },
	} {
		var s Set
		s.Add(d, 1, "h0", "idle")
		add(&s)
		var b bytes.Buffer
		n, err := s.WriteTo(&b)
		if err == nil || !strings.Contains(err.Error(), "state") {
			t.Errorf("%s: err = %v, want one naming the metric", name, err)
		}
		if n != 0 || b.Len() != 0 {
			t.Errorf("%s: wrote %q", name, b.String())
		}
	}
}

func TestNewDescRefusesBadNames(t *testing.T) {
	for _, c := range []struct{ name, label string }{{"9lives", "a"}, {"has-dash", "a"}, {"ok", "__reserved"}, {"ok", "bad label"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewDesc(%q, label %q) did not panic", c.name, c.label)
				}
			}()
			NewDesc(c.name, "help", Gauge, c.label)
		}()
	}
}

// TestAddProcess reads this test process's own figures and checks them against what the
// test can see of itself.
func TestAddProcess(t *testing.T) {
	// The kernel counts a process's CPU time in ticks of 10 ms: a test binary that has only
	// just started may not have one yet. Spend some first (bounded by a failsafe).
	for deadline := time.Now().Add(failsafe); cpuSeconds(t) < 0.05 && time.Now().Before(deadline); {
		spin()
	}
	cpuBefore := cpuSeconds(t)
	var s Set
	AddProcess(&s)
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	cpuAfter := cpuSeconds(t)
	values := map[string]float64{}
	for line := range strings.Lines(b.String()) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		values[name] = f
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc here:", err)
	}
	for name, check := range map[string]func(float64) bool{
		// Between what getrusage says before and after: /proc truncates the user and the
		// system time to a tick each, so it may read up to two ticks low.
		"process_cpu_seconds_total":     func(v float64) bool { return v >= cpuBefore-0.021 && v <= cpuAfter },
		"process_resident_memory_bytes": func(v float64) bool { return v > 1<<20 && v < 1<<32 },
		"process_virtual_memory_bytes":  func(v float64) bool { return v > values["process_resident_memory_bytes"] },
		"process_open_fds":              func(v float64) bool { return math.Abs(v-float64(len(fds))) <= 2 },
		"process_max_fds":               func(v float64) bool { return v >= values["process_open_fds"] },
		"go_goroutines":                 func(v float64) bool { return v >= 2 },
		"go_memstats_heap_alloc_bytes":  func(v float64) bool { return v > 0 && v < values["go_memstats_sys_bytes"] },
		"go_memstats_heap_inuse_bytes": func(v float64) bool {
			return v >= values["go_memstats_heap_alloc_bytes"] && v < values["go_memstats_sys_bytes"]
		},
		"go_sched_gomaxprocs_threads":                  func(v float64) bool { return v == float64(runtime.GOMAXPROCS(0)) },
		`go_info{version="` + runtime.Version() + `"}`: func(v float64) bool { return v == 1 },
	} {
		if v, ok := values[name]; !ok || !check(v) {
			t.Errorf("%s = %v (present %v)\n%s", name, v, ok, b.String())
		}
	}
	// The test binary started a moment ago: within the hour, and not in the future.
	now := float64(time.Now().Unix())
	if start := values["process_start_time_seconds"]; start > now+1 || start < now-3600 {
		t.Errorf("process_start_time_seconds = %v, now is %v", start, now)
	}
}

// failsafe bounds a wait that should be far shorter.
const failsafe = 10 * time.Second

// cpuSeconds returns the CPU time the process has used, user and system, from getrusage.
func cpuSeconds(t *testing.T) float64 {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// spinSink keeps spin's work from being optimised away.
var spinSink uint64

// spin uses a little CPU.
func spin() {
	x := spinSink
	for i := range uint64(1 << 20) {
		x = x*6364136223846793005 + i
	}
	spinSink = x
}
