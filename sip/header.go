package sip

import (
	"strings"
	"unicode"
)

// quoteDisplayName returns name as the inside of a quoted-string (RFC 3261
// section 25.1), for sipgo to put between the quotes it writes: `"` and `\`
// become quoted-pairs, control characters (CR and LF included, which could
// otherwise inject headers) become spaces, invalid UTF-8 becomes U+FFFD
// (ranging over a string does that), and surrounding space is trimmed.
func quoteDisplayName(name string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(name) {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case unicode.IsControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
