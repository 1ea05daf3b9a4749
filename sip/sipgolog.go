package sip

import (
	"context"
	"log/slog"
	"strings"
)

// unparsableMessage is what sipgo's transports log, at error level with the whole
// datagram attached, when a message does not parse.
const unparsableMessage = "failed to parse"

// unparsablePrefix is how much of an unparsable message is kept in the log.
const unparsablePrefix = 64

// keylessRequest is what sipgo's transaction layer logs, at error level,
// when a request that parsed lacks what a transaction needs (Via, CSeq);
// its error says "make key failed". sipgo has answered it 400 already.
const keylessRequest = "Server tx failed to handle request"

// sipgoHandler passes sipgo's log records on to next, except those about
// a malformed message from the network, which any peer can send and is
// not our error: these are counted in malformed and logged only as far as
// it allows, as warnings, an unparsable message with its size and first
// bytes rather than in full.
type sipgoHandler struct {
	next      slog.Handler
	malformed *floodLog
}

func (h sipgoHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	var out slog.Record
	switch {
	case r.Message == unparsableMessage:
		if !h.logMalformed(ctx) {
			return nil
		}
		out = slog.NewRecord(r.Time, slog.LevelWarn, "dropped a SIP message that does not parse", r.PC)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "data" {
				out.AddAttrs(a)
				return true
			}
			data := a.Value.String()
			out.AddAttrs(slog.Int("bytes", len(data)))
			if len(data) > unparsablePrefix {
				data = data[:unparsablePrefix]
			}
			out.AddAttrs(slog.String("start", data))
			return true
		})
	case r.Message == keylessRequest && keyless(r):
		if !h.logMalformed(ctx) {
			return nil
		}
		out = slog.NewRecord(r.Time, slog.LevelWarn, "answered 400 to a SIP request without Via or CSeq", r.PC)
		r.Attrs(func(a slog.Attr) bool {
			out.AddAttrs(a)
			return true
		})
	default:
		return h.next.Handle(ctx, r)
	}
	return h.next.Handle(ctx, out)
}

// logMalformed counts a malformed message and reports whether to log it.
func (h sipgoHandler) logMalformed(ctx context.Context) bool {
	return h.malformed.allow() && h.next.Enabled(ctx, slog.LevelWarn)
}

// keyless reports whether r, a keylessRequest record, is about a request
// without a transaction key rather than another failure.
func keyless(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == "error" && strings.Contains(a.Value.String(), "make key failed")
		return !found
	})
	return found
}

func (h sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sipgoHandler{h.next.WithAttrs(attrs), h.malformed}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{h.next.WithGroup(name), h.malformed}
}
