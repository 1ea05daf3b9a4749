//go:build linux

package media

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestRelaysShareOneClock: the relays of the process are moved by one clock, which runs
// while some relay runs and stops with the last, closing what it took.
func TestRelaysShareOneClock(t *testing.T) {
	pcmu := RelayMedia{Codec: "PCMU", PayloadType: 0, Sends: true, Receives: true}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 2 {
		m := pcmu
		m.Remote = udpAddr(loopbackUDP(t))
		a, err := NewRelayLeg("a", loopbackUDP(t), m, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewRelayLeg("b", loopbackUDP(t), m, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { NewRelay(a, b, -1, slog.New(slog.DiscardHandler)).Run(ctx) })
	}
	deadline := time.Now().Add(failsafe)
	for {
		n, running := clock.relaying()
		if n == 4 && running {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			t.Fatalf("the clock relays %d directions (running %v) for two relays, want 4", n, running)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if n, running := clock.relaying(); n != 0 || running {
		t.Errorf("with the relays stopped the clock relays %d directions, running %v; want it stopped", n, running)
	}
}
