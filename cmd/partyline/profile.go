package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names the environment variable that has partyline write a CPU profile
// (pprof) of the whole run to the file it names, from start to a clean stop (SIGTERM,
// Ctrl-C): make bench-peers profiles the appliance under load with it.
const cpuProfileEnv = "PARTYLINE_CPUPROFILE"

// startCPUProfile starts the CPU profile into path, unless path is "", and returns what
// stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
