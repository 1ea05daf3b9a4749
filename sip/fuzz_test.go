package sip

import (
	"net/netip"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// FuzzParseURI checks that a URI ParseURI accepts can go into a header:
// it renders back to itself, sipgo reads the same parts from it, and it
// holds nothing that ends or splits a header.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"sip:desk4@example.com",
		"sips:alice@example.com:5061;transport=tls",
		"sip:+15551234@192.0.2.1;user=phone",
		"sip:conf@[2001:db8::1]:5070",
		"sip:a%20b@host;lr",
		`"Alice" <sip:alice@example.com>`,
		"sip:alice@example.com\r\nX: 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		text := u.String()
		if strings.ContainsAny(text, " \t\r\n\"<>,?") {
			t.Fatalf("ParseURI(%q) = %q, which can break a header", s, text)
		}
		again, err := ParseURI(text)
		if err != nil || again != u {
			t.Fatalf("ParseURI(%q) = %+v, whose text %q parses as %+v, %v", s, u, text, again, err)
		}
		var su sipmsg.Uri
		if err := sipmsg.ParseUri(text, &su); err != nil {
			t.Fatalf("sipgo cannot parse %q: %v", text, err)
		}
		if su.User != u.User || strings.Trim(su.Host, "[]") != u.Host || su.Port != int(u.Port) {
			t.Fatalf("sipgo reads %q as user %q host %q port %d, we as %+v", text, su.User, su.Host, su.Port, u)
		}
		forSipgo := u.sipURI()
		if got := forSipgo.String(); got != text {
			t.Fatalf("for sipgo %q renders as %q", text, got)
		}
	})
}

// FuzzAnswerOffer checks the answer to a re-INVITE's offer: whatever
// offer negotiate takes, our answer parses, has an m= line for each of
// the offer's, and settles the same codec in the mirrored direction.
func FuzzAnswerOffer(f *testing.F) {
	f.Add([]byte(sippAnswer))
	f.Add(offerSDP(netip.MustParseAddrPort("127.0.0.1:4000"), 1, nil, mediaPrefs{}))
	f.Add([]byte("v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 7002 RTP/AVP 31\r\nm=audio 7000 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\na=inactive\r\nm=audio 7000 RTP/SAVP 0\r\nm=audio 7000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\n"))
	f.Add(offerSDP(netip.MustParseAddrPort("127.0.0.1:4000"), 1, newOurCrypto(SRTPRequired), mediaPrefs{}))
	f.Add(offerSDP(netip.MustParseAddrPort("127.0.0.1:4000"), 1, newOurCrypto(SRTPOffered), mediaPrefs{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		offer, err := parseSDP(b)
		if err != nil {
			return
		}
		m, at, err := offer.negotiate(true, srtpOptional, mediaPrefs{})
		if err != nil {
			return
		}
		o := sdpOut{local: netip.MustParseAddrPort("192.0.2.1:4000"), id: 1, version: 2, dir: m.Direction, audio: m.formats(), offer: offer, audioAt: at}
		key := m.SRTP.Remote // answered with the same key, to check it comes back
		if m.SRTP.On() {
			o.crypto, o.cryptoTag, o.savp = &key, m.cryptoTag, m.savp
		}
		body := writeSDP(o)
		answer, err := parseSDP(body)
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, body)
		}
		if len(answer.streams) != len(offer.streams) {
			t.Fatalf("answer has %d m= lines, the offer %d:\n%s", len(answer.streams), len(offer.streams), body)
		}
		got, at2, err := answer.negotiate(false, srtpOptional, mediaPrefs{})
		if err != nil || at2 != at {
			t.Fatalf("our answer negotiates to stream %d, %v (want %d):\n%s", at2, err, at, body)
		}
		if got.Codec != m.Codec || got.PayloadType != m.PayloadType || got.DTMFPayloadType != m.DTMFPayloadType || got.Direction != m.Direction.mirror() ||
			got.SRTP.Remote != m.SRTP.Remote || got.savp != m.savp {
			t.Fatalf("answer settles %+v, the offer %+v:\n%s", got, m, body)
		}
	})
}

// FuzzIncomingRequest checks the validation of what sipgo parses from a
// datagram: it never panics, and a request it passes has what the
// handlers then use.
func FuzzIncomingRequest(f *testing.F) {
	f.Add([]byte("OPTIONS sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKx\r\nFrom: <sip:p@127.0.0.1>;tag=a\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("BYE sip:alice@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKy\r\nFrom: <sip:p@127.0.0.1>;tag=a\r\nTo: <sip:alice@127.0.0.1>;tag=b\r\nCall-ID: c1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INVITE tel:+1555 SIP/2.0\r\nCSeq: 1 BYE\r\nFrom: x\r\n\r\n"))
	f.Add([]byte("ACK sip:a@b SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := sipmsg.ParseMessage(b)
		if err != nil {
			return
		}
		req, ok := msg.(*sipmsg.Request)
		if !ok {
			return
		}
		_ = sdpBody(req)
		if badRequest(req) != "" {
			return
		}
		if req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
			t.Fatalf("badRequest passed a request without dialog headers:\n%s", b)
		}
		key, ok := requestDialog(req)
		if ok && (key.callID == "" || key.localTag == "" || key.remoteTag == "") {
			t.Fatalf("dialog key %+v from:\n%s", key, b)
		}
		if ok != inDialog(req) {
			t.Fatalf("requestDialog says %v, inDialog %v, for:\n%s", ok, inDialog(req), b)
		}
	})
}
