// Package rpi is what partyline installs on Raspberry Pi OS: the systemd unit, the ALSA
// names for the WM8960 HAT, the config.txt lines of each board and the package scripts,
// kept in files/ and embedded here. mkdeb.sh lays them out into the .deb (version.sh gives
// its version), smoke-arm64.sh checks that the arm64 binary starts and stops under
// qemu-user, and deb-test.sh installs, upgrades and purges the package in an arm64 Debian
// root. Notify is the service's side of systemd's readiness and watchdog protocol.
//
// The package installs
//
//	/usr/bin/partyline                        the binary
//	/lib/systemd/system/partyline.service     the unit: Type=notify, WatchdogSec=30, hardened
//	/lib/systemd/system/partyline-update.service  installs a firmware update as root (update-install)
//	/usr/lib/partyline/update-helper          partyline's -installer: hands the package to that unit
//	/etc/default/partyline                    PARTYLINE_ARGS, a conffile (commented out)
//	/usr/share/partyline/asound.conf          ALSA names (not /etc/asound.conf: never clobbered)
//	/usr/share/partyline/config-BOARD.txt     each board's config.txt lines, as documentation
//	/usr/share/man/man8/partyline.8.gz        the manual page (partyline -man)
//	/usr/share/polkit-1/rules.d/50-partyline.rules  lets the service reboot the device (the admin page's System section)
//	                                          and start partyline-update.service, no other unit
//	/usr/share/doc/partyline/                 README.Debian, copyright, changelog.gz
//
// Its preinst writes the update marker for an upgrade installed by hand (apt, dpkg), and its postinst creates the system user partyline in the groups gpio, audio and i2c
// (creating a group that is missing) and, through deb-systemd-helper, enables the service
// on the first installation only, then starts it if it is enabled.
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
// partyline.service, partyline-update.service, update-helper, default
// (/etc/default/partyline), asound.conf, config-BOARD.txt, partyline.rules (polkit),
// README.Debian, copyright, preinst (with @VERSION@ for the package's version), postinst,
// prerm, postrm.
func Files() fs.FS { return files }

// ConfigTxt returns the lines the board called board needs in the Pi's config.txt, the
// active lines of config-BOARD.txt. It reports false for a board without such a file.
func ConfigTxt(board string) ([]string, bool) {
	if board == "" || strings.ContainsAny(board, "/.") {
		return nil, false
	}
	raw, err := fs.ReadFile(files, "config-"+board+".txt")
	if err != nil {
		return nil, false
	}
	var lines []string
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines, true
}
