// Package media moves conference audio between the handsets and the network: lock-free
// sample rings for the audio callback, a polyphase resampler between the device rate and the
// codec rate, the G.711 and G.722 codecs and Opus (libopus, through media/opus), an RTP
// session with its adaptive jitter buffer, packet loss concealment and RTCP reports, an
// E-model estimate of call quality, and level analysis.
//
// It knows nothing of SIP or hardware: audio arrives as PCM samples or RTP packets. The
// per-packet paths (Ring, Resampler.Process, Session.Send, Session.Receive and the receive
// loop) do not allocate; benchmarks and allocation tests hold them to that. RTCP, every few
// seconds, does. The package does not log; it returns errors and statistics.
package media
