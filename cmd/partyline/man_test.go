package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVersionAndManPage builds the binary as the Makefile does, with the version and build
// set through -ldflags -X, and checks -version, -help and the manual page generated from
// the flags.
func TestVersionAndManPage(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "partyline")
	const ver, bld = "0.1.0+git20261206203000.42.gabc123def456", "abc123def456-dirty"
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+ver+" -X main.build="+bld, "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	out, err := exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("partyline -version: %v\n%s", err, out)
	}
	if want := regexp.MustCompile(`^partyline ` + regexp.QuoteMeta(ver) + ` \(build ` + bld + `, go[0-9.]+\S* \w+/\w+\)\n$`); !want.Match(out) {
		t.Errorf("partyline -version printed %q, want a match of %s", out, want)
	}

	// -help lists every flag but the hidden -man, and exits 0 as the flag package does.
	help, err := exec.Command(bin, "-help").CombinedOutput()
	if err != nil {
		t.Fatalf("partyline -help: %v\n%s", err, help)
	}
	var flags []string
	for line := range strings.Lines(string(help)) {
		if f, ok := strings.CutPrefix(line, "  -"); ok {
			flags = append(flags, strings.Fields(f)[0])
		}
	}
	for _, want := range []string{"admin", "admin-http", "board", "data", "sip", "version"} {
		if !strings.Contains(" "+strings.Join(flags, " ")+" ", " "+want+" ") {
			t.Errorf("-help lacks -%s:\n%s", want, help)
		}
	}
	if strings.Contains(string(help), "-man") {
		t.Errorf("-help shows the hidden -man:\n%s", help)
	}

	man, err := exec.Command(bin, "-man").Output()
	if err != nil {
		t.Fatalf("partyline -man: %v", err)
	}
	if !strings.HasPrefix(string(man), `.TH PARTYLINE 8 "" "partyline 0.1.0+git20261206203000.42.gabc123def456"`) {
		t.Errorf("manual page header: %q", strings.SplitN(string(man), "\n", 2)[0])
	}
	// Every flag of -help has its entry in OPTIONS.
	for _, f := range flags {
		if !regexp.MustCompile(`(?m)^\.BI? \\-` + regexp.QuoteMeta(strings.ReplaceAll(f, "-", `\-`)) + `( |$)`).Match(man) {
			t.Errorf("manual page lacks -%s", f)
		}
	}
	if strings.Contains(string(man), `\-man`) {
		t.Error("manual page shows the hidden -man")
	}

	// groff formats it without a warning, as lintian's check does with man --warnings.
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("groff not installed (Debian groff-base): the page is not formatted")
	}
	groff := exec.Command("groff", "-man", "-ww", "-z")
	groff.Stdin = strings.NewReader(string(man))
	if out, err := groff.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff -man -ww: %v\n%s", err, out)
	}
}
