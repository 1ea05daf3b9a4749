package rpi

import (
	"io/fs"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestFiles(t *testing.T) {
	names, err := fs.Glob(Files(), "*")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.Debian", "asound.conf", "config.txt", "partyline.service", "postinst", "postrm", "prerm"}
	if !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
}

// unitKeys returns the unit's assignments, section.key = value.
func unitKeys(t *testing.T) map[string]string {
	t.Helper()
	raw, err := fs.ReadFile(Files(), "partyline.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	section := ""
	for line := range strings.Lines(string(raw)) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("unit line %q is not key=value", line)
			}
			if _, dup := keys[section+"."+k]; dup {
				t.Errorf("unit sets %s.%s twice", section, k)
			}
			keys[section+"."+k] = v
		}
	}
	return keys
}

func TestUnit(t *testing.T) {
	keys := unitKeys(t)
	for k, want := range map[string]string{
		"Service.Type":                "notify",
		"Service.WatchdogSec":         "30",
		"Service.User":                "partyline",
		"Service.SupplementaryGroups": "gpio audio i2c",
		"Service.StateDirectory":      "partyline",
		"Service.EnvironmentFile":     "-/etc/default/partyline",
		"Service.ExecStart":           "/usr/bin/partyline -data /var/lib/partyline $PARTYLINE_ARGS",
		"Service.Restart":             "on-failure",
		"Install.WantedBy":            "multi-user.target",
	} {
		if keys[k] != want {
			t.Errorf("%s = %q, want %q", k, keys[k], want)
		}
	}
}

func TestSmokeScript(t *testing.T) {
	out, err := exec.Command("sh", "-n", "smoke-arm64.sh").CombinedOutput()
	if err != nil {
		t.Errorf("sh -n smoke-arm64.sh: %v\n%s", err, out)
	}
}

func TestConfigTxt(t *testing.T) {
	for board, want := range map[string][]string{
		"pi-wm8960": {"dtparam=i2c_arm=on", "dtoverlay=wm8960-soundcard"},
		"pi-octo":   {"dtparam=i2c_arm=on", "dtoverlay=audioinjector-addons"},
		"usb":       {"dtparam=i2c_arm=on"},
	} {
		got, ok := ConfigTxt(board)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("ConfigTxt(%s) = %q, %v; want %q", board, got, ok, want)
		}
	}
	if got, ok := ConfigTxt("sim"); ok {
		t.Errorf("ConfigTxt(sim) = %q, true; want false", got)
	}
}

func TestScripts(t *testing.T) {
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		raw, err := fs.ReadFile(Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(raw), "#!/bin/sh\n") {
			t.Errorf("%s does not start with #!/bin/sh", name)
		}
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(string(raw))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", name, err, out)
		}
	}
	raw, _ := fs.ReadFile(Files(), "postinst")
	for _, want := range []string{"adduser --quiet --system --group", `adduser --quiet partyline "$group"`,
		"for group in gpio audio i2c", "systemctl daemon-reload", "systemctl enable partyline.service"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("postinst lacks %q", want)
		}
	}
}
