package peertest

import (
	"strconv"
	"strings"
	"time"
)

// The built-in UAS scenarios. Each handles one call. Responses copy Via,
// From, To, Call-ID and CSeq from the request (RFC 3261 section 8.2.6.2),
// add a To tag, and echo Record-Route so the call works through a proxy
// (section 12.1.1).

const sdpAnswer = `v=0
o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=sendrecv
`

// recvInvite receives the INVITE and remembers its route set. sipp
// refuses variables that are set but never used, so each capture of
// headers for later messages has its own variant.
const recvInvite = `  <recv request="INVITE" rrs="true"/>
`

// recvInviteCSeq is recvInvite keeping the INVITE's CSeq number in
// $invcseq and its Via header lines in $invvia, for a final response to
// the INVITE after other requests. SIPp's search_in="hdr" finds only the
// first Via, so the regexp takes the run of Via lines from the message.
const recvInviteCSeq = `  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="invcseq"/>
      <ereg regexp="Via: [^[:cntrl:]]*([[:cntrl:]]+Via: [^[:cntrl:]]*)*" search_in="msg" assign_to="invvia"/>
    </action>
  </recv>
`

// recvInviteDialog is recvInvite keeping the caller's From in $rfrom and
// our To in $lto, for a BYE of our own.
const recvInviteDialog = `  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="rfrom"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="lto"/>
    </action>
  </recv>
`

const trying = `  <send>
    <![CDATA[

      SIP/2.0 100 Trying
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
`

const ringing = `  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
`

const okWithSDP = `  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

` + sdpAnswer + `
    ]]>
  </send>
`

const recvACK = `  <recv request="ACK" crlf="true"/>
`

// answerBYE receives the caller's BYE and answers 200 OK.
const answerBYE = `  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
`

const scenarioTail = `</scenario>
`

// ScenarioEcho answers an INVITE with 100, 180 and 200 OK offering PCMU,
// PCMA and telephone-event on sipp's media port, expects the ACK, then
// waits for the caller's BYE and answers 200. Start it with RTPEcho to
// have the RTP echoed.
const ScenarioEcho = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="echo">
` + recvInvite + trying + ringing + okWithSDP + recvACK + answerBYE + scenarioTail

// ScenarioEchoG722 is ScenarioEcho answering with G.722 (payload type 9, at the RTP
// clock of 8000 Hz that RFC 3551 gives it) and telephone-event only: the call is wideband.
var ScenarioEchoG722 = strings.Replace(strings.Replace(ScenarioEcho,
	"m=audio [media_port] RTP/AVP 0 8 101\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n",
	"m=audio [media_port] RTP/AVP 9 101\na=rtpmap:9 G722/8000\n", 1), `name="echo"`, `name="echo-g722"`, 1)

// ScenarioBusy answers an INVITE with 486 Busy Here and expects the ACK.
const ScenarioBusy = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy">
` + recvInvite + `  <send>
    <![CDATA[

      SIP/2.0 486 Busy Here
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
` + recvACK + scenarioTail

// ScenarioRinging answers an INVITE with 100 and 180 and keeps ringing
// until the caller cancels: CANCEL gets 200 OK, the INVITE 487 Request
// Terminated (RFC 3261 section 9.2), then the ACK is expected. The 487
// carries the INVITE's Via headers, not the CANCEL's: behind a proxy the
// CANCEL has only the proxy's, and a 487 with those would reach the caller
// without any.
const ScenarioRinging = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="ringing">
` + recvInviteCSeq + trying + ringing + `  <recv request="CANCEL"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [$invvia]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      CSeq: [$invcseq] INVITE
      Content-Length: 0

    ]]>
  </send>
` + recvACK + scenarioTail

// ScenarioHangup answers an INVITE with 200 OK and SDP, expects the ACK,
// waits 2 s, hangs up with BYE (along the recorded route) and expects 200.
const ScenarioHangup = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hangup">
` + recvInviteDialog + trying + okWithSDP + recvACK + `  <pause milliseconds="2000"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] 127.0.0.1:[local_port];branch=[branch]
      [routes]
      From: [$lto];tag=[call_number]
      To: [$rfrom]
      [last_Call-ID:]
      CSeq: 1 BYE
      Max-Forwards: 70
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
` + scenarioTail

// ScenarioBadSDP answers an INVITE with 200 OK whose SDP body is
// malformed, then expects the ACK and a BYE, which it answers 200.
const ScenarioBadSDP = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="badsdp">
` + recvInvite + trying + `  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Record-Route:]
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

this is not a session description

    ]]>
  </send>
` + recvACK + answerBYE + scenarioTail

// sdpReoffer is the SDP of sipp's own re-INVITEs, in sdpAnswer's form
// with the o= version, m= port, formats, their a= lines and the
// direction given.
func sdpReoffer(version, port, formats, rtpmaps, dir string) string {
	return `v=0
o=sipp 53655765 ` + version + ` IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio ` + port + ` RTP/AVP ` + formats + `
` + rtpmaps + `a=ptime:20
a=` + dir + `
`
}

// reinvite is sipp's own re-INVITE in the dialog of recvInviteDialog,
// along the recorded route, with CSeq cseq and SDP sdp; it expects 200
// (after an optional 100) and sends the ACK.
func reinvite(cseq, sdp string) string {
	return `  <send retrans="500">
    <![CDATA[

      INVITE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] 127.0.0.1:[local_port];branch=[branch]
      [routes]
      From: [$lto];tag=[call_number]
      To: [$rfrom]
      [last_Call-ID:]
      CSeq: ` + cseq + ` INVITE
      Max-Forwards: 70
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

` + sdp + `
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] 127.0.0.1:[local_port];branch=[branch]
      [routes]
      From: [$lto];tag=[call_number]
      To: [$rfrom]
      [last_Call-ID:]
      CSeq: ` + cseq + ` ACK
      Max-Forwards: 70
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
`
}

const allRtpmaps = `a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
`

// ScenarioHold answers an INVITE like ScenarioEcho, then, once the ACK
// came, puts the caller on hold: a re-INVITE offering the same media with
// a=sendonly. After the 200 and its ACK it takes the caller off hold with
// a second re-INVITE that moves its media to MediaAddr's port + 2 and
// offers PCMA (and telephone-event) only. Then it waits for the caller's
// BYE and answers 200.
var ScenarioHold = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="hold">
` + recvInviteDialog + trying + okWithSDP + recvACK + `  <pause milliseconds="200"/>
` + reinvite("1", sdpReoffer("2353687638", "[media_port]", "0 8 101", allRtpmaps, "sendonly")) +
	`  <pause milliseconds="200"/>
` + reinvite("2", sdpReoffer("2353687639", "[media_port+2]", "8 101", "a=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n", "sendrecv")) +
	answerBYE + scenarioTail

// okWithSDPDir is okWithSDP for a re-INVITE: no Record-Route (the route
// set is fixed), and the direction dir.
func okWithSDPDir(dir string) string {
	return `  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:127.0.0.1:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

` + strings.Replace(sdpAnswer, "a=sendrecv", "a="+dir, 1) + `
    ]]>
  </send>
`
}

// ScenarioHeld answers an INVITE like ScenarioEcho, then takes two
// re-INVITEs of the caller, answering the first a=recvonly (the caller
// holds) and the second a=sendrecv (it resumes), each 200 acknowledged,
// then waits for the caller's BYE and answers 200.
var ScenarioHeld = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="held">
` + recvInvite + trying + ringing + okWithSDP + recvACK +
	`  <recv request="INVITE"/>
` + okWithSDPDir("recvonly") + recvACK +
	`  <recv request="INVITE"/>
` + okWithSDPDir("sendrecv") + recvACK + answerBYE + scenarioTail

// ScenarioInfo answers an INVITE like ScenarioEcho, then answers every
// INFO with 200 until the caller's BYE, which it answers 200 too.
const ScenarioInfo = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="info">
` + recvInvite + trying + ringing + okWithSDP + recvACK + infoUntilBYE + scenarioTail

// ScenarioHeldInfo answers an INVITE like ScenarioEcho, then takes one
// re-INVITE of the caller, answering it a=recvonly (the caller holds),
// and then answers every INFO with 200 until the caller's BYE, which it
// answers 200 too.
var ScenarioHeldInfo = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="held-info">
` + recvInvite + trying + ringing + okWithSDP + recvACK +
	`  <recv request="INVITE"/>
` + okWithSDPDir("recvonly") + recvACK + infoUntilBYE + scenarioTail

// infoUntilBYE answers every INFO with 200 until the caller's BYE, which
// it answers 200 too. It uses labels 1 to 3.
const infoUntilBYE = `  <label id="1"/>
  <recv request="INFO" optional="true" next="2"/>
` + answerBYE + `  <nop next="3"/>
  <label id="2"/>
  <send next="1">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <label id="3"/>
`

// ScenarioCall is a UAC scenario: it calls the service (SIPpConfig.Call, user -s) with an
// offer of PCMU on sipp's media port, acknowledges the 200 OK, waits a second and hangs
// up. A final answer other than 200 fails it.
const ScenarioCall = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="call">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="1000"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
` + scenarioTail

// ScenarioStream returns a UAC scenario: it calls the service (SIPpConfig.Call, user -s)
// with an offer of PCMU on sipp's media port, acknowledges the 200 OK and sends the G.711
// μ-law file at path (raw, or in a WAV file) as 20 ms RTP packets, over and over, for
// hold; then it hangs up. sipp's RTP threads pace every call's stream, so that many calls
// cost a load generator little: SIPpConfig.Calls of them, placed at once.
func ScenarioStream(path string, hold time.Duration) string {
	return strings.NewReplacer("{file}", path, "{hold}", strconv.FormatInt(hold.Milliseconds(), 10)).Replace(scenarioStream)
}

const scenarioStream = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="stream">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [rtpstream_audio_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <nop><action><exec rtp_stream="{file},-1,0"/></action></nop>
  <pause milliseconds="{hold}"/>
  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      [routes]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
` + scenarioTail
