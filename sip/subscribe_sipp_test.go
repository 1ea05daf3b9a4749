package sip

import (
	"context"
	"testing"
	"time"

	"partyline/sip/peertest"
)

// notifyFrom is one NOTIFY of the scenario below: conference-info document doc, CSeq cseq.
func notifyFrom(cseq, doc string) string {
	return `  <send retrans="500">
    <![CDATA[

      NOTIFY [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: [$lto];tag=[call_number]
      To: [$rfrom]
      [last_Call-ID:]
      CSeq: ` + cseq + ` NOTIFY
      Max-Forwards: 70
      Contact: <sip:room@[local_ip]:[local_port]>;isfocus
      Event: conference
      Subscription-State: active;expires=600
      Content-Type: application/conference-info+xml
      Content-Length: [len]

` + doc + `
    ]]>
  </send>
  <recv response="200"/>
`
}

// pause spaces the notifications out.
const pause = `  <pause milliseconds="300"/>
`

const (
	fullDoc = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:room@partyline.test" state="full" version="1">
<users>
<user entity="sip:alice@partyline.test" state="full"><display-text>Alice</display-text>
<endpoint entity="sip:alice@192.0.2.1"><status>connected</status><media id="1"><status>sendrecv</status></media></endpoint></user>
<user entity="sip:bob@partyline.test" state="full"><display-text>Bob</display-text>
<endpoint entity="sip:bob@192.0.2.2"><status>connected</status></endpoint></user>
</users>
</conference-info>`
	// partialDoc removes Bob and adds Carol, muted.
	partialDoc = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:room@partyline.test" state="partial" version="2">
<users>
<user entity="sip:bob@partyline.test" state="deleted"/>
<user entity="sip:carol@partyline.test" state="full"><display-text>Carol</display-text>
<endpoint entity="sip:carol@192.0.2.3"><status>connected</status><media id="1"><status>recvonly</status></media></endpoint></user>
</users>
</conference-info>`
	// unmuteDoc, version 3, unmutes Carol.
	unmuteDoc = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:room@partyline.test" state="partial" version="3">
<users>
<user entity="sip:carol@partyline.test" state="partial">
<endpoint entity="sip:carol@192.0.2.3" state="partial"><media id="1"><status>sendrecv</status></media></endpoint></user>
</users>
</conference-info>`
	// staleDoc claims version 2 again, with Dave: out of order, it must change nothing.
	staleDoc = `<?xml version="1.0" encoding="UTF-8"?>
<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:room@partyline.test" state="partial" version="2">
<users><user entity="sip:dave@partyline.test" state="full"><display-text>Dave</display-text></user></users>
</conference-info>`
)

// scenarioConferenceEvents takes a SUBSCRIBE to the conference event package, accepts it,
// and sends a full notification, a partial one, a stale one and one more partial one, each
// answered 200; then it takes the unsubscribe and answers it.
var scenarioConferenceEvents = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="conference-events">
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="rfrom"/>
      <ereg regexp="[^ ].*" search_in="hdr" header="To:" assign_to="lto"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:room@[local_ip]:[local_port]>;isfocus
      Expires: 600
      Allow-Events: conference
      Content-Length: 0

    ]]>
  </send>
` + notifyFrom("1", fullDoc) + pause + notifyFrom("2", partialDoc) + pause + notifyFrom("3", staleDoc) + pause + notifyFrom("4", unmuteDoc) + `  <recv request="SUBSCRIBE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:room@[local_ip]:[local_port]>
      Expires: 0
      Content-Length: 0

    ]]>
  </send>
</scenario>
`

// TestSubscribeFollowsSIPpNotifications subscribes to a conference that SIPp plays: the
// roster follows its full and partial notifications in order, ignores a stale one (had it
// been applied, Dave would stay in the roster), and the subscription ends with an
// unsubscribe.
func TestSubscribeFollowsSIPpNotifications(t *testing.T) {
	s := peertest.StartSIPp(t, peertest.SIPpConfig{Scenario: scenarioConferenceEvents})
	a := startAgent(t)
	acc := Account{User: "trunk", Domain: "partyline.test", Proxy: s.Addr().String()}
	w := newRosterWatch()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- a.Subscribe(ctx, SubscribeRequest{Target: "sip:room@partyline.test", Account: acc, OnRoster: w.report})
	}()
	w.await(t, "sip:alice@partyline.test", "sip:bob@partyline.test")
	got := w.await(t, "sip:alice@partyline.test", "sip:carol@partyline.test")
	if got[1].DisplayName != "Carol" || !got[1].Muted || got[0].Muted {
		t.Errorf("after the partial notification: %+v, want Carol muted, Alice not", got)
	}
	// The stale notification changes nothing; the next one unmutes Carol.
	deadline := time.Now().Add(failsafe)
	for {
		got = w.await(t, "sip:alice@partyline.test", "sip:carol@partyline.test")
		if !got[1].Muted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Carol still muted after version 3: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Subscribe: %v", err)
	}
	if err := s.Wait(failsafe); err != nil {
		t.Errorf("SIPp (expects the unsubscribe): %v", err)
	}
}
