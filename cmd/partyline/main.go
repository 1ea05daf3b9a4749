// Command partyline runs the SIP conferencing appliance: it joins the board's handsets to
// their conferences and serves the admin page.
//
// Two subcommands help the owner claim the admin page on the device itself:
//
//	partyline setup-code [-data DIR]      prints the one-time code that setting the first admin password needs
//	partyline reset-password [-data DIR]  clears the admin password, with partyline stopped
//
// and one installs a firmware update as the installing helper (root, outside partyline's
// service), then rolls it back if the new version never settles it:
//
//	partyline update-install [-data DIR] [-installer CMD] [-restart CMD] [-grace D] FILE.deb
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"partyline/appliance"
	"partyline/appliance/logs"
	"partyline/appliance/update"
)

func main() {
	if len(os.Args) > 1 {
		if cmd, ok := subcommands[os.Args[1]]; ok {
			os.Exit(cmd(os.Args[2:], os.Stdout, os.Stderr))
		}
	}
	cfg := appliance.Config{Version: version, Build: buildID()}
	flag.StringVar(&cfg.Board, "board", "", "board `profile`: auto, sim, sim:N (N simulated handsets), or a board name, overriding the settings (default: the settings', else auto)")
	flag.StringVar(&cfg.DataDir, "data", appliance.DefaultDataDir, "`directory` of the settings database")
	flag.StringVar(&cfg.AdminAddr, "admin", appliance.DefaultAdminAddr, "listen `address` of the admin page")
	flag.BoolVar(&cfg.AdminPlainHTTP, "admin-http", false, "serve the admin page over plain HTTP even when -admin is not a loopback address")
	flag.StringVar(&cfg.SIPAddr, "sip", "", "SIP listen `address` (UDP host:port), overriding the settings")
	installer := flag.String("installer", "", "firmware updates: the `command` that installs a package, run as COMMAND install FILE and COMMAND version, for partyline running as a user that may not install (default: dpkg)")
	flag.DurationVar(&cfg.UpdateDeadline, "update-deadline", 0, "firmware updates: how long an updated version has to prove itself healthy before it is rolled back (default 5m)")
	logFormat := flag.String("log-format", logs.FormatText, "`format` of the log lines: text or json (under journald without time, with priority prefixes)")
	showVersion := flag.Bool("version", false, "print the version and build, and exit")
	showMan := flag.Bool(manFlag, false, "") // hidden: the Makefile's generator of partyline.8
	flag.Usage = usage(flag.CommandLine)
	flag.Parse()
	if *installer != "" {
		cfg.Installer = update.Command{Path: *installer}
	}
	switch {
	case *showVersion:
		fmt.Println(versionLine())
		return
	case *showMan:
		if err := writeMan(os.Stdout, flag.CommandLine); err != nil {
			fmt.Fprintln(os.Stderr, "partyline:", err)
			os.Exit(1)
		}
		return
	}

	setMemoryLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stopProfile, err := startCPUProfile(os.Getenv(cpuProfileEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "partyline:", err)
		os.Exit(2)
	}
	defer stopProfile()

	handler, err := logs.New(os.Stderr, logs.Options{Format: *logFormat, Journal: logs.Journald(os.Stderr)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "partyline:", err)
		os.Exit(2)
	}
	cfg.Logs = handler
	log := slog.New(handler)
	err = appliance.Run(ctx, cfg, log)
	if errors.Is(err, appliance.ErrRestart) {
		stop()
		status, rerr := appliance.Restart() // under systemd an exit status; elsewhere it returns only on failure
		if rerr != nil {
			fmt.Fprintln(os.Stderr, "partyline:", rerr)
		}
		os.Exit(status)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "partyline:", err)
		os.Exit(1)
	}
}

// subcommands run with their arguments and return the exit status.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"setup-code":     setupCode,
	"reset-password": resetPassword,
	"update-install": updateInstall,
}

// updateInstall installs a firmware package and guards the update (appliance.InstallUpdate).
func updateInstall(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("partyline update-install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data", appliance.DefaultDataDir, "directory of the settings database")
	installer := fs.String("installer", "", "command that installs a package (COMMAND install FILE, COMMAND version); default dpkg")
	restart := fs.String("restart", "systemctl restart partyline", "command that restarts partyline, after a rollback")
	grace := fs.Duration("grace", time.Minute, "how long after the update's deadline a version that never settled it is rolled back")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: partyline update-install [-data DIR] [-installer COMMAND] [-restart COMMAND] [-grace DURATION] PACKAGE.deb")
		return 2
	}
	var inst update.Installer = update.Dpkg{Package: "partyline"}
	if *installer != "" {
		inst = update.Command{Path: *installer}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := appliance.InstallUpdate(ctx, *dir, fs.Arg(0), inst, *grace, update.RunCommand(strings.Fields(*restart)...))
	if err != nil {
		fmt.Fprintln(stderr, "partyline update-install:", err)
		return 1
	}
	fmt.Fprintf(stdout, "update %s: %s %s\n", out.Result, out.Version, out.Reason)
	return 0
}

// dataFlag parses a subcommand's only flag, -data.
func dataFlag(name string, args []string, stderr io.Writer) (dir string, ok bool) {
	fs := flag.NewFlagSet("partyline "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&dir, "data", appliance.DefaultDataDir, "directory of the settings database")
	if err := fs.Parse(args); err != nil {
		return "", false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "partyline %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", false
	}
	return dir, true
}

// setupCode prints the setup code that setting the first admin password needs.
func setupCode(args []string, stdout, stderr io.Writer) int {
	dir, ok := dataFlag("setup-code", args, stderr)
	if !ok {
		return 2
	}
	code, err := appliance.SetupCode(dir)
	if err != nil {
		fmt.Fprintln(stderr, "partyline setup-code:", err)
		return 1
	}
	fmt.Fprintln(stdout, code)
	return 0
}

// resetPassword clears the admin password, so that the next start asks for a new one.
func resetPassword(args []string, stdout, stderr io.Writer) int {
	dir, ok := dataFlag("reset-password", args, stderr)
	if !ok {
		return 2
	}
	err := appliance.ResetAdminPassword(dir)
	if errors.Is(err, appliance.ErrRunning) {
		fmt.Fprintln(stderr, "partyline reset-password: partyline is running on", dir+": stop it first (systemctl stop partyline), then run this again")
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "partyline reset-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, "The admin password is cleared. Start partyline again; it makes a new setup code,")
	fmt.Fprintln(stdout, "which `partyline setup-code` prints, and the admin page asks for a new password.")
	return 0
}
