package appliance

import (
	"net/netip"

	"partyline/appliance/handset"
)

// callLeg returns the leg of the call of handset i, nil when it is not in one.
func (a *Appliance) callLeg(i int) *handsetLeg {
	hl, _ := a.lines[i].Leg().(*handsetLeg)
	return hl
}

// HeardDigits returns the DTMF digits the call of handset i has received so far: the
// end-to-end tests use it to see the PIN that an echoing conference sent back.
func (a *Appliance) HeardDigits(i int) string {
	if cl := a.callLeg(i); cl != nil {
		return cl.Session().HeardDigits()
	}
	return ""
}

// CallMedia returns where the call of handset i sends its RTP now and with which codec,
// "" when it is not in a call.
func (a *Appliance) CallMedia(i int) (netip.AddrPort, string) {
	if cl := a.callLeg(i); cl != nil {
		return cl.Session().Remote(), cl.Session().Codec().Name()
	}
	return netip.AddrPort{}, ""
}

// CallDTMFPayloadType returns the payload type of telephone-event in the call of handset i
// now, 0 when it has none or is not in a call.
func (a *Appliance) CallDTMFPayloadType(i int) uint8 {
	if cl := a.callLeg(i); cl != nil {
		return cl.Session().DTMFPayloadType()
	}
	return 0
}

// PressJoinLeave does on handset i what its call button does by default: it joins when
// the handset is not in a call and leaves when it is.
func (a *Appliance) PressJoinLeave(i int) error { return a.lines[i].Do(handset.JoinLeave) }

// HandsetState returns the state of handset i's line.
func (a *Appliance) HandsetState(i int) handset.State { return a.lines[i].Status().State }

// PressRecord does on handset i what a button mapped to record does: it starts or stops
// recording the handset's conference.
func (a *Appliance) PressRecord(i int) error { return a.lines[i].Do(handset.Record) }

// HandsetRecorded reports whether the conference of handset i is being recorded.
func (a *Appliance) HandsetRecorded(i int) bool { return a.services.HandsetRecorded(i) }

// HandsetLeg returns the leg of handset i's call, nil without one.
func (a *Appliance) HandsetLeg(i int) handset.Leg { return a.lines[i].Leg() }
