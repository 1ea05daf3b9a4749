package peertest

import "strconv"

// pcmuEvent96 are the a= lines of PCMU and telephone-event on payload type 96.
const pcmuEvent96 = "a=rtpmap:0 PCMU/8000\na=rtpmap:96 telephone-event/8000\na=fmtp:96 0-16\n"

// answerReinvite receives a re-INVITE of the caller, answers it 200 with sdp and
// receives the ACK.
func answerReinvite(sdp string) string {
	return `  <recv request="INVITE"/>
  <send retrans="500">
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

` + sdp + `
    ]]>
  </send>
` + recvACK
}

// ScenarioDTMFChange answers an INVITE with 200 OK offering PCMU, PCMA and
// telephone-event on payload type 101, then, once the ACK came, renumbers telephone-event
// with a re-INVITE offering PCMU and telephone-event on 96, and moves the media to
// rtpPort on 127.0.0.1, where the test reads the caller's RTP. It waits for the caller to
// hold (a re-INVITE it answers recvonly, PCMU and 96, still at rtpPort), then removes
// telephone-event with a re-INVITE offering PCMU alone, back on sipp's media port. It
// answers the caller's resume (PCMU, sendrecv) and one INFO (a digit) 200, then waits for
// the caller's BYE and answers 200. Start it with RTPEcho.
func ScenarioDTMFChange(rtpPort uint16) string {
	port := strconv.Itoa(int(rtpPort))
	return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dtmf-change">
` + recvInviteDialog + trying + okWithSDP + recvACK + `  <pause milliseconds="200"/>
` + reinvite("1", sdpReoffer("2353687638", port, "0 96", pcmuEvent96, "sendrecv")) +
		answerReinvite(sdpReoffer("2353687639", port, "0 96", pcmuEvent96, "recvonly")) +
		reinvite("2", sdpReoffer("2353687640", "[media_port]", "0", "a=rtpmap:0 PCMU/8000\n", "sendrecv")) +
		answerReinvite(sdpReoffer("2353687641", "[media_port]", "0", "a=rtpmap:0 PCMU/8000\n", "sendrecv")) +
		answerINFO + answerBYE + scenarioTail
}
