package sip

import (
	"context"
	"log/slog"
)

// unparsableMessage is what sipgo's transports log, at error level with the whole
// datagram attached, when a message does not parse.
const unparsableMessage = "failed to parse"

// unparsablePrefix is how much of an unparsable message is kept in the log.
const unparsablePrefix = 64

// sipgoHandler passes sipgo's log records on to next, except that an unparsable message
// from the network, which any peer can send and is not our error, is logged as a warning
// with its size and first bytes rather than at error level in full.
type sipgoHandler struct{ next slog.Handler }

func (h sipgoHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != unparsableMessage {
		return h.next.Handle(ctx, r)
	}
	if !h.next.Enabled(ctx, slog.LevelWarn) {
		return nil
	}
	out := slog.NewRecord(r.Time, slog.LevelWarn, "dropped a SIP message that does not parse", r.PC)
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
	return h.next.Handle(ctx, out)
}

func (h sipgoHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sipgoHandler{h.next.WithAttrs(attrs)}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{h.next.WithGroup(name)}
}
