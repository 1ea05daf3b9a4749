//go:build linux

package media

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// relayTick is how often the relays' clock takes the datagrams waiting on their sockets:
// the most it delays a relayed packet (2.5 ms on average), and so the most it can move a
// packet's send time, well within what the far ends' jitter buffers absorb.
const relayTick = 5 * time.Millisecond

// maxDrain bounds the datagrams taken from one socket in one tick; the rest wait for
// the next (the socket stays readable).
const maxDrain = 16

// A relayClock moves the RTP of every relay in the process on one goroutine: every
// relayTick it asks the kernel which of their sockets have datagrams (one epoll_wait),
// reads those (recvfrom) and sends each packet on. A goroutine per direction blocked in
// the network poller costs a thread wakeup, two context switches, per packet, which is
// most of a relayed packet's CPU time; the clock costs one wakeup per tick, however many
// legs it relays.
//
// The sockets are duplicates of the legs' (dup), taken out of the Go network poller
// by closing the originals, so that their datagrams wake nothing but the clock.
type relayClock struct {
	mu   sync.Mutex           // guards following; held while a tick relays
	epfd int                  // the epoll instance of the sockets; valid while dirs != nil
	dirs map[int32]*direction // the directions, by the socket they read
	stop chan struct{}        // closed when the last direction leaves
	done chan struct{}        // closed when the loop has returned
}

// clock is the process's relay clock: it runs while some relay runs.
var clock relayClock

// join has the clock relay d, reading d.from.fd; it starts the clock if it was stopped.
func (c *relayClock) join(d *direction) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirs == nil {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return fmt.Errorf("relay clock: epoll: %w", err)
		}
		c.epfd, c.dirs = epfd, make(map[int32]*direction)
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.loop(epfd, c.stop, c.done)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(d.from.fd)}
	if err := syscall.EpollCtl(c.epfd, syscall.EPOLL_CTL_ADD, d.from.fd, &ev); err != nil {
		return fmt.Errorf("relay clock: watch the %s leg's socket: %w", d.from.name, err)
	}
	c.dirs[int32(d.from.fd)] = d
	return nil
}

// leave stops relaying d; once it returns, no tick touches d. The last direction to leave
// stops the clock and waits for it.
func (c *relayClock) leave(d *direction) {
	c.mu.Lock()
	if c.dirs[int32(d.from.fd)] != d {
		c.mu.Unlock()
		return
	}
	_ = syscall.EpollCtl(c.epfd, syscall.EPOLL_CTL_DEL, d.from.fd, nil)
	delete(c.dirs, int32(d.from.fd))
	if len(c.dirs) > 0 {
		c.mu.Unlock()
		return
	}
	epfd, stop, done := c.epfd, c.stop, c.done
	c.dirs = nil
	close(stop)
	c.mu.Unlock()
	<-done
	syscall.Close(epfd)
}

// relaying reports how many directions the clock relays, and whether it runs.
func (c *relayClock) relaying() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.dirs), c.dirs != nil
}

// loop relays, every tick, what waits on the sockets of epfd, until stop is closed.
func (c *relayClock) loop(epfd int, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(relayTick)
	defer tick.Stop()
	var (
		events [64]syscall.EpollEvent
		buf    [maxRTP]byte
	)
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c.mu.Lock()
		for {
			n, err := epollPoll(epfd, events[:])
			if err == syscall.EINTR {
				continue
			}
			for _, ev := range events[:n] {
				if d := c.dirs[ev.Fd]; d != nil {
					d.drain(buf[:])
				}
			}
			if n < len(events) {
				break
			}
		}
		c.mu.Unlock()
	}
}

// drain relays the datagrams waiting on d.from's socket, at most maxDrain of them.
func (d *direction) drain(buf []byte) {
	for range maxDrain {
		n, src, err := recvfrom4(d.from.fd, buf)
		if err != nil {
			if err != syscall.EAGAIN && err != syscall.EINTR {
				d.r.log.Debug("relay: receive RTP", "leg", d.from.name, "err", err)
			}
			return
		}
		d.handle(buf[:n], src)
	}
}

// runClocked relays on the process's clock until ctx ends, then closes both sockets, and
// returns true; it returns false, having changed nothing, when a leg's socket is not one
// the clock takes (IPv4 UDP).
func (r *Relay) runClocked(ctx context.Context) bool {
	fa, err := dupIPv4(r.a.conn)
	if err != nil {
		return false
	}
	fb, err := dupIPv4(r.b.conn)
	if err != nil {
		syscall.Close(fa)
		return false
	}
	// Out of the Go network poller: the duplicates carry on.
	r.a.conn.Close()
	r.b.conn.Close()
	r.a.fd, r.b.fd = fa, fb
	dirs := []*direction{r.newDirection(r.a, r.b), r.newDirection(r.b, r.a)}
	var wg sync.WaitGroup
	for _, d := range dirs {
		wg.Go(func() { sendDigits(ctx, d.to, d.digits, r.log) })
	}
	if r.timeout > 0 {
		wg.Go(func() { r.watch(ctx) })
	}
	for _, d := range dirs {
		if err := clock.join(d); err != nil {
			r.log.Warn("relay: receive RTP", "leg", d.from.name, "err", err)
		}
	}
	<-ctx.Done()
	for _, d := range dirs {
		clock.leave(d)
		close(d.digits)
	}
	wg.Wait()
	syscall.Close(fa)
	syscall.Close(fb)
	return true
}

// dupIPv4 returns a duplicate of c's socket, non-blocking like it, if it is an IPv4 one.
func dupIPv4(c *net.UDPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		sa, err := syscall.Getsockname(int(s))
		if err != nil {
			derr = err
			return
		}
		if _, ok := sa.(*syscall.SockaddrInet4); !ok {
			derr = errors.New("not an IPv4 socket")
			return
		}
		fd, derr = dupCloexec(int(s))
	}); err != nil {
		return -1, err
	}
	return fd, derr
}

func dupCloexec(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(nfd), nil
}

// The clock's system calls never block (epoll_wait with no timeout, non-blocking
// sockets), so they are made raw: syscall.Syscall would tell the Go scheduler of each, and
// each would wake the runtime's monitor thread (sysmon) from its sleep, which then polls
// every 20 µs for a millisecond: more thread wakeups than the relaying itself.

// epollPoll returns the events of epfd ready now, in events, without waiting.
func epollPoll(epfd int, events []syscall.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// recvfrom4 reads one datagram from the non-blocking IPv4 socket fd into b, without
// allocating: syscall.Recvfrom would allocate the sender's address.
func recvfrom4(fd int, b []byte) (int, netip.AddrPort, error) {
	var rsa syscall.RawSockaddrInet4
	size := uint32(unsafe.Sizeof(rsa))
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&size)))
	if errno != 0 {
		return 0, netip.AddrPort{}, errno
	}
	port := (*[2]byte)(unsafe.Pointer(&rsa.Port)) // in network byte order
	return int(n), netip.AddrPortFrom(netip.AddrFrom4(rsa.Addr), uint16(port[0])<<8|uint16(port[1])), nil
}

// sendto4 sends b from the IPv4 socket fd to dst, without allocating.
func sendto4(fd int, b []byte, dst netip.AddrPort) error {
	if !dst.Addr().Is4() {
		return fmt.Errorf("send to %s from an IPv4 socket", dst)
	}
	rsa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: dst.Addr().As4()}
	port := (*[2]byte)(unsafe.Pointer(&rsa.Port))
	port[0], port[1] = byte(dst.Port()>>8), byte(dst.Port())
	_, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		0, uintptr(unsafe.Pointer(&rsa)), unsafe.Sizeof(rsa))
	if errno != 0 {
		return errno
	}
	return nil
}
