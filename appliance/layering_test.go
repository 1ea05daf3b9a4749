package appliance_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps the arrows of DESIGN.md pointing one way,
// cmd -> appliance -> {appliance/web, appliance/config, sip, media, hw/..., board},
// with {appliance/web, appliance/config} -> appliance/settings, the one schema of the
// settings, which imports nothing of ours; and keeps sipgo inside sip. hw may use media's
// pure helpers (levels, WAV), and so may the harness of real SIP peers, sip/peertest, which
// the binary must not link; cmd/benchpeers, which measures the binary beside those peers,
// may use the harness, the settings store and the media helpers. Inside appliance, the wiring imports its rooms, and the
// rooms do not import each other or the wiring: the handsets' state machine
// (appliance/handset) knows the hardware and the media figures, not SIP; the legs
// (appliance/legs) know SIP and media, not the hardware; the audio hub
// (appliance/audiohub) knows the audio device and media, not SIP; the packet capture
// (appliance/capture) and the metrics' text format (appliance/web/promtext) know only the
// standard library; provisioning (appliance/provision)
// knows only the settings and the firmware updates (appliance/update, whose firmware
// section the document carries), and those only the standard library. It checks every
// package's direct imports, so that a rule broken anywhere in the module is reported
// where it is broken.
func TestLayering(t *testing.T) {
	const (
		mod   = "partyline/"
		sipgo = "github.com/emiago/sipgo"
	)
	// allowedOwn lists, per package prefix, which of our own packages it may import; the
	// first matching prefix applies.
	allowedOwn := []struct {
		pkg     string
		allowed []string
	}{
		// The side-by-side benchmark runs the binary against real peers, like a test.
		{"partyline/cmd/benchpeers", []string{mod + "appliance/", mod + "board", mod + "media", mod + "sip/peertest"}},
		{"partyline/cmd/", []string{mod + "appliance"}},
		{"partyline/appliance/settings", nil},
		{"partyline/appliance/logs", nil},
		{"partyline/appliance/web/promtext", nil},
		{"partyline/appliance/web", []string{mod + "appliance/settings", mod + "appliance/web/promtext"}},
		{"partyline/appliance/config", []string{mod + "appliance/settings"}},
		{"partyline/appliance/handset", []string{mod + "hw", mod + "media"}},
		{"partyline/appliance/legs", []string{mod + "sip", mod + "media"}},
		{"partyline/appliance/audiohub", []string{mod + "hw", mod + "media"}},
		{"partyline/appliance/capture", nil},
		{"partyline/appliance/provision", []string{mod + "appliance/settings", mod + "appliance/update"}},
		{"partyline/appliance/update", nil},
		{"partyline/appliance", []string{mod + "appliance/", mod + "sip", mod + "media", mod + "hw", mod + "board"}},
		{"partyline/sip/peertest", []string{mod + "sip", mod + "media"}},
		{"partyline/sip", []string{mod + "sip/"}},
		{"partyline/media", []string{mod + "media/"}}, // media/opus, its libopus binding
		{"partyline/hw", []string{mod + "hw", mod + "media"}},
		{"partyline/board", nil},
	}
	// stdlibOnly lists the packages that may import nothing but the standard library.
	stdlibOnly := map[string]bool{mod + "appliance/web/promtext": true, mod + "appliance/settings": true, mod + "appliance/logs": true, mod + "appliance/capture": true, mod + "appliance/update": true}
	foreignBanned := map[string][]string{
		"partyline/media": {"net/http", "periph.io/", "github.com/gen2brain/malgo", "github.com/hajimehoshi/oto"},
		"partyline/board": {"periph.io/"},
	}

	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 8 {
		t.Fatalf("go list found only %d packages: %q", len(lines), out)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		pkg, imports := fields[0], fields[1:]
		rule := -1
		for i, r := range allowedOwn {
			if pkg == r.pkg || strings.HasPrefix(pkg, strings.TrimSuffix(r.pkg, "/")+"/") {
				rule = i
				break
			}
		}
		if rule < 0 {
			t.Errorf("%s is outside the layout of DESIGN.md", pkg)
			continue
		}
		for _, imp := range imports {
			if strings.HasPrefix(imp, sipgo) && pkg != mod+"sip" && !strings.HasPrefix(pkg, mod+"sip/") {
				t.Errorf("%s imports %s: only sip may use sipgo", pkg, imp)
			}
			if first, _, _ := strings.Cut(imp, "/"); stdlibOnly[pkg] && strings.Contains(first, ".") {
				t.Errorf("%s imports %s: it may use only the standard library", pkg, imp)
			}
			for _, banned := range foreignBanned[pkg] {
				if strings.HasPrefix(imp, banned) {
					t.Errorf("%s imports %s: it must stay free of %s", pkg, imp, banned)
				}
			}
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			ok := false
			for _, a := range allowedOwn[rule].allowed {
				if imp == strings.TrimSuffix(a, "/") || strings.HasPrefix(imp, strings.TrimSuffix(a, "/")+"/") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s: against the layering of DESIGN.md", pkg, imp)
			}
		}
	}
}

// TestBinaryLinksNoTestHarness keeps the test harness of real peers out of the binary.
func TestBinaryLinksNoTestHarness(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "partyline/cmd/partyline").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps found only %q", deps)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, "partyline/sip/peertest") || dep == "testing" {
			t.Errorf("the partyline binary links %s", dep)
		}
	}
}
