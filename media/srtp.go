package media

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTP: the media of a call encrypted and authenticated (RFC 3711) with keys exchanged in
// the SDP (SDES, RFC 4568). The suite is the one every SIP phone has.
const (
	// SRTPSuite is the crypto suite's name in SDP: AES in counter mode with a 128-bit key,
	// HMAC-SHA1 authentication tags of 80 bits.
	SRTPSuite = "AES_CM_128_HMAC_SHA1_80"
	// SRTPKeyLen is the length of the keying material of one direction: a 16-byte master
	// key and a 14-byte master salt.
	SRTPKeyLen = 30
	// srtpOverhead is what SRTP adds to an RTP packet (the tag), and SRTCP to an RTCP packet
	// (the index and the tag).
	srtpOverhead = 4 + 10
	// srtpReplayWindow is how many recent packets' indexes SRTP remembers to refuse replays.
	srtpReplayWindow = 128
)

// SRTPKeys are the keying material of the two directions of a call, SRTPKeyLen bytes each:
// Local encrypts what we send, Remote decrypts what the peer sends.
type SRTPKeys struct {
	Local, Remote []byte
}

// NewSRTPKey returns fresh random keying material for our direction of a call.
func NewSRTPKey() []byte {
	k := make([]byte, SRTPKeyLen)
	rand.Read(k) // never fails (crypto/rand)
	return k
}

// srtpPair protects what a Session sends and checks what it receives. A context is not safe
// for concurrent use, so RTP and RTCP are sent through two, made from the same keys (the
// two derive separate session keys and count separately anyway): rtpOut is used only by
// Send, rtcpOut only by the RTCP sender, in only by Run.
type srtpPair struct {
	rtpOut, rtcpOut, in *srtp.Context
}

func newSRTPPair(k SRTPKeys) (*srtpPair, error) {
	if len(k.Local) != SRTPKeyLen || len(k.Remote) != SRTPKeyLen {
		return nil, fmt.Errorf("SRTP keys of %d and %d bytes, want %d", len(k.Local), len(k.Remote), SRTPKeyLen)
	}
	var p srtpPair
	var err error
	for _, c := range []struct {
		ctx **srtp.Context
		key []byte
	}{{&p.rtpOut, k.Local}, {&p.rtcpOut, k.Local}, {&p.in, k.Remote}} {
		if *c.ctx, err = srtpContext(c.key); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

func srtpContext(key []byte) (*srtp.Context, error) {
	c, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80,
		srtp.SRTPReplayProtection(srtpReplayWindow), srtp.SRTCPReplayProtection(srtpReplayWindow))
	if err != nil {
		return nil, fmt.Errorf("SRTP context: %w", err)
	}
	return c, nil
}

// errSRTPBuffer is returned when a buffer cannot hold a protected packet; the buffers are
// sized so that it does not happen.
var errSRTPBuffer = errors.New("SRTP: buffer too small")

// protectRTP encrypts pkt, whose header h already holds, into dst and returns the packet.
func (p *srtpPair) protectRTP(dst, pkt []byte, h *rtp.Header) ([]byte, error) {
	if cap(dst) < len(pkt)+srtpOverhead {
		return nil, errSRTPBuffer
	}
	return p.rtpOut.EncryptRTP(dst[:0], pkt, h)
}

// protectRTCP encrypts the compound RTCP packet pkt into dst.
func (p *srtpPair) protectRTCP(dst, pkt []byte) ([]byte, error) {
	if cap(dst) < len(pkt)+srtpOverhead {
		return nil, errSRTPBuffer
	}
	return p.rtcpOut.EncryptRTCP(dst[:0], pkt, nil)
}

// unprotectRTP authenticates and decrypts the SRTP packet pkt into dst, parsing its header
// into h.
func (p *srtpPair) unprotectRTP(dst, pkt []byte, h *rtp.Header) ([]byte, error) {
	return p.in.DecryptRTP(dst[:0], pkt, h)
}

// unprotectRTCP authenticates and decrypts the SRTCP packet pkt into dst.
func (p *srtpPair) unprotectRTCP(dst, pkt []byte) ([]byte, error) {
	return p.in.DecryptRTCP(dst[:0], pkt, nil)
}
