// Package provision fetches the appliance's settings from a provisioning server, as ATAs
// and desk phones do: a document per device, named by its MAC address, serial number or
// model in a URL template (from the settings, else from DHCP option 160 or 66), fetched
// over HTTPS at start and then every few minutes, optionally signed with ed25519. The
// document has the settings export's format and may name only some sections; those it
// names replace the stored ones, validated as an import is, and are managed: the admin
// page shows them read-only unless the document allows local overrides.
package provision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
)

// Device is what identifies the device to the provisioning server.
type Device struct {
	MAC    string // the first wired interface's MAC address, lower case, no colons
	Serial string // the board's serial number (a Pi's, from the device tree or /proc/cpuinfo)
	Model  string // the board's model, e.g. "Raspberry Pi 4 Model B Rev 1.4"
}

// ReadDevice reads the device's identity from the file system fsys, the system's root
// ("/") on the device, a fixture in tests. What cannot be read is left empty: a PC has
// no device tree serial, a container perhaps no wired interface.
func ReadDevice(fsys fs.FS) Device {
	return Device{MAC: wiredMAC(fsys), Serial: serial(fsys), Model: model(fsys)}
}

// System is the system's root file system, for ReadDevice and LeaseURL.
func System() fs.FS { return os.DirFS("/") }

// wiredMAC returns the MAC address of the first wired interface by name: one backed by a
// device (not lo, a bridge or a VPN) and not wireless.
func wiredMAC(fsys fs.FS) string {
	names, err := fs.Glob(fsys, "sys/class/net/*")
	if err != nil {
		return ""
	}
	slices.Sort(names)
	for _, dir := range names {
		if !exists(fsys, path.Join(dir, "device")) || exists(fsys, path.Join(dir, "wireless")) || exists(fsys, path.Join(dir, "phy80211")) {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, "address"))
		if err != nil {
			continue
		}
		mac := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(string(b)), ":", ""))
		if len(mac) == 12 && mac != "000000000000" {
			return mac
		}
	}
	return ""
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// serial returns the board's serial number: the device tree's, else /proc/cpuinfo's.
func serial(fsys fs.FS) string {
	if b, err := fs.ReadFile(fsys, "sys/firmware/devicetree/base/serial-number"); err == nil {
		if s := treeString(b); s != "" {
			return strings.ToLower(s)
		}
	}
	return strings.ToLower(cpuinfo(fsys, "Serial"))
}

// model returns the board's model: the device tree's, else /proc/cpuinfo's.
func model(fsys fs.FS) string {
	if b, err := fs.ReadFile(fsys, "sys/firmware/devicetree/base/model"); err == nil {
		if s := treeString(b); s != "" {
			return s
		}
	}
	return cpuinfo(fsys, "Model")
}

// treeString is a device tree string property: NUL-terminated.
func treeString(b []byte) string {
	b, _, _ = bytes.Cut(b, []byte{0})
	return strings.TrimSpace(string(b))
}

// cpuinfo returns the value of the first line of /proc/cpuinfo with key, "" without one.
func cpuinfo(fsys fs.FS, key string) string {
	b, err := fs.ReadFile(fsys, "proc/cpuinfo")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Fill returns the URL template with the device's {mac}, {serial} and {model}, each
// escaped as a path segment. A placeholder the device has no value for is an error: the
// URL would name some other device's document, or none.
func Fill(template string, d Device) (string, error) {
	var missing []string
	for _, p := range []struct{ name, value string }{{"{mac}", d.MAC}, {"{serial}", d.Serial}, {"{model}", d.Model}} {
		if strings.Contains(template, p.name) && p.value == "" {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("the URL %s needs %s, which this device does not have", template, strings.Join(missing, " and "))
	}
	r := strings.NewReplacer("{mac}", url.PathEscape(d.MAC), "{serial}", url.PathEscape(d.Serial), "{model}", url.PathEscape(d.Model))
	filled := r.Replace(template)
	if _, err := url.Parse(filled); err != nil {
		return "", errors.New("the provisioning URL does not parse: " + err.Error())
	}
	return filled, nil
}
