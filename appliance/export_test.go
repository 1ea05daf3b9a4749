package appliance

import "net/netip"

// HeardDigits returns the DTMF digits the call of handset i has received so far: the
// end-to-end tests use it to see the PIN that an echoing conference sent back.
func (a *Appliance) HeardDigits(i int) string {
	l := a.lines[i]
	l.mu.Lock()
	call := l.call
	l.mu.Unlock()
	if cl, ok := call.(*conferenceLeg); ok {
		return cl.session.HeardDigits()
	}
	return ""
}

// CallMedia returns where the call of handset i sends its RTP now and with which codec,
// "" when it is not in a call.
func (a *Appliance) CallMedia(i int) (netip.AddrPort, string) {
	l := a.lines[i]
	l.mu.Lock()
	call := l.call
	l.mu.Unlock()
	if cl, ok := call.(*conferenceLeg); ok {
		return cl.session.Remote(), cl.session.Codec().Name()
	}
	return netip.AddrPort{}, ""
}

// CallDTMFPayloadType returns the payload type of telephone-event in the call of handset i
// now, 0 when it has none or is not in a call.
func (a *Appliance) CallDTMFPayloadType(i int) uint8 {
	l := a.lines[i]
	l.mu.Lock()
	call := l.call
	l.mu.Unlock()
	if cl, ok := call.(*conferenceLeg); ok {
		return cl.session.DTMFPayloadType()
	}
	return 0
}
