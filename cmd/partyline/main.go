// Command partyline runs the SIP conferencing appliance: it joins the board's handsets to
// their conferences and serves the admin page.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"partyline/appliance"
)

func main() {
	var cfg appliance.Config
	flag.StringVar(&cfg.Board, "board", "", "board `profile`: auto, sim, or a board name, overriding the settings (default: the settings', else auto)")
	flag.StringVar(&cfg.DataDir, "data", appliance.DefaultDataDir, "`directory` of the settings database")
	flag.StringVar(&cfg.AdminAddr, "admin", appliance.DefaultAdminAddr, "listen `address` of the admin page")
	flag.BoolVar(&cfg.AdminPlainHTTP, "admin-http", false, "serve the admin page over plain HTTP even when -admin is not a loopback address")
	flag.StringVar(&cfg.SIPAddr, "sip", "", "SIP listen `address` (UDP host:port), overriding the settings")
	showVersion := flag.Bool("version", false, "print the version and build, and exit")
	showMan := flag.Bool(manFlag, false, "") // hidden: the Makefile's generator of partyline.8
	flag.Usage = usage(flag.CommandLine)
	flag.Parse()
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := appliance.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "partyline:", err)
		os.Exit(1)
	}
}
