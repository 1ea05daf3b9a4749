package settings

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// SyslogTarget splits a LogSettings.Syslog target, such as "udp://192.0.2.9:514", into
// the network ("udp" or "tcp") and the address to dial; "" is no target, and gives "".
func SyslogTarget(target string) (network, addr string, err error) {
	if target == "" {
		return "", "", nil
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Opaque != "" {
		return "", "", fmt.Errorf("%q is not udp://host:port or tcp://host:port", target)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("%q has more than a host and a port", target)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return "", "", fmt.Errorf("%q lacks a host and a port, as in %s://syslog.example.org:514", target, u.Scheme)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not in 1..65535", target, port)
	}
	return u.Scheme, net.JoinHostPort(host, port), nil
}
