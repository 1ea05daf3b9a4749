package appliance

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"partyline/media"
	"partyline/sip"
)

// listenRTP opens an RTP socket on the SIP agent's address (all addresses when it
// listens on all), on a port the system picks.
func listenRTP(agent *sip.Agent) (*net.UDPConn, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(agent.Addr().Addr(), 0)))
	if err != nil {
		return nil, fmt.Errorf("open RTP socket: %w", err)
	}
	return conn, nil
}

// localMedia is the address of an RTP socket as an SDP offer gives it.
func localMedia(conn *net.UDPConn) netip.AddrPort {
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
}

// srtpKeys converts the SRTP keys a call settled for its media session: nil for plain
// RTP.
func srtpKeys(k sip.SRTPKeys) *media.SRTPKeys {
	if !k.On() {
		return nil
	}
	return &media.SRTPKeys{Local: k.Local[:], Remote: k.Remote[:]}
}

// callSession makes the media session of a negotiated call on conn, with packets of
// ptime (0: the default). It returns the codec too.
func callSession(call *sip.Call, conn *net.UDPConn, ptime time.Duration) (*media.Session, media.Codec, error) {
	m := call.Media()
	codec, ok := media.CodecByName(m.Codec)
	if !ok {
		return nil, nil, fmt.Errorf("negotiated codec %s is not supported", m.Codec)
	}
	session, err := media.NewSession(conn, media.SessionConfig{
		Codec:           codec,
		PayloadType:     m.PayloadType,
		DTMFPayloadType: m.DTMFPayloadType,
		Remote:          m.Remote,
		PacketTime:      ptime,
		SRTP:            srtpKeys(m.SRTP),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start media: %w", err)
	}
	return session, codec, nil
}
