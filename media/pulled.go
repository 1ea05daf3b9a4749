//go:build linux

package media

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// A pulledSocket is a session's socket that Receive reads (SessionConfig.ReadOnReceive): a
// duplicate of it out of Go's network poller, so that a datagram's arrival wakes no
// thread, read and written with raw system calls, which do not wake the runtime's monitor
// thread either (see relayclock.go).
//
// The kernel times each datagram as it arrives, to the microsecond (SO_TIMESTAMP, which
// qemu's user-mode emulation passes on, where it does not SO_TIMESTAMPNS). It starts
// doing so a moment after the first socket of the system asks, from a work queue; until
// then, a datagram is timed as it is read, late by up to a packet time.
type pulledSocket struct {
	fdMu sync.RWMutex // held shared while fd is used, exclusively to close it
	fd   int          // -1 once closed

	readMu sync.Mutex // one reader at a time: Receive, or the RTP timeout's watch
	msg    syscall.Msghdr
	iov    syscall.Iovec
	from   syscall.RawSockaddrInet4
	// oob takes the control messages: the datagram's arrival time. Words, for the
	// alignment of their headers.
	oob [8]uint64

	failed chan error // the first error reading, other than none waiting, for Run
}

// pull returns the pulled duplicate of conn, which it closes, or nil, leaving conn as it
// was, if conn is not an IPv4 socket or the kernel will not time its datagrams.
func pull(conn *net.UDPConn) *pulledSocket {
	fd, err := dupIPv4(conn)
	if err != nil {
		return nil
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMP, 1); err != nil {
		syscall.Close(fd)
		return nil
	}
	conn.Close() // out of the poller: the duplicate carries on
	return &pulledSocket{fd: fd, failed: make(chan error, 1)}
}

// read hands the datagrams waiting on the socket to s, each with the time it arrived, at
// most limit of them.
func (p *pulledSocket) read(s *Session, limit int) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	if p.fd < 0 {
		return
	}
	now := time.Now()
	for range limit {
		n, from, age, err := p.recv(s.readBuf[:], now)
		if err != nil {
			if err != syscall.EAGAIN && err != syscall.EINTR {
				select {
				case p.failed <- err:
				default:
				}
			}
			return
		}
		s.datagram(s.readBuf[:n], from, now.Add(-age))
	}
}

// maxAge bounds the age of a datagram taken from its kernel timestamp, against a step of
// the wall clock between its arrival and now.
const maxAge = time.Second

// recv reads one datagram into b, without waiting or allocating, and returns its length,
// its sender, and how long before now it arrived.
func (p *pulledSocket) recv(b []byte, now time.Time) (int, netip.AddrPort, time.Duration, error) {
	p.iov.Base = &b[0]
	p.iov.SetLen(len(b))
	p.msg.Name = (*byte)(unsafe.Pointer(&p.from))
	p.msg.Namelen = uint32(unsafe.Sizeof(p.from))
	p.msg.Iov = &p.iov
	p.msg.Iovlen = 1
	p.msg.Control = (*byte)(unsafe.Pointer(&p.oob[0]))
	p.msg.SetControllen(int(unsafe.Sizeof(p.oob)))
	n, _, errno := syscall.RawSyscall(syscall.SYS_RECVMSG, uintptr(p.fd), uintptr(unsafe.Pointer(&p.msg)), syscall.MSG_DONTWAIT)
	if errno != 0 {
		return 0, netip.AddrPort{}, 0, errno
	}
	port := (*[2]byte)(unsafe.Pointer(&p.from.Port)) // in network byte order
	from := netip.AddrPortFrom(netip.AddrFrom4(p.from.Addr), uint16(port[0])<<8|uint16(port[1]))
	return int(n), from, p.age(now), nil
}

// age returns how long before now the datagram last received arrived, by the timestamp
// among its control messages, 0 without one.
func (p *pulledSocket) age(now time.Time) time.Duration {
	oob := unsafe.Slice((*byte)(unsafe.Pointer(&p.oob[0])), int(p.msg.Controllen))
	hdrLen := syscall.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		if int(h.Len) < hdrLen || int(h.Len) > len(oob) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMP && int(h.Len) >= syscall.CmsgLen(int(unsafe.Sizeof(syscall.Timeval{}))) {
			tv := (*syscall.Timeval)(unsafe.Pointer(&oob[hdrLen]))
			return min(max(now.Sub(time.Unix(tv.Unix())), 0), maxAge) // by the wall clocks
		}
		oob = oob[min(syscall.CmsgSpace(int(h.Len)-hdrLen), len(oob)):]
	}
	return 0
}

// send sends b to dst, without allocating.
func (p *pulledSocket) send(b []byte, dst netip.AddrPort) error {
	p.fdMu.RLock()
	defer p.fdMu.RUnlock()
	if p.fd < 0 {
		return net.ErrClosed
	}
	return sendto4(p.fd, b, dst)
}

// close closes the socket, once no read or send uses it.
func (p *pulledSocket) close() {
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if p.fd >= 0 {
		syscall.Close(p.fd)
		p.fd = -1
	}
}
