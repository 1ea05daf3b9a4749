package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and build identify the binary: the Makefile sets them with
// -ldflags '-X main.version=… -X main.build=…' to the Debian version and the commit
// (git describe --always --dirty). A plain go build leaves version "devel" and takes the
// build from the commit Go stamped into the binary, if any.
var (
	version = "devel"
	build   = ""
)

// manFlag is the hidden flag that prints the manual page; usage leaves it out.
const manFlag = "man"

// versionLine is what -version prints: version, build, Go version and platform.
func versionLine() string {
	return fmt.Sprintf("partyline %s (build %s, %s %s/%s)", version, buildID(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// buildID is the build: the one the Makefile set, else the commit Go stamped, else "unknown".
func buildID() string {
	b := build
	if b == "" {
		b = "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			var rev, dirty string
			for _, s := range info.Settings {
				switch {
				case s.Key == "vcs.revision" && len(s.Value) >= 12:
					rev = s.Value[:12]
				case s.Key == "vcs.modified" && s.Value == "true":
					dirty = "-dirty"
				}
			}
			if rev != "" {
				b = rev + dirty
			}
		}
	}
	return b
}

// visible returns the flags of fs that usage and the manual page show, in name order.
func visible(fs *flag.FlagSet) []*flag.Flag {
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != manFlag {
			flags = append(flags, f)
		}
	})
	return flags
}

// usage returns the -help text printer of fs: the flag package's, without the hidden flag.
func usage(fs *flag.FlagSet) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: partyline [flags]\n       partyline setup-code [-data DIR]\n       partyline reset-password [-data DIR]\n\nFlags:\n")
		shown := flag.NewFlagSet("partyline", flag.ContinueOnError)
		shown.SetOutput(out)
		for _, f := range visible(fs) {
			shown.Var(f.Value, f.Name, f.Usage)
			shown.Lookup(f.Name).DefValue = f.DefValue // the default, not a value parsed so far
		}
		shown.PrintDefaults()
	}
}

// roff escapes s for a line of text in a manual page: backslashes, hyphens (so that flags
// copy as ASCII minus signs) and a leading control character.
func roff(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// writeMan writes partyline.8, the manual page, in man(7) format, with an OPTIONS section
// made from the flags of fs, so that the page and -help never disagree.
func writeMan(w io.Writer, fs *flag.FlagSet) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, ".TH PARTYLINE 8 \"\" \"partyline %s\" \"System Administration\"\n", roff(version))
	b.WriteString(`.SH NAME
partyline \- SIP conferencing appliance for analog handsets
.SH SYNOPSIS
.B partyline
.RI [ flags ]
.br
.B partyline setup\-code
.RB [ \-data
.IR dir ]
.br
.B partyline reset\-password
.RB [ \-data
.IR dir ]
.SH DESCRIPTION
.B partyline
joins the analog handsets of a Raspberry Pi with an audio codec HAT (or a USB
headset adapter) to SIP conferences, each handset under its own SIP identity,
and serves an admin page on which everything else is set: SIP accounts,
conferences, handsets, board and audio.
.PP
On Raspberry Pi OS it runs as the systemd service
.BR partyline.service ,
as the system user
.BR partyline ,
with its settings in
.IR /var/lib/partyline .
The flags below override the settings; the service reads extra flags from
.B PARTYLINE_ARGS
in
.IR /etc/default/partyline .
It stops cleanly on SIGINT or SIGTERM.
.SH OPTIONS
`)
	for _, f := range visible(fs) {
		name, text := flag.UnquoteUsage(f)
		b.WriteString(".TP\n")
		if name == "" {
			fmt.Fprintf(b, ".B \\-%s\n", roff(f.Name))
		} else {
			fmt.Fprintf(b, ".BI \\-%s \" %s\"\n", roff(f.Name), roff(name))
		}
		b.WriteString(roff(text))
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(b, " (default %s)", roff(f.DefValue))
		}
		b.WriteString("\n")
	}
	b.WriteString(`.SH FILES
.TP
.I /var/lib/partyline/partyline.db
the settings, the call history and the admin page's certificate
.TP
.I /var/lib/partyline/recordings
conference recordings (WAV)
.TP
.I /var/lib/partyline/prompts
announcement prompts (WAV)
.TP
.I /etc/default/partyline
.B PARTYLINE_ARGS
for the service
.TP
.I /usr/share/partyline
ALSA names and config.txt lines of each board
.TP
.I /usr/share/doc/partyline/README.Debian
setting up a Raspberry Pi
.SH EXIT STATUS
0 after a clean stop, 1 when partyline cannot start or fails, 2 for a bad flag.
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1)
`)
	if err := b.Flush(); err != nil {
		return fmt.Errorf("write the manual page: %w", err)
	}
	return nil
}
