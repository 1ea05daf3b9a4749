package sip

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

// Requests in a call are taken only from the dialog's own hosts: its
// remote target (the far end's Contact, which a re-INVITE may move), the
// host its first request or final answer came from (the far end, or the
// proxy next to us that relays for it), and the proxies its Record-Route
// headers name. The Call-ID and tags alone prove nothing: they cross the
// network in clear text. A re-INVITE, BYE or INFO from any other host is
// answered 403 and changes nothing (not the media, not the remote target,
// not the CSeq expected next); such an ACK is dropped. NOTIFYs of a
// subscription are held to the same rule (see subscription.fromHost), the
// next hop of the SUBSCRIBE standing in for the dialog's hosts until its
// 2xx names them, as the first NOTIFY may come before it.

// resolveTimeout bounds the DNS lookup of a remote target given by name.
const resolveTimeout = 2 * time.Second

// dialogHosts returns the hosts that requests in a dialog may come from,
// besides its remote target: that of source (host:port), where the
// dialog's INVITE or its 2xx came from, and those of the IP addresses the
// Record-Route headers of m name. Names in Record-Route are left out: the
// proxy next to us is source already.
func dialogHosts(source string, m sipmsg.Message) []netip.Addr {
	var hosts []netip.Addr
	if ap, err := netip.ParseAddrPort(source); err == nil {
		hosts = append(hosts, ap.Addr().Unmap())
	}
	for _, h := range m.GetHeaders("Record-Route") {
		for entry := range strings.SplitSeq(h.Value(), ",") {
			var u sipmsg.Uri
			params := sipmsg.NewParams()
			if _, err := sipmsg.ParseAddressValue(strings.TrimSpace(entry), &u, &params); err != nil {
				continue
			}
			if a, err := netip.ParseAddr(strings.Trim(u.Host, "[]")); err == nil && !slices.Contains(hosts, a.Unmap()) {
				hosts = append(hosts, a.Unmap())
			}
		}
	}
	return hosts
}

// fromDialogHost reports whether req, a request in c's dialog, comes from
// one of the dialog's hosts. A remote target given by name is looked up.
func (c *Call) fromDialogHost(req *sipmsg.Request) bool {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	from := src.Addr().Unmap()
	if slices.Contains(c.hosts, from) {
		return true
	}
	addrs, err := c.agent.lookupHost(context.Background(), c.remoteTarget().Host)
	if err != nil {
		c.log.Debug("look up the remote target", "err", err)
		return false
	}
	return slices.Contains(addrs, from)
}

// lookupHost returns the addresses of host, a URI's host part: itself if
// it is an IP address (in brackets or not), or what the agent's resolver
// says of the name, waiting resolveTimeout at most. A name that does not
// resolve gets an error that says so (see nameError).
func (a *Agent) lookupHost(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.Trim(host, "[]")
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := a.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, lookupError(host, err)
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, nil
}

// acceptHost answers 403 and returns false if req does not come from one
// of the hosts of c's dialog.
func (c *Call) acceptHost(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	if c.fromDialogHost(req) {
		return true
	}
	c.agent.refused.log(c.log, slog.LevelWarn, "request in a call refused: not from a host of its dialog", "method", req.Method.String(), "source", req.Source())
	c.agent.reply(tx, req, sipmsg.StatusForbidden, "Not From A Host Of The Dialog")
	return false
}
