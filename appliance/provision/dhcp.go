package provision

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os/exec"
	"slices"
	"strings"
)

// The DHCP options that name a provisioning server: 160 (used by Polycom and others for
// a URL) is preferred to 66 (the TFTP server name, which ATAs and phones also take as an
// http(s) URL).
const (
	optionTFTPServer   = 66
	optionProvisionURL = 160
)

// A DHCPSource is where LeaseURL looks for the options. Raspberry Pi OS before Bookworm
// runs dhcpcd, which keeps each lease as the DHCP message it got, in
// /var/lib/dhcpcd/<interface>.lease (or dhcpcd-<interface>.lease): every option the
// server sent is there. Bookworm runs NetworkManager, whose internal DHCP client keeps no
// options in its lease files; nmcli lists those it got, option 66 as tftp_server_name.
type DHCPSource struct {
	FS fs.FS // the root file system (System() on the device)
	// NMCLI runs `nmcli -t -f DHCP4 device show` and returns its output; nil runs it.
	NMCLI func(ctx context.Context) ([]byte, error)
}

// LeaseURL returns the provisioning URL template the DHCP server gave, and where it was
// found ("dhcpcd lease eth0.lease, option 66"), or "" when no lease names one.
func (s DHCPSource) LeaseURL(ctx context.Context) (template, from string, err error) {
	var errs []error
	files, _ := fs.Glob(s.FS, "var/lib/dhcpcd/*.lease")
	slices.Sort(files)
	for _, f := range files {
		b, err := fs.ReadFile(s.FS, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		opts, err := dhcpOptions(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		for _, code := range []int{optionProvisionURL, optionTFTPServer} {
			if v := strings.TrimSpace(strings.TrimRight(string(opts[code]), "\x00")); v != "" {
				return templateFrom(v), fmt.Sprintf("dhcpcd lease %s, option %d", f, code), nil
			}
		}
	}
	run := s.NMCLI
	if run == nil {
		run = func(ctx context.Context) ([]byte, error) {
			return exec.CommandContext(ctx, "nmcli", "-t", "-f", "DHCP4", "device", "show").Output()
		}
	}
	out, err := run(ctx)
	if err != nil && !errors.Is(err, exec.ErrNotFound) {
		errs = append(errs, fmt.Errorf("nmcli: %w", err))
	}
	if v, code := nmOption(out); v != "" {
		return templateFrom(v), fmt.Sprintf("NetworkManager, option %d", code), nil
	}
	return "", "", errors.Join(errs...)
}

// templateFrom turns an option's value into a URL template: a URL as it is, a bare host
// name or address as https://host/partyline/{mac}.json.
func templateFrom(v string) string {
	if !strings.Contains(v, "://") {
		v = "https://" + v
		if u, err := url.Parse(v); err == nil && (u.Path == "" || u.Path == "/") {
			v = strings.TrimSuffix(v, "/") + "/partyline/{mac}.json"
		}
	}
	return v
}

// dhcpOptions returns the options of a DHCP message (RFC 2131, 2132), each code's parts
// joined (RFC 3396).
func dhcpOptions(msg []byte) (map[int][]byte, error) {
	const header = 236
	if len(msg) < header+4 || binary.BigEndian.Uint32(msg[header:]) != 0x63825363 {
		return nil, errors.New("not a DHCP message (no magic cookie)")
	}
	opts := map[int][]byte{}
	b := msg[header+4:]
	for len(b) > 0 {
		code := int(b[0])
		switch code {
		case 0:
			b = b[1:]
			continue
		case 255:
			return opts, nil
		}
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return nil, fmt.Errorf("option %d runs past the end", code)
		}
		n := int(b[1])
		opts[code] = append(opts[code], b[2:2+n]...)
		b = b[2+n:]
	}
	return opts, nil
}

// nmOption returns option 160's or 66's value in nmcli's terse DHCP4 output
// ("DHCP4.OPTION[7]:tftp_server_name = https://…"), and which it is.
func nmOption(out []byte) (string, int) {
	names := map[string]int{"private_160": optionProvisionURL, "tftp_server_name": optionTFTPServer}
	found := map[int]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		_, kv, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if code, known := names[strings.TrimSpace(k)]; ok && known && found[code] == "" {
			found[code] = strings.TrimSpace(v)
		}
	}
	for _, code := range []int{optionProvisionURL, optionTFTPServer} {
		if found[code] != "" {
			return found[code], code
		}
	}
	return "", 0
}
