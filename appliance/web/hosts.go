package web

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"

	"partyline/appliance/settings"
)

// hostCheck refuses requests that name another host than the appliance in their Host
// header. A page of another site that a browser on the owner's network opens can resolve
// its own name to the appliance's address (DNS rebinding) and so read and post to the
// admin page as a page of that site: its requests still name that site's host, which is
// what the check refuses.
type hostCheck struct {
	// settings returns the saved settings, whose AdminPage.Hosts are names allowed
	// besides the appliance's own.
	settings func() (settings.Settings, error)
}

// handler serves h to requests whose host is allowed (see allowed) and answers the rest
// with 421 Misdirected Request and what to do about it.
func (hc hostCheck) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := requestHost(r)
		if hc.allowed(r, host) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusMisdirectedRequest)
		_, _ = w.Write([]byte("421 Misdirected Request\n\n" +
			"This is a partyline appliance, and its admin page does not answer to the name " + quoteHost(host) + ".\n" +
			"A page of another site may be trying to reach it through your browser (DNS rebinding).\n\n" +
			"Open the admin page by the appliance's IP address, its host name (or host name.local), or localhost.\n" +
			"To use another name, add it under Settings, Admin page, host names.\n"))
	})
}

// requestHost is the host the request names, without port or brackets, in lower case
// and without a trailing dot.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// quoteHost quotes host for the refusal page, bounded so the page stays short.
func quoteHost(host string) string {
	if len(host) > 100 {
		host = host[:100] + "..."
	}
	return `"` + strings.ToValidUTF8(host, "?") + `"`
}

// allowed reports whether host is one of the appliance's own names (see ownName) or a
// name the settings allow. The settings are read only for a name that is not its own.
func (hc hostCheck) allowed(r *http.Request, host string) bool {
	if ownName(r, host) {
		return true
	}
	set, err := hc.settings()
	return err == nil && host != "" && slices.Contains(set.AdminPage.Hosts, host)
}

// ownName reports whether host, as requestHost returns it, is localhost, an address of
// the appliance, or its host name (or host name.local).
func ownName(r *http.Request, host string) bool {
	if host == "" {
		return false
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true // RFC 6761: always the loopback, never another site
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return isOwnAddr(r, ip.WithZone("").Unmap())
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		return false
	}
	name = strings.ToLower(name)
	short, _, _ := strings.Cut(name, ".")
	return host == name || host == short || host == short+".local" || host == name+".local"
}

// isOwnAddr reports whether ip is a loopback address, the address the request came in
// on, or an address of one of the machine's interfaces.
func isOwnAddr(r *http.Request, ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ap, err := netip.ParseAddrPort(la.String()); err == nil && ap.Addr().WithZone("").Unmap() == ip {
			return true
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if own, ok := netip.AddrFromSlice(n.IP); ok && own.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
