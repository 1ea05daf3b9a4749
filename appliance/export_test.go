package appliance

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
