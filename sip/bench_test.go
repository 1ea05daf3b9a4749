package sip

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"partyline/sip/peertest"
)

// cpuTime returns the CPU time this process used so far, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConferenceLegs sets up 200 legs at once against SIPp on
// loopback (no proxy, no authentication) and reports how many came up,
// and the CPU time and heap they cost per leg (the heap measured with
// every leg up, after a collection). Run it with -benchtime 1x: each
// iteration starts a SIPp that takes 200 calls.
func BenchmarkConferenceLegs(b *testing.B) {
	const legs = 200
	var up atomic.Int64
	var cpu time.Duration
	var heap float64
	for range b.N {
		b.StopTimer()
		s := peertest.StartSIPp(b, peertest.SIPpConfig{Scenario: peertest.ScenarioEcho, Calls: legs})
		a, err := NewAgent(Config{ListenAddr: "127.0.0.1:0", UserAgent: "partyline-bench"})
		if err != nil {
			b.Fatal(err)
		}
		runCtx, stop := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- a.Run(runCtx) }()
		acc := Account{User: "bench", Domain: testDomain, Proxy: s.Addr().String()}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		calls := make([]*Call, legs)
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cpu0 := cpuTime(b)
		b.StartTimer()

		var wg sync.WaitGroup
		for i := range legs {
			wg.Go(func() {
				call, err := a.Join(ctx, JoinRequest{
					Target:      testConference,
					DisplayName: "Bench",
					Account:     acc,
					Identity:    Identity{Mode: IdentityGenerated, Prefix: "bench"},
					LocalMedia:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(20000+2*i)),
				})
				if err != nil {
					b.Errorf("leg %d: Join: %v", i, err)
					return
				}
				calls[i] = call
				up.Add(1)
			})
		}
		wg.Wait()

		b.StopTimer()
		cpu += cpuTime(b) - cpu0
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / legs
		for _, c := range calls {
			if c == nil {
				continue
			}
			wg.Go(func() {
				if err := c.Hangup(ctx); err != nil {
					b.Errorf("Hangup: %v", err)
				}
			})
		}
		wg.Wait()
		if err := s.Wait(30 * time.Second); err != nil {
			b.Errorf("SIPp: %v", err)
		}
		cancel()
		stop()
		if err := <-ran; err != nil {
			b.Errorf("Run: %v", err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(up.Load())/float64(b.N), "legs-up")
	b.ReportMetric(cpu.Seconds()/float64(legs*b.N), "cpu-s/leg")
	b.ReportMetric(heap/float64(b.N), "heap-B/leg")
}
