package peertest

import "strings"

// okPCMUOnly is okWithSDP answering PCMU alone, without telephone-event: the caller
// sends its digits as SIP INFO.
var okPCMUOnly = strings.Replace(okWithSDP,
	"m=audio [media_port] RTP/AVP 0 8 101\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n",
	"m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n", 1)

// answerINFO receives an INFO of the caller and answers 200.
const answerINFO = `  <recv request="INFO"/>
  <send>
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
`

// ScenarioRecode answers an INVITE with 200 OK offering PCMU alone (no telephone-event),
// then, once the ACK came, switches the call to G.722 with a re-INVITE offering payload
// type 9 only: the caller's audio goes from 8 to 16 kHz on the same RTP clock. It stays
// there until the caller sends an INFO (a digit), which it answers 200; then it switches
// the call back to PCMU with a second re-INVITE, waits for the caller's BYE and answers
// 200. Start it with RTPEcho to have the RTP echoed, in whichever codec it comes.
var ScenarioRecode = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="recode">
` + recvInviteDialog + trying + okPCMUOnly + recvACK + `  <pause milliseconds="200"/>
` + reinvite("1", sdpReoffer("2353687638", "[media_port]", "9", "a=rtpmap:9 G722/8000\n", "sendrecv")) +
	answerINFO +
	reinvite("2", sdpReoffer("2353687639", "[media_port]", "0", "a=rtpmap:0 PCMU/8000\n", "sendrecv")) +
	answerBYE + scenarioTail

// ScenarioRecodeOpus is ScenarioRecode through all three kinds of codec: PCMU in its 200
// OK, then a re-INVITE to Opus (payload type 96, opus/48000/2: the RTP clock goes from 8 to
// 48 kHz), and after each INFO from the caller (a digit) a re-INVITE to G.722 and another
// back to PCMU. Start it with RTPEcho.
var ScenarioRecodeOpus = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="recode-opus">
` + recvInviteDialog + trying + okPCMUOnly + recvACK + `  <pause milliseconds="200"/>
` + reinvite("1", sdpReoffer("2353687638", "[media_port]", "96", "a=rtpmap:96 opus/48000/2\na=fmtp:96 useinbandfec=1\n", "sendrecv")) +
	answerINFO +
	reinvite("2", sdpReoffer("2353687639", "[media_port]", "9", "a=rtpmap:9 G722/8000\n", "sendrecv")) +
	answerINFO +
	reinvite("3", sdpReoffer("2353687640", "[media_port]", "0", "a=rtpmap:0 PCMU/8000\n", "sendrecv")) +
	answerBYE + scenarioTail
