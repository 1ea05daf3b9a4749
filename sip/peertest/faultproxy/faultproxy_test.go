package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// failsafe bounds every wait for a datagram that should come: only one that never comes
// takes that long, however busy the machine is.
const failsafe = time.Minute

// quiet is how long a test listens for a datagram that should not come. Waiting longer
// would only make the test slower: a datagram that is not dropped is on its way at once.
const quiet = 300 * time.Millisecond

// echoServer answers every datagram with "echo " and the datagram, until the test ends,
// and reports what it received on the returned channel.
func echoServer(t *testing.T) (netip.AddrPort, <-chan string) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1000)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
			_, _ = c.WriteToUDPAddrPort(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), got
}

// client is a client socket of the proxy.
type client struct {
	t    *testing.T
	conn *net.UDPConn
	to   netip.AddrPort
}

func newClient(t *testing.T, p *Proxy) *client {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, to: p.Addr()}
}

func (c *client) send(msg string) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDPAddrPort([]byte(msg), c.to); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next datagram within d, or "" if none comes.
func (c *client) read(d time.Duration) string {
	c.t.Helper()
	buf := make([]byte, 1500)
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := c.conn.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return ""
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if from != c.to {
		c.t.Fatalf("datagram from %v, want the proxy's %v", from, c.to)
	}
	return string(buf[:n])
}

// received returns the next datagram the server got within d, or "" if none.
func received(got <-chan string, d time.Duration) string {
	select {
	case m := <-got:
		return m
	case <-time.After(d):
		return ""
	}
}

func TestPassesBothWays(t *testing.T) {
	server, got := echoServer(t)
	p := Start(t, server, 1)
	a, b := newClient(t, p), newClient(t, p)
	for i := range 3 {
		for _, c := range []*client{a, b} {
			msg := fmt.Sprintf("%p %d", c, i)
			c.send(msg)
			if m := c.read(failsafe); m != "echo "+msg {
				t.Fatalf("client got %q, want the server's echo of %q (answers go back to their own client)", m, msg)
			}
		}
	}
	if up, down := p.Counts(Up), p.Counts(Down); up != (Counts{Passed: 6}) || down != (Counts{Passed: 6}) {
		t.Errorf("counts up %+v, down %+v; want 6 passed each way", up, down)
	}
	if len(got) != 6 {
		t.Errorf("the server got %d datagrams, want the 6 sent", len(got))
	}
}

// TestBlackholeEachWayThenBack blackholes one direction, then the other, then neither,
// while the proxy runs.
func TestBlackholeEachWayThenBack(t *testing.T) {
	server, got := echoServer(t)
	p := Start(t, server, 1)
	c := newClient(t, p)

	p.Set(Up, Fault{Blackhole: true})
	c.send("lost up")
	if m := received(got, quiet); m != "" {
		t.Errorf("the server got %q through a blackhole up", m)
	}
	if m := c.read(quiet); m != "" {
		t.Errorf("the client got %q with nothing sent", m)
	}

	p.Set(Up, Fault{})
	p.Set(Down, Fault{Blackhole: true})
	c.send("lost down")
	if m := received(got, failsafe); m != "lost down" {
		t.Errorf("the server got %q, want the datagram (only down is blackholed)", m)
	}
	if m := c.read(quiet); m != "" {
		t.Errorf("the client got %q through a blackhole down", m)
	}

	p.Set(Down, Fault{})
	c.send("back")
	if m := c.read(failsafe); m != "echo back" {
		t.Errorf("after the blackholes the client got %q, want the echo", m)
	}
	if up, down := p.Counts(Up), p.Counts(Down); up != (Counts{Passed: 2, Dropped: 1}) || down != (Counts{Passed: 1, Dropped: 1}) {
		t.Errorf("counts up %+v, down %+v; want 2 passed and 1 dropped up, 1 and 1 down", up, down)
	}
}

// TestLossDropsItsShare drops 20 % of 1000 datagrams up: the share dropped is near 20 %,
// and the rest arrive.
func TestLossDropsItsShare(t *testing.T) {
	server, got := echoServer(t)
	p := Start(t, server, 7)
	p.Set(Up, Fault{Loss: 0.2})
	p.Set(Down, Fault{Blackhole: true}) // no echoes to read
	c := newClient(t, p)
	// arrived counts what the server got; drain takes its datagrams until want have come
	// or the failsafe ends, so that the sending waits for the server too, whose socket
	// would drop what a busy machine leaves unread.
	arrived := 0
	drain := func(want int) {
		deadline := time.Now().Add(failsafe)
		for arrived < want && time.Now().Before(deadline) {
			if received(got, 10*time.Millisecond) != "" {
				arrived++
			}
		}
	}
	const n = 1000
	for i := range n {
		c.send(fmt.Sprint(i))
		if i%50 == 49 { // do not overrun the sockets' buffers
			for p.Counts(Up).Passed+p.Counts(Up).Dropped < i+1 {
				time.Sleep(time.Millisecond)
			}
			drain(p.Counts(Up).Passed)
		}
	}
	deadline := time.Now().Add(failsafe)
	for p.Counts(Up).Passed+p.Counts(Up).Dropped < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	counts := p.Counts(Up)
	if share := float64(counts.Dropped) / n; share < 0.15 || share > 0.25 {
		t.Errorf("dropped %d of %d, want about 20 %%", counts.Dropped, n)
	}
	drain(counts.Passed)
	for received(got, quiet) != "" { // none beyond what the proxy passed
		arrived++
	}
	if arrived != counts.Passed {
		t.Errorf("the server got %d datagrams, the proxy passed %d", arrived, counts.Passed)
	}
}

// TestDelayHoldsBack delays datagrams down: the echo comes no sooner than the delay.
func TestDelayHoldsBack(t *testing.T) {
	server, _ := echoServer(t)
	p := Start(t, server, 1)
	const delay = 200 * time.Millisecond
	p.Set(Down, Fault{Delay: delay})
	c := newClient(t, p)
	sent := time.Now()
	c.send("slow")
	if m := c.read(failsafe); m != "echo slow" {
		t.Fatalf("got %q, want the echo", m)
	}
	if d := time.Since(sent); d < delay {
		t.Errorf("the echo came after %v, want no sooner than the delay %v", d, delay)
	}
}

// TestJitterReordersWithinItsBound sends datagrams down, one a millisecond, through 60 ms
// of jitter: some overtake those sent before them, as jitter does, and some are held back
// by most of the jitter.
func TestJitterReordersWithinItsBound(t *testing.T) {
	server, _ := echoServer(t)
	p := Start(t, server, 3)
	const jitter = 60 * time.Millisecond
	p.Set(Down, Fault{Jitter: jitter})
	c := newClient(t, p)
	const n = 100
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		c.send(fmt.Sprint(i))
		time.Sleep(time.Millisecond)
	}
	var order []int
	var latest time.Duration
	for range n {
		m := c.read(failsafe)
		var i int
		if _, err := fmt.Sscanf(m, "echo %d", &i); err != nil || i < 0 || i >= n {
			t.Fatalf("got %q, want an echo of a number sent", m)
		}
		latest = max(latest, time.Since(sent[i]))
		order = append(order, i)
	}
	overtaken := 0
	for k := 1; k < len(order); k++ {
		if order[k] < order[k-1] {
			overtaken++
		}
	}
	t.Logf("%d of %d datagrams came before one sent earlier; the latest took %v", overtaken, n, latest)
	if overtaken == 0 {
		t.Errorf("the datagrams came in the order sent: %v; want jitter to reorder some", order)
	}
	if latest < jitter/2 {
		t.Errorf("the latest datagram took %v, want some delayed by most of the jitter %v", latest, jitter)
	}
}

// TestServerSetLater starts a proxy without a server: what a client sends is dropped until
// SetServer names one, and then reaches it.
func TestServerSetLater(t *testing.T) {
	server, got := echoServer(t)
	p := Start(t, netip.AddrPort{}, 1)
	c := newClient(t, p)
	c.send("nowhere")
	if m := c.read(quiet); m != "" {
		t.Errorf("got %q before the proxy had a server", m)
	}
	p.SetServer(server)
	c.send("there")
	if m := c.read(failsafe); m != "echo there" {
		t.Errorf("got %q, want the echo once the server is set", m)
	}
	if m := received(got, failsafe); m != "there" {
		t.Errorf("the server got %q, want only the datagram sent after SetServer", m)
	}
	if up := p.Counts(Up); up != (Counts{Passed: 1, Dropped: 1}) {
		t.Errorf("counts up %+v, want 1 passed and 1 dropped", up)
	}
}
