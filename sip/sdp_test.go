package sip

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestOfferSDP(t *testing.T) {
	got := offerSDP(netip.MustParseAddrPort("192.0.2.10:40000"), 1234, nil, mediaPrefs{})
	golden := filepath.Join("testdata", "offer.sdp")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden offer (run go test -update to write it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("offer:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	// Our own offer is a valid answer to itself.
	m, err := parseAnswer(got, srtpNone, mediaPrefs{})
	if err != nil {
		t.Fatalf("parseAnswer(offer): %v", err)
	}
	if want := (Media{Codec: "opus", PayloadType: 111, DTMFPayloadType: 101, Remote: netip.MustParseAddrPort("192.0.2.10:40000")}); m != want {
		t.Errorf("parseAnswer(offer) = %+v, want %+v", m, want)
	}
}

// sipp is the answer of the peertest scenarios, with the LF line ends
// some servers send.
const sippAnswer = "v=0\n" +
	"o=sipp 53655765 2353687637 IN IP4 127.0.0.1\n" +
	"s=-\n" +
	"c=IN IP4 127.0.0.1\n" +
	"t=0 0\n" +
	"m=audio 6000 RTP/AVP 0 8 101\n" +
	"a=rtpmap:0 PCMU/8000\n" +
	"a=rtpmap:8 PCMA/8000\n" +
	"a=rtpmap:101 telephone-event/8000\n" +
	"a=fmtp:101 0-16\n" +
	"a=ptime:20\n" +
	"a=sendrecv\n\n"

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestParseAnswer(t *testing.T) {
	head := "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
	tests := []struct {
		name    string
		sdp     string
		want    Media
		wantErr string // substring of the error; "" for success
	}{
		{"sipp answer", sippAnswer, Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101, Remote: netip.MustParseAddrPort("127.0.0.1:6000"), Direction: SendRecv}, ""},
		{"crlf", crlf(sippAnswer), Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 101, Remote: netip.MustParseAddrPort("127.0.0.1:6000"), Direction: SendRecv}, ""},
		{"answerer prefers PCMA", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 8 0\r\n",
			Media{Codec: "PCMA", PayloadType: 8, DTMFPayloadType: 0, Remote: netip.MustParseAddrPort("10.0.0.2:7000"), Direction: SendRecv}, ""},
		{"dynamic telephone-event, media-level c=", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0 96\r\nc=IN IP4 10.0.0.3\r\na=rtpmap:96 telephone-event/8000\r\n",
			Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 96, Remote: netip.MustParseAddrPort("10.0.0.3:7000"), Direction: SendRecv}, ""},
		{"no telephone-event", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0\r\n",
			Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 0, Remote: netip.MustParseAddrPort("10.0.0.2:7000"), Direction: SendRecv}, ""},
		{"rejected video first", head + "c=IN IP4 10.0.0.2\r\nm=video 0 RTP/AVP 31\r\nm=audio 7000 RTP/AVP 8\r\n",
			Media{Codec: "PCMA", PayloadType: 8, DTMFPayloadType: 0, Remote: netip.MustParseAddrPort("10.0.0.2:7000"), Direction: SendRecv}, ""},
		{"telephone-event at 16 kHz ignored", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0 97\r\na=rtpmap:97 telephone-event/16000\r\n",
			Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 0, Remote: netip.MustParseAddrPort("10.0.0.2:7000"), Direction: SendRecv}, ""},
		{"peertest bad sdp", "this is not a session description\n\n", Media{}, "line 1"},
		{"empty", "", Media{}, "empty"},
		{"no v=", "o=- 1 2 IN IP4 10.0.0.1\r\n", Media{}, "want v=0"},
		{"only codec we lack", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 3\r\na=rtpmap:3 GSM/8000\r\n", Media{}, "no common codec"},
		{"G.722 at its RTP clock of 8000", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 9 0\r\na=rtpmap:9 G722/8000\r\n", Media{Codec: "G722", PayloadType: 9, Remote: netip.MustParseAddrPort("10.0.0.2:7000")}, ""},
		{"PT 0 mapped to another codec", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:0 G729/8000\r\n", Media{}, "no common codec"},
		{"stream rejected", head + "c=IN IP4 10.0.0.2\r\nm=audio 0 RTP/AVP 0\r\n", Media{}, "no accepted"},
		{"SRTP", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/SAVP 0\r\n", Media{}, "no accepted"},
		{"no c=", head + "m=audio 7000 RTP/AVP 0\r\n", Media{}, "no connection address"},
		{"hold address", head + "c=IN IP4 0.0.0.0\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "not a unicast"},
		{"multicast", head + "c=IN IP4 224.2.1.1/127\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "is a multicast address, not a unicast"},
		{"all hosts", head + "c=IN IP4 224.0.0.1\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "is a multicast address"},
		{"broadcast", head + "c=IN IP4 255.255.255.255\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "is the broadcast address, not a unicast"},
		{"broadcast at media level", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0\r\nc=IN IP4 255.255.255.255\r\n", Media{}, "is the broadcast address"},
		{"broadcast of our loopback network", head + "c=IN IP4 127.255.255.255\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "broadcast address of a network we are on"},
		{"reserved", head + "c=IN IP4 240.0.0.1\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "reserved"},
		{"this network", head + "c=IN IP4 0.1.2.3\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "this network"},
		{"IPv6 multicast", head + "c=IN IP6 ff02::1\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "is a multicast address"},
		{"IPv4-mapped broadcast", head + "c=IN IP6 ::ffff:255.255.255.255\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "is the broadcast address"},
		{"IPv6 unspecified", head + "c=IN IP6 ::\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "unspecified address, not a unicast"},
		{"host next to a broadcast address", head + "c=IN IP4 127.255.255.254\r\nm=audio 7000 RTP/AVP 0\r\n",
			Media{Codec: "PCMU", PayloadType: 0, DTMFPayloadType: 0, Remote: netip.MustParseAddrPort("127.255.255.254:7000"), Direction: SendRecv}, ""},
		{"IP4 with IPv6 address", head + "c=IN IP4 ::1\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "not an IP4 address"},
		{"port too big", head + "c=IN IP4 10.0.0.2\r\nm=audio 70000 RTP/AVP 0\r\n", Media{}, "not a port"},
		{"format not a payload type", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0 pcmu\r\n", Media{}, "not an RTP payload type"},
		{"payload type too big", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 200\r\n", Media{}, "not an RTP payload type"},
		{"bad rtpmap", head + "c=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n", Media{}, "bad rtpmap"},
		{"empty line inside", head + "\r\nc=IN IP4 10.0.0.2\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "line 5"},
		{"second o=", head + "o=- 1 2 IN IP4 10.0.0.1\r\n", Media{}, "o= out of place"},
		{"bad origin", "v=0\r\no=- x 2 IN IP4 10.0.0.1\r\ns=-\r\n", Media{}, "not a number"},
		{"m= before s=", "v=0\r\no=- 1 2 IN IP4 10.0.0.1\r\nm=audio 7000 RTP/AVP 0\r\n", Media{}, "before the o= and s="},
		{"short m=", head + "m=audio 7000 RTP/AVP\r\n", Media{}, "want <media>"},
		{"too big", head + strings.Repeat("a=x\r\n", maxSDPSize/5+1), Media{}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAnswer([]byte(tt.sdp), srtpNone, mediaPrefs{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseAnswer = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("parseAnswer = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzParseAnswer checks that no answer, however malformed, makes
// parseAnswer panic or return media that cannot be used.
func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte(sippAnswer))
	f.Add([]byte(crlf(sippAnswer)))
	f.Add(offerSDP(netip.MustParseAddrPort("127.0.0.1:4000"), 1, nil, mediaPrefs{}))
	f.Add([]byte("this is not a session description\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseAnswer(b, srtpNone, mediaPrefs{})
		if err != nil {
			if m != (Media{}) {
				t.Errorf("parseAnswer returned %+v with error %v", m, err)
			}
			return
		}
		if m.Codec != "PCMU" && m.Codec != "PCMA" && m.Codec != "G722" && m.Codec != "opus" {
			t.Errorf("codec %q", m.Codec)
		}
		if m.PayloadType > 127 || m.DTMFPayloadType > 127 {
			t.Errorf("payload types %d, %d", m.PayloadType, m.DTMFPayloadType)
		}
		if !m.Remote.IsValid() || m.Remote.Port() == 0 || checkUnicast(m.Remote.Addr()) != nil {
			t.Errorf("remote %v", m.Remote)
		}
	})
}

// TestOpusNegotiation: Opus is taken at opus/48000/2 with telephone-event at its clock
// (or at 8000 Hz where the peer lists only that), in the peer's order of preference, and
// written back as RFC 7587 has it; Opus at another rate is not Opus.
func TestOpusNegotiation(t *testing.T) {
	sdp := func(formats string, maps ...string) []byte {
		s := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP " + formats + "\r\n"
		for _, m := range maps {
			s += "a=rtpmap:" + m + "\r\n"
		}
		return []byte(s)
	}
	for _, tt := range []struct {
		name      string
		body      []byte
		codec     string
		pt, dtmf  uint8
		rtpmapOut string
	}{
		{"opus with its own telephone-event", sdp("96 97 101 0", "96 opus/48000/2", "97 telephone-event/48000", "101 telephone-event/8000"), "opus", 96, 97, "a=rtpmap:97 telephone-event/48000"},
		{"opus with telephone-event at 8000 Hz", sdp("96 101", "96 opus/48000/2", "101 telephone-event/8000"), "opus", 96, 101, "a=rtpmap:101 telephone-event/8000"},
		{"the peer prefers G.722", sdp("9 96", "96 opus/48000/2"), "G722", 9, 0, "a=rtpmap:9 G722/8000"},
		{"opus at 16 kHz is no Opus of RFC 7587", sdp("96 0", "96 opus/16000/1"), "PCMU", 0, 0, "a=rtpmap:0 PCMU/8000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseAnswer(tt.body, srtpNone, mediaPrefs{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Codec != tt.codec || m.PayloadType != tt.pt || m.DTMFPayloadType != tt.dtmf {
				t.Errorf("negotiated %s on %d, telephone-event %d; want %s on %d, telephone-event %d", m.Codec, m.PayloadType, m.DTMFPayloadType, tt.codec, tt.pt, tt.dtmf)
			}
			out := string(writeSDP(sdpOut{local: netip.MustParseAddrPort("127.0.0.1:4000"), audio: m.formats()}))
			if !strings.Contains(out, tt.rtpmapOut) {
				t.Errorf("our answer:\n%s\nwant %q", out, tt.rtpmapOut)
			}
			if tt.codec == "opus" && (!strings.Contains(out, "a=rtpmap:96 opus/48000/2\r\n") || !strings.Contains(out, "a=fmtp:96 stereo=0; sprop-stereo=0; useinbandfec=1\r\n")) {
				t.Errorf("our answer:\n%s\nwant Opus as opus/48000/2 with useinbandfec=1", out)
			}
		})
	}
}

// TestOfferFollowsTheAccountsCodecs: an account's codecs are offered in its order and no
// others; DTMF by SIP INFO offers no telephone-event; an answer is read for the first codec
// the account allows, and a codec it does not allow is no common codec.
func TestOfferFollowsTheAccountsCodecs(t *testing.T) {
	local := netip.MustParseAddrPort("192.0.2.10:40000")
	for _, tt := range []struct {
		acc      Account
		mline    string
		rtpmaps  []string
		noEvents bool
	}{
		{Account{}, "m=audio 40000 RTP/AVP 111 9 0 8 101", []string{"opus", "G722", "PCMU", "PCMA", "telephone-event"}, false},
		{Account{Codecs: []string{"pcma", "G722", "OPUS"}}, "m=audio 40000 RTP/AVP 8 9 111 101", []string{"PCMA", "G722", "opus", "telephone-event"}, false},
		{Account{Codecs: []string{"PCMU"}, DTMF: DTMFInfo}, "m=audio 40000 RTP/AVP 0\r\n", []string{"PCMU"}, true},
	} {
		body := string(offerSDP(local, 1, nil, tt.acc.mediaPrefs()))
		if !strings.Contains(body, tt.mline) {
			t.Errorf("%+v: offer lacks %q:\n%s", tt.acc, tt.mline, body)
		}
		for _, name := range tt.rtpmaps {
			if !strings.Contains(body, " "+name+"/8000") && !strings.Contains(body, " "+name+"/48000/2") {
				t.Errorf("%+v: offer lacks %s:\n%s", tt.acc, name, body)
			}
		}
		if got := strings.Count(body, "a=rtpmap:"); got != len(tt.rtpmaps) {
			t.Errorf("%+v: %d rtpmaps, want %d:\n%s", tt.acc, got, len(tt.rtpmaps), body)
		}
	}

	answer := []byte("v=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\n" +
		"m=audio 5000 RTP/AVP 9 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
	m, err := parseAnswer(answer, srtpNone, Account{Codecs: []string{"PCMA"}, DTMF: DTMFInfo}.mediaPrefs())
	if err != nil || m.Codec != "PCMA" || m.DTMFPayloadType != 0 {
		t.Errorf("answer G722, PCMA, events to a PCMA-only account by INFO: %+v, %v; want PCMA without events", m, err)
	}
	if _, err := parseAnswer(answer, srtpNone, Account{Codecs: []string{"PCMU"}}.mediaPrefs()); err == nil {
		t.Errorf("an answer without PCMU to a PCMU-only account was taken")
	}
}
