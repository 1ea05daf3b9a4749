package sip

import (
	"context"
	"testing"
	"time"
)

// TestProbeCountsABeat checks what the appliance's watchdog relies on: the read loop of a
// running agent counts each probe, on a socket bound to one address or to all of them,
// and drops it as nothing the SIP side sees (no malformed message).
func TestProbeCountsABeat(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		t.Run(listen, func(t *testing.T) {
			a, err := NewAgent(Config{ListenAddr: listen, Log: testLog(t)})
			if err != nil {
				t.Fatalf("NewAgent: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- a.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			for want := uint64(1); want <= 3; want++ {
				if err := a.Probe(); err != nil {
					t.Fatal(err)
				}
				deadline := time.Now().Add(failsafe)
				for a.Beats() < want {
					if time.Now().After(deadline) {
						t.Fatalf("beats = %d after %d probes, want %d", a.Beats(), want, want)
					}
					time.Sleep(time.Millisecond)
				}
			}
			if n := a.MalformedMessages(); n != 0 {
				t.Errorf("%d malformed messages after the probes, want 0", n)
			}
		})
	}
}
