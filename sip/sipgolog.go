package sip

import (
	"context"
	"log/slog"
	"strings"
	"sync"

	sipmsg "github.com/emiago/sipgo/sip"
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

// negativeRef is what sipgo logs, at warning level on its package-level
// logger, for every TCP or TLS connection that closes after its reader
// dropped it: any peer can cause it once per connection, and it is no
// fault of ours.
const negativeRef = "TCP ref went negative"

// quietDefault sends sipgo's package-level logger, which it uses where it
// has no other, to slog's default logger, with negativeRef demoted to
// debug. It is set once, for every agent.
var quietDefault sync.Once

func quietSipgoDefault() {
	quietDefault.Do(func() { sipmsg.SetDefaultLogger(slog.New(defaultHandler{})) })
}

// defaultHandler passes records to slog's default handler of the moment,
// negativeRef at debug level.
type defaultHandler struct {
	with func(slog.Handler) slog.Handler // attributes and groups added, nil if none
}

func (h defaultHandler) next() slog.Handler {
	n := slog.Default().Handler()
	if h.with != nil {
		n = h.with(n)
	}
	return n
}

func (h defaultHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next().Enabled(ctx, level)
}

func (h defaultHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == negativeRef {
		if !h.next().Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	return h.next().Handle(ctx, r)
}

func (h defaultHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	prev := h.with
	return defaultHandler{with: func(n slog.Handler) slog.Handler {
		if prev != nil {
			n = prev(n)
		}
		return n.WithAttrs(attrs)
	}}
}

func (h defaultHandler) WithGroup(name string) slog.Handler {
	prev := h.with
	return defaultHandler{with: func(n slog.Handler) slog.Handler {
		if prev != nil {
			n = prev(n)
		}
		return n.WithGroup(name)
	}}
}
