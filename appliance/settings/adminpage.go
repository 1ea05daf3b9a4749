package settings

import (
	"net/netip"
	"strings"
)

// AdminPageSettings configures who may reach the admin page.
type AdminPageSettings struct {
	// Hosts are the extra names (or IP addresses) the page answers to, besides the
	// device's own addresses, its host name (and host name.local) and localhost: for
	// example the name a DNS server gives the device, or the address of a port forward.
	// A request naming another host in its Host header is refused, which keeps DNS
	// rebinding out. Names are stored in lower case, without a trailing dot.
	Hosts []string `json:"hosts"`
}

// MaxAdminHosts bounds AdminPageSettings.Hosts.
const MaxAdminHosts = 16

// checkAdminPage checks the host names: each a DNS name or an IP address, without a port
// or a wildcard, lower case and without a trailing dot, none twice.
func checkAdminPage(a AdminPageSettings) error {
	if len(a.Hosts) > MaxAdminHosts {
		return fieldErr("admin_page.hosts", "at most %d names, not %d", MaxAdminHosts, len(a.Hosts))
	}
	seen := make(map[string]bool)
	for _, h := range a.Hosts {
		if !isHost(h) || strings.HasSuffix(h, ".") {
			return fieldErr("admin_page.hosts", "%q is not a host name or IP address (no port, no wildcard)", h)
		}
		if ip, err := netip.ParseAddr(h); err == nil && (ip.Zone() != "" || ip.String() != h) {
			return fieldErr("admin_page.hosts", "%q: write the address as %s, without a zone", h, ip.WithZone(""))
		}
		if h != strings.ToLower(h) {
			return fieldErr("admin_page.hosts", "%q: write it in lower case", h)
		}
		if seen[h] {
			return fieldErr("admin_page.hosts", "%q is listed twice", h)
		}
		seen[h] = true
	}
	return nil
}
