package appliance

import "net/netip"

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
