package media

import (
	"context"
	"time"
)

// DefaultRTPTimeout is how long RTP may stay away, while it is expected, before a Session
// reports it, when SessionConfig.RTPTimeout is 0.
const DefaultRTPTimeout = 30 * time.Second

// TimedOut returns a channel that is closed once no RTP has arrived from Remote for
// SessionConfig.RTPTimeout while RTP was expected (see SetRTPExpected): the far end is
// gone, or something between it and us, and the owner should end the call. The session
// goes on as it was; it is for the owner to stop it. The wait starts when the session is
// made, so a far end that never sends times out too. RTCP does not count, as it would
// keep a call alive whose audio stopped; RTP of any payload type does (comfort noise,
// telephone events).
func (s *Session) TimedOut() <-chan struct{} { return s.timedOut }

// SetRTPExpected tells the session whether the far end is to send RTP now: false while
// the call is on hold, ours or the far end's, when a far end rightly sends nothing, and
// true again when the hold ends, which starts the wait for RTP afresh. The RTP timeout
// counts only while RTP is expected, as it is from the start. Packets are taken either
// way.
func (s *Session) SetRTPExpected(on bool) {
	if !on {
		s.unexpected.Store(true)
		return
	}
	if s.unexpected.Load() {
		// Before expecting again, so that the watch never sees the wait from before the hold.
		s.lastRTP.Store(int64(time.Since(s.epoch)))
		s.unexpected.Store(false)
	}
}

// watchRTP closes timedOut when no RTP has arrived for rtpTimeout while expected, unless
// ctx is done first. It looks only when the timeout could have passed: rtpTimeout after
// the last packet it knew of, and so sleeps through a steady stream.
func (s *Session) watchRTP(ctx context.Context) {
	if s.rtpTimeout < 0 {
		return
	}
	t := time.NewTimer(s.rtpTimeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.pulled != nil {
			s.pulled.read(s, maxQueued) // what waits for a Receive that did not come
		}
		wait := s.rtpTimeout
		if !s.unexpected.Load() {
			silent := time.Since(s.epoch) - time.Duration(s.lastRTP.Load())
			if silent >= s.rtpTimeout {
				close(s.timedOut)
				return
			}
			wait -= silent
		}
		t.Reset(wait)
	}
}
