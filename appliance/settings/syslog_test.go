package settings

import (
	"errors"
	"strings"
	"testing"
)

func TestSyslogTarget(t *testing.T) {
	for _, tt := range []struct{ target, network, addr string }{
		{"", "", ""},
		{"udp://192.0.2.9:514", "udp", "192.0.2.9:514"},
		{"tcp://syslog.example.org:6514", "tcp", "syslog.example.org:6514"},
		{"udp://[2001:db8::1]:514", "udp", "[2001:db8::1]:514"},
	} {
		network, addr, err := SyslogTarget(tt.target)
		if err != nil || network != tt.network || addr != tt.addr {
			t.Errorf("SyslogTarget(%q) = %q, %q, %v; want %q, %q", tt.target, network, addr, err, tt.network, tt.addr)
		}
	}
	for _, bad := range []string{"192.0.2.9:514", "http://192.0.2.9:514", "udp://192.0.2.9", "udp://:514",
		"tcp://host:0", "tcp://host:70000", "udp://host:514/path", "udp://user@host:514", "udp:host:514"} {
		if _, _, err := SyslogTarget(bad); err == nil {
			t.Errorf("SyslogTarget(%q) accepted it", bad)
		}
	}
}

func TestValidateSyslog(t *testing.T) {
	s := valid()
	s.Log.Syslog = "udp://192.0.2.9"
	var fe *FieldError
	if err := s.Validate(); !errors.As(err, &fe) || fe.Field != "log.syslog" || !strings.Contains(fe.Msg, "host and a port") {
		t.Errorf("Validate of a target without a port: %v, want a log.syslog field error", err)
	}
	s.Log.Syslog = "tcp://192.0.2.9:514"
	if err := s.Validate(); err != nil {
		t.Errorf("Validate of tcp://192.0.2.9:514: %v", err)
	}
}
