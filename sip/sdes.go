package sip

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SRTP keys exchanged in the SDP (SDES, RFC 4568). The keys travel in the SDP, so they are
// only as secret as the signalling: use SRTP with an account on TLS.

// The SRTP modes of an account (Account.SRTP).
const (
	// SRTPOff (also "") offers and accepts plain RTP only.
	SRTPOff = "off"
	// SRTPOffered offers SRTP keys on an RTP/AVP stream: the call is encrypted if the far
	// end answers with a key, plain otherwise.
	SRTPOffered = "offered"
	// SRTPRequired offers RTP/SAVP: the call is encrypted, or it fails.
	SRTPRequired = "required"
)

const (
	// srtpSuite is the one crypto suite offered and accepted.
	srtpSuite = "AES_CM_128_HMAC_SHA1_80"
	// SRTPKeyLen is the length of one direction's keying material: a 16-byte master key
	// and a 14-byte master salt.
	SRTPKeyLen = 30
)

// SRTPKeys are the keys of an encrypted call: Local encrypts what we send, Remote
// decrypts what the far end sends. The zero value means plain RTP.
type SRTPKeys struct {
	Local, Remote [SRTPKeyLen]byte
}

// On reports whether the call is encrypted.
func (k SRTPKeys) On() bool { return k != SRTPKeys{} }

// sdpCrypto is one a=crypto attribute of the suite we use: its tag and inline key.
type sdpCrypto struct {
	tag int
	key [SRTPKeyLen]byte
}

// ourCrypto is what we put in our descriptions of an encrypted call: the key of our
// direction, and whether the stream is RTP/SAVP.
type ourCrypto struct {
	key  [SRTPKeyLen]byte
	savp bool
}

// newOurCrypto returns fresh keying material for an account in mode, or nil for plain
// RTP.
func newOurCrypto(mode string) *ourCrypto {
	switch mode {
	case SRTPOffered, SRTPRequired:
		c := &ourCrypto{savp: mode == SRTPRequired}
		rand.Read(c.key[:]) // never fails (crypto/rand)
		return c
	}
	return nil
}

// cryptoLine renders an a=crypto attribute value for tag and key.
func cryptoLine(tag int, key [SRTPKeyLen]byte) string {
	return fmt.Sprintf("crypto:%d %s inline:%s", tag, srtpSuite, base64.StdEncoding.EncodeToString(key[:]))
}

// parseCrypto reads the value of an a=crypto attribute, "<tag> <suite> inline:<key>[|...]
// [session params]". It returns ok false, without error, for a suite or key parameters we
// do not use (another suite, a master key identifier, more than one key), which the
// offer/answer simply passes over; an error only for an attribute that is malformed.
func parseCrypto(value string) (c sdpCrypto, ok bool, err error) {
	f := strings.Fields(value)
	if len(f) < 3 {
		return c, false, fmt.Errorf("bad crypto attribute %q", clip(value))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return c, false, fmt.Errorf("crypto attribute %q: bad tag", clip(value))
	}
	c.tag = tag
	if f[1] != srtpSuite || len(f) > 3 {
		return c, false, nil // another suite, or session parameters we do not support
	}
	keyParams := f[2]
	if strings.Contains(keyParams, ";") {
		return c, false, nil // several keys
	}
	inline, ok := strings.CutPrefix(keyParams, "inline:")
	if !ok {
		return c, false, fmt.Errorf("crypto attribute %q: key method is not inline", clip(value))
	}
	keyText, params, _ := strings.Cut(inline, "|")
	if strings.Contains(params, ":") {
		return c, false, nil // a master key identifier
	}
	key, err := base64.StdEncoding.DecodeString(keyText)
	if err != nil || len(key) != SRTPKeyLen {
		return c, false, errors.New("crypto attribute: the key is not 30 bytes of base64")
	}
	copy(c.key[:], key)
	return c, true, nil
}
