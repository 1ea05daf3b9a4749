package appliance_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps the arrows of DESIGN.md pointing one way:
// cmd -> appliance -> {appliance/web, appliance/config, sip, media, hw/..., board},
// and keeps sipgo inside sip.
func TestLayering(t *testing.T) {
	const (
		mod   = "partyline/"
		sipgo = "github.com/emiago/sipgo"
	)
	mustNotImport := map[string][]string{
		"media":            {mod, "net/http", "periph.io/", sipgo},
		"board":            {mod, "periph.io/", sipgo},
		"hw/...":           {mod + "appliance", mod + "sip", mod + "media", mod + "board", mod + "cmd", sipgo},
		"sip/...":          {mod + "appliance", mod + "hw", mod + "media", mod + "board", mod + "cmd"},
		"appliance/web":    {mod, sipgo},
		"appliance/config": {mod, sipgo},
		"appliance":        {mod + "cmd", sipgo},
		"cmd/...":          {sipgo},
	}
	for pkg, banned := range mustNotImport {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s%s: %v", mod, pkg, err)
		}
		self := mod + strings.TrimSuffix(pkg, "/...")
		for _, dep := range strings.Fields(string(out)) {
			if dep == self || strings.HasPrefix(dep, self+"/") {
				continue // a package and its own sub-packages
			}
			for _, b := range banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s imports %s: see the layering in DESIGN.md", pkg, dep)
				}
			}
		}
	}
}
