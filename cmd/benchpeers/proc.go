package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ, 100 on every Linux
// architecture the appliance runs on).
const clockTick = 10 * time.Millisecond

// cpuTime returns the CPU time process pid has used so far, all its threads, in user and
// kernel mode (utime + stime of /proc/PID/stat).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold spaces: the fields
	// counted start after its closing one, with field 3 (the state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time of %d: no command name in /proc/PID/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time of %d: %d fields in /proc/PID/stat", pid, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read cpu time of %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// rss returns the resident set of process pid in bytes (VmRSS of /proc/PID/status), and
// the anonymous part of it (RssAnon): the heap, stacks and buffers, without the pages of the
// binary and libraries, which the kernel may map whole and can drop at any time.
func rss(pid int) (total, anon int64, err error) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	if total, err = procField(path, "VmRSS:"); err != nil {
		return 0, 0, err
	}
	if anon, err = procField(path, "RssAnon:"); err != nil {
		return 0, 0, err
	}
	return total, anon, nil
}

// procField returns the value, in bytes, of the first line of a /proc file that starts
// with name and ends in kB.
func procField(path, name string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read resident set: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name)
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read resident set from %s: %w", path, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read resident set from %s: %w", path, err)
	}
	return 0, fmt.Errorf("read resident set: no %s line in %s", name, path)
}
