package rpi

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// buildDeb runs mkdeb.sh on a dummy binary and returns the package's path.
func buildDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed (it is on Debian): cannot build the package")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "partyline-arm64")
	if err := os.WriteFile(binary, []byte("#!/bin/sh\necho partyline\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command("sh", "mkdeb.sh", "-b", binary, "-v", "1.2.3~rc1", "-a", "arm64", "-o", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	path, err := cmd.Output()
	if err != nil {
		t.Fatalf("mkdeb.sh: %v\n%s", err, stderr.Bytes())
	}
	want := filepath.Join(out, "partyline_1.2.3~rc1_arm64.deb")
	if got := strings.TrimSpace(string(path)); got != want {
		t.Fatalf("mkdeb.sh printed %q, want %q", got, want)
	}
	return want
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDeb(t *testing.T) {
	deb := buildDeb(t)

	info := dpkgDeb(t, "--info", deb)
	for _, want := range []string{" Package: partyline\n", " Version: 1.2.3~rc1\n", " Architecture: arm64\n",
		" Depends: libasound2, adduser\n", " postinst ", " prerm ", " postrm "} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}

	// Files: mode, owner and path of every regular file.
	var files []string
	for line := range strings.Lines(dpkgDeb(t, "--contents", deb)) {
		f := strings.Fields(line)
		if len(f) == 6 && strings.HasPrefix(f[0], "-") {
			files = append(files, f[0]+" "+f[1]+" "+f[5])
		}
	}
	want := []string{
		"-rw-r--r-- root/root ./lib/systemd/system/partyline.service",
		"-rwxr-xr-x root/root ./usr/bin/partyline",
		"-rw-r--r-- root/root ./usr/share/doc/partyline/README.Debian",
		"-rw-r--r-- root/root ./usr/share/partyline/asound.conf",
		"-rw-r--r-- root/root ./usr/share/partyline/config.txt",
	}
	if !slices.Equal(files, want) {
		t.Errorf("dpkg-deb --contents files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}

	// The package holds exactly the embedded files.
	root := t.TempDir()
	dpkgDeb(t, "--extract", deb, root)
	for name, path := range map[string]string{
		"partyline.service": "lib/systemd/system/partyline.service",
		"asound.conf":       "usr/share/partyline/asound.conf",
		"config.txt":        "usr/share/partyline/config.txt",
		"README.Debian":     "usr/share/doc/partyline/README.Debian",
	} {
		embedded, err := fs.ReadFile(Files(), name)
		if err != nil {
			t.Fatal(err)
		}
		packaged, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(packaged, embedded) {
			t.Errorf("packaged %s differs from the embedded %s", path, name)
		}
	}
	control := t.TempDir()
	dpkgDeb(t, "--control", deb, control)
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		embedded, _ := fs.ReadFile(Files(), name)
		packaged, err := os.ReadFile(filepath.Join(control, name))
		if err != nil || !bytes.Equal(packaged, embedded) {
			t.Errorf("packaged %s differs from the embedded one (%v)", name, err)
		}
	}

	t.Run("systemd-analyze verify", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Skip("systemd-analyze not installed: the unit is not verified")
		}
		// verify wants ExecStart to exist on this machine: point it at the packaged binary.
		raw, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/partyline.service"))
		if err != nil {
			t.Fatal(err)
		}
		unit := filepath.Join(t.TempDir(), "partyline.service")
		text := strings.Replace(string(raw), "ExecStart=/usr/bin/partyline ", "ExecStart="+filepath.Join(root, "usr/bin/partyline")+" ", 1)
		if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
		if err != nil || len(out) > 0 { // verify exits 0 on unknown keys, but says so
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

func TestMkdebRefusesBadArguments(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed (it is on Debian)")
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "partyline")
	if err := os.WriteFile(binary, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-b", binary}, "usage:"},
		{[]string{"-b", filepath.Join(dir, "absent"), "-v", "1"}, "no binary"},
		{[]string{"-b", binary, "-v", "v1.0"}, "does not start with a digit"},
		{[]string{"-b", binary, "-v", "1.0 beta"}, "characters other than"},
		{[]string{"-b", binary, "-v", "1.0", "-a", "ARM64"}, "not a Debian architecture"},
	} {
		cmd := exec.Command("sh", append([]string{"mkdeb.sh"}, tt.args...)...)
		cmd.Dir = "."
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("mkdeb.sh %q: %v, %q; want a failure with %q", tt.args, err, out, tt.want)
		}
	}
}
