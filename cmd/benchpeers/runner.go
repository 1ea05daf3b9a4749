package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
)

// runner is what sip/peertest asks of a test, for a program: temporary directories that
// go when it finishes, cleanups run then in reverse order, and a failure that ends the
// step under way (Fatal panics with a failure, which run recovers).
//
// It embeds a nil testing.TB only to have the interface's unexported method: peertest
// calls the methods runner defines (Helper, Fatal, Fatalf, Errorf, Log, Logf, TempDir,
// Cleanup, Failed) and no others.
type runner struct {
	testing.TB
	log io.Writer

	mu       sync.Mutex // guards following
	dirs     []string
	cleanups []func()
	failed   bool
}

// failure is the panic of runner.Fatal.
type failure struct{ msg string }

func (r *runner) Helper() {}

func (r *runner) Fatal(args ...any) { r.fail(fmt.Sprint(args...)) }

func (r *runner) Fatalf(format string, args ...any) { r.fail(fmt.Sprintf(format, args...)) }

func (r *runner) fail(msg string) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	panic(failure{msg})
}

func (r *runner) Errorf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
	fmt.Fprintf(r.log, "error: "+format+"\n", args...)
}

func (r *runner) Log(args ...any) { fmt.Fprintln(r.log, args...) }

func (r *runner) Logf(format string, args ...any) { fmt.Fprintf(r.log, format+"\n", args...) }

func (r *runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func (r *runner) TempDir() string {
	dir, err := os.MkdirTemp("", "benchpeers-")
	if err != nil {
		r.Fatalf("temporary directory: %v", err)
	}
	r.mu.Lock()
	r.dirs = append(r.dirs, dir)
	r.mu.Unlock()
	return dir
}

func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// run runs f and then the cleanups it registered, last first, and removes its temporary
// directories. It returns the failure that ended f, if any.
func (r *runner) run(f func(testing.TB)) (err error) {
	defer func() {
		r.mu.Lock()
		cleanups, dirs := r.cleanups, r.dirs
		r.cleanups, r.dirs = nil, nil
		r.mu.Unlock()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		for _, d := range dirs {
			_ = os.RemoveAll(d)
		}
	}()
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(failure)
			if !ok {
				panic(v)
			}
			err = fmt.Errorf("%s", f.msg)
		}
	}()
	f(r)
	if r.Failed() {
		return fmt.Errorf("failed; see the errors above")
	}
	return nil
}
