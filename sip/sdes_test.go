package sip

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
)

// answerWithCrypto is a conference's answer to an SRTP offer, in proto, with the crypto
// lines given.
func answerWithCrypto(proto string, crypto ...string) []byte {
	b := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 " + proto + " 0\r\n"
	for _, c := range crypto {
		b += "a=crypto:" + c + "\r\n"
	}
	return []byte(b + "a=sendrecv\r\n")
}

func TestSRTPOffer(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:4000")
	for _, tc := range []struct {
		mode, proto string
	}{{SRTPRequired, "RTP/SAVP"}, {SRTPOffered, "RTP/AVP"}} {
		c := newOurCrypto(tc.mode)
		body := string(offerSDP(local, 1, c, mediaPrefs{}))
		want := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(c.key[:]) + "\r\n"
		if !strings.Contains(body, "m=audio 4000 "+tc.proto+" ") || !strings.Contains(body, want) {
			t.Errorf("%s offer lacks %s or %q:\n%s", tc.mode, tc.proto, want, body)
		}
	}
	for _, mode := range []string{"", SRTPOff} {
		if c := newOurCrypto(mode); c != nil {
			t.Errorf("mode %q makes keys", mode)
		}
	}
	if body := string(offerSDP(local, 1, nil, mediaPrefs{})); strings.Contains(body, "crypto") || !strings.Contains(body, " RTP/AVP ") {
		t.Errorf("a plain offer:\n%s", body)
	}
}

func TestSRTPAnswer(t *testing.T) {
	key := strings.Repeat("k", SRTPKeyLen)
	inline := base64.StdEncoding.EncodeToString([]byte(key))
	good := "1 AES_CM_128_HMAC_SHA1_80 inline:" + inline
	for _, tc := range []struct {
		name string
		sdp  []byte
		want srtpWant
		on   bool
		err  string
	}{
		{"required, keyed", answerWithCrypto("RTP/SAVP", good), srtpMust, true, ""},
		{"required, lifetime", answerWithCrypto("RTP/SAVP", good+"|2^31"), srtpMust, true, ""},
		{"required, first usable key", answerWithCrypto("RTP/SAVP", "2 AES_256_CM_HMAC_SHA1_80 inline:"+inline+inline, good), srtpMust, true, ""},
		{"required, no key", answerWithCrypto("RTP/SAVP"), srtpMust, false, "without a key"},
		{"required, plain answer", answerWithCrypto("RTP/AVP"), srtpMust, false, "does not encrypt"},
		{"required, key with an identifier", answerWithCrypto("RTP/SAVP", good+"|2^20|1:4"), srtpMust, false, "without a key"},
		{"required, short key", answerWithCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ="), srtpMust, false, "not 30 bytes"},
		{"required, bad tag", answerWithCrypto("RTP/SAVP", "x AES_CM_128_HMAC_SHA1_80 inline:"+inline), srtpMust, false, "bad tag"},
		{"offered, keyed", answerWithCrypto("RTP/AVP", good), srtpOptional, true, ""},
		{"offered, plain", answerWithCrypto("RTP/AVP"), srtpOptional, false, ""},
		{"plain call, keys passed over", answerWithCrypto("RTP/AVP", good), srtpNone, false, ""},
		{"plain call, SAVP refused", answerWithCrypto("RTP/SAVP", good), srtpNone, false, "no accepted RTP/AVP"},
	} {
		m, err := parseAnswer(tc.sdp, tc.want, mediaPrefs{})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case m.SRTP.On() != tc.on:
			t.Errorf("%s: SRTP on %v, want %v", tc.name, m.SRTP.On(), tc.on)
		case tc.on && (string(m.SRTP.Remote[:]) != key || m.cryptoTag != 1):
			t.Errorf("%s: remote key %q, tag %d; want %q, 1", tc.name, m.SRTP.Remote, m.cryptoTag, key)
		}
	}
}
