// Package media moves conference audio between the handsets and the network: lock-free
// sample rings for the audio callback, a polyphase resampler between the device rate and the
// codec rate, G.711 codecs, an RTP session with its jitter buffer, and level analysis.
//
// It knows nothing of SIP or hardware: audio arrives as PCM samples or RTP packets. The
// per-packet paths (Ring, Resampler.Process, Session.Send, Session.Receive and the receive
// loop) do not allocate; benchmarks and allocation tests hold them to that. The package does
// not log; it returns errors and statistics.
package media
