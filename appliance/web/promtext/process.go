package promtext

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"syscall"
)

// The process's and the Go runtime's families, named as Prometheus's client libraries
// name them, so that the usual dashboards and alerts find them.
var (
	cpuDesc = NewDesc("process_cpu_seconds_total",
		"CPU time the process has used, user and system, in seconds.", Counter)
	residentDesc = NewDesc("process_resident_memory_bytes",
		"Memory of the process resident in RAM, in bytes.", Gauge)
	virtualDesc = NewDesc("process_virtual_memory_bytes",
		"The process's virtual address space, in bytes.", Gauge)
	startDesc = NewDesc("process_start_time_seconds",
		"When the process started, as a Unix time in seconds.", Gauge)
	openFDsDesc = NewDesc("process_open_fds",
		"File descriptors the process has open.", Gauge)
	maxFDsDesc = NewDesc("process_max_fds",
		"The most file descriptors the process may open.", Gauge)

	goInfoDesc = NewDesc("go_info",
		"Always 1: the Go version the program was built with.", Gauge, "version")
	goroutinesDesc = NewDesc("go_goroutines",
		"Goroutines that exist now.", Gauge)
	heapDesc = NewDesc("go_memstats_heap_alloc_bytes",
		"Bytes of heap objects allocated and not yet freed, live or not yet collected.", Gauge)
	heapInuseDesc = NewDesc("go_memstats_heap_inuse_bytes",
		"Bytes of the heap's spans that hold objects.", Gauge)
	goSysDesc = NewDesc("go_memstats_sys_bytes",
		"Bytes of memory the Go runtime has mapped from the operating system.", Gauge)
	gcCyclesDesc = NewDesc("go_gc_cycles_total",
		"Garbage collection cycles completed.", Counter)
	memLimitDesc = NewDesc("go_gc_gomemlimit_bytes",
		"The Go runtime's soft memory limit (GOMEMLIMIT), in bytes.", Gauge)
	maxProcsDesc = NewDesc("go_sched_gomaxprocs_threads",
		"Threads that may run Go code at once (GOMAXPROCS).", Gauge)
)

// AddProcess adds the process's and the Go runtime's figures to s. The process's come
// from /proc; where it cannot be read (not Linux), those families are left out.
func AddProcess(s *Set) {
	s.Add(goInfoDesc, 1, runtime.Version())
	samples := []metrics.Sample{{Name: "/sched/goroutines:goroutines"}, {Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	metrics.Read(samples)
	v := make([]float64, len(samples))
	for i, smp := range samples {
		if smp.Value.Kind() == metrics.KindUint64 {
			v[i] = float64(smp.Value.Uint64())
		}
	}
	s.Add(goroutinesDesc, v[0])
	s.Add(heapDesc, v[1])
	s.Add(heapInuseDesc, v[1]+v[2]) // the spans holding objects, as runtime.MemStats.HeapInuse
	s.Add(goSysDesc, v[3])
	s.Add(gcCyclesDesc, v[4])
	s.Add(memLimitDesc, v[5])
	s.Add(maxProcsDesc, v[6])

	st, err := readStat()
	if err != nil {
		return
	}
	s.Add(cpuDesc, float64(st.utime+st.stime)/clockTicks)
	s.Add(residentDesc, float64(st.rss*uint64(os.Getpagesize())))
	s.Add(virtualDesc, float64(st.vsize))
	if boot, err := bootTime(); err == nil {
		s.Add(startDesc, float64(boot)+float64(st.start)/clockTicks)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.Add(openFDsDesc, float64(len(fds)))
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		s.Add(maxFDsDesc, float64(lim.Cur))
	}
}

// clockTicks is the unit of /proc's CPU times: USER_HZ, 100 on every Linux architecture
// the appliance runs on.
const clockTicks = 100

// stat is what AddProcess reads of /proc/self/stat.
type stat struct {
	utime, stime, start uint64 // in clock ticks; start since boot
	vsize, rss          uint64 // in bytes and in pages
}

// readStat reads the process's /proc/self/stat (proc(5)).
func readStat() (stat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return stat{}, err
	}
	// The command name, in parentheses, may hold spaces; the fields follow its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("read /proc/self/stat: no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 22 {
		return stat{}, fmt.Errorf("read /proc/self/stat: %d fields", len(f)+2)
	}
	field := func(n int) uint64 { // proc(5) numbers fields from 1
		v, _ := strconv.ParseUint(string(f[n-3]), 10, 64)
		return v
	}
	return stat{utime: field(14), stime: field(15), start: field(22), vsize: field(23), rss: field(24)}, nil
}

// bootTime returns when the machine booted, as a Unix time: the btime line of /proc/stat.
func bootTime() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, fmt.Errorf("read /proc/stat: no btime")
}
