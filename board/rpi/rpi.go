// Package rpi is what partyline installs on Raspberry Pi OS: the systemd unit, the ALSA
// names for the WM8960 HAT, the config.txt lines of each board and the package scripts,
// kept in files/ and embedded here; mkdeb.sh lays them out into the .deb, and
// smoke-arm64.sh checks that the arm64 binary starts and stops under qemu-user. Notify is
// the service's side of systemd's readiness and watchdog protocol.
//
// The package installs
//
//	/usr/bin/partyline                        the binary
//	/lib/systemd/system/partyline.service     the unit: Type=notify, WatchdogSec=30
//	/usr/share/partyline/asound.conf          ALSA names (not /etc/asound.conf: never clobbered)
//	/usr/share/partyline/config.txt           overlay lines, as documentation
//	/usr/share/doc/partyline/README.Debian    the setup steps
//
// and its postinst creates the system user partyline in the groups gpio, audio and i2c
// (creating a group that is missing) and enables and starts the service.
package rpi

import (
	"embed"
	"io/fs"
	"strings"
)

//go:embed files
var embedded embed.FS

// files is embedded's directory files/.
var files = func() fs.FS {
	sub, err := fs.Sub(embedded, "files")
	if err != nil {
		panic(err) // only for an invalid path, which "files" is not
	}
	return sub
}()

// Files returns the files the package installs and its maintainer scripts, by name:
// partyline.service, asound.conf, config.txt, README.Debian, postinst, prerm, postrm.
func Files() fs.FS { return files }

// ConfigTxt returns the lines the board called board needs in the Pi's config.txt, from
// config.txt: the lines every board needs, then the board's own. It reports false for a
// board config.txt does not mention.
func ConfigTxt(board string) ([]string, bool) {
	raw, err := fs.ReadFile(files, "config.txt")
	if err != nil {
		return nil, false
	}
	var (
		lines   []string
		section string // "" before the first "# board NAME:" line: every board's
		found   bool
	)
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "# board "); ok {
			section, _, _ = strings.Cut(name, ":")
			found = found || section == board
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if section == "" || section == board {
			lines = append(lines, line)
		}
	}
	if !found {
		return nil, false
	}
	return lines, true
}
