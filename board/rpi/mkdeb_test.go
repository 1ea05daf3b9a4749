package rpi

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testMaintainer is the Maintainer the tests give mkdeb.sh.
const testMaintainer = "Partyline Test <test@partyline.invalid>"

// buildDeb runs mkdeb.sh on a dynamically linked binary of this machine (a copy of
// /bin/true, so that the package's libc dependency is computed from a real ELF file and
// lintian sees a binary of the package's architecture) with a small manual page, and
// returns the package's path and its architecture.
func buildDeb(t *testing.T) (deb, arch string) {
	t.Helper()
	for _, tool := range []string{"dpkg-deb", "dpkg", "readelf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian dpkg, binutils): cannot build the package", tool)
		}
	}
	out, err := exec.Command("dpkg", "--print-architecture").Output()
	if err != nil {
		t.Fatal(err)
	}
	arch = strings.TrimSpace(string(out))
	dir := t.TempDir()
	elf, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skipf("no /bin/true to package: %v", err)
	}
	binary := filepath.Join(dir, "partyline")
	if err := os.WriteFile(binary, elf, 0o755); err != nil {
		t.Fatal(err)
	}
	man := filepath.Join(dir, "partyline.8")
	page := ".TH PARTYLINE 8 \"\" \"partyline 1.2.3~rc1\" \"System Administration\"\n.SH NAME\npartyline \\- test page\n"
	if err := os.WriteFile(man, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	cmd := exec.Command("sh", "mkdeb.sh", "-b", binary, "-m", man, "-v", "1.2.3~rc1", "-a", arch, "-o", outDir)
	cmd.Env = append(os.Environ(), "MAINTAINER="+testMaintainer, "SOURCE_DATE_EPOCH=1796500000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	path, err := cmd.Output()
	if err != nil {
		t.Fatalf("mkdeb.sh: %v\n%s", err, stderr.Bytes())
	}
	want := filepath.Join(outDir, "partyline_1.2.3~rc1_"+arch+".deb")
	if got := strings.TrimSpace(string(path)); got != want {
		t.Fatalf("mkdeb.sh printed %q, want %q", got, want)
	}
	return want, arch
}

// gunzip returns the content of the gzip file at path.
func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(b)
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
	deb, arch := buildDeb(t)

	info := dpkgDeb(t, "--info", deb)
	for _, want := range []string{" Package: partyline\n", " Version: 1.2.3~rc1\n", " Architecture: " + arch + "\n",
		" Maintainer: " + testMaintainer + "\n", " preinst ", " postinst ", " prerm ", " postrm ", " conffiles ", " md5sums "} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	// libc6 at least as new as the newest GLIBC_ symbol version the binary needs.
	if !regexp.MustCompile(`(?m)^ Depends: libc6 \(>= 2\.[0-9]+(\.[0-9]+)?\), libasound2, libopus0, adduser$`).MatchString(info) {
		t.Errorf("dpkg-deb --info: Depends is not libc6 (>= 2.N), libasound2, libopus0, adduser:\n%s", info)
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
		"-rw-r--r-- root/root ./etc/default/partyline",
		"-rw-r--r-- root/root ./lib/systemd/system/partyline-update.service",
		"-rw-r--r-- root/root ./lib/systemd/system/partyline.service",
		"-rwxr-xr-x root/root ./usr/bin/partyline",
		"-rwxr-xr-x root/root ./usr/lib/partyline/update-helper",
		"-rw-r--r-- root/root ./usr/share/doc/partyline/README.Debian",
		"-rw-r--r-- root/root ./usr/share/doc/partyline/changelog.gz",
		"-rw-r--r-- root/root ./usr/share/doc/partyline/copyright",
		"-rw-r--r-- root/root ./usr/share/man/man8/partyline.8.gz",
		"-rw-r--r-- root/root ./usr/share/partyline/asound.conf",
		"-rw-r--r-- root/root ./usr/share/partyline/config-pi-octo.txt",
		"-rw-r--r-- root/root ./usr/share/partyline/config-pi-wm8960.txt",
		"-rw-r--r-- root/root ./usr/share/partyline/config-usb.txt",
		"-rw-r--r-- root/root ./usr/share/polkit-1/rules.d/50-partyline.rules",
	}
	if !slices.Equal(files, want) {
		t.Errorf("dpkg-deb --contents files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}

	// The package holds exactly the embedded files.
	root := t.TempDir()
	dpkgDeb(t, "--extract", deb, root)
	for name, path := range map[string]string{
		"partyline.service":        "lib/systemd/system/partyline.service",
		"partyline-update.service": "lib/systemd/system/partyline-update.service",
		"update-helper":            "usr/lib/partyline/update-helper",
		"default":                  "etc/default/partyline",
		"asound.conf":              "usr/share/partyline/asound.conf",
		"config-pi-wm8960.txt":     "usr/share/partyline/config-pi-wm8960.txt",
		"config-pi-octo.txt":       "usr/share/partyline/config-pi-octo.txt",
		"config-usb.txt":           "usr/share/partyline/config-usb.txt",
		"README.Debian":            "usr/share/doc/partyline/README.Debian",
		"copyright":                "usr/share/doc/partyline/copyright",
		"partyline.rules":          "usr/share/polkit-1/rules.d/50-partyline.rules",
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
	if got := gunzip(t, filepath.Join(root, "usr/share/man/man8/partyline.8.gz")); !strings.HasPrefix(got, ".TH PARTYLINE 8 ") {
		t.Errorf("packaged manual page: %q", got)
	}
	// The changelog: one entry for the version, signed by the maintainer on SOURCE_DATE_EPOCH.
	changelog := gunzip(t, filepath.Join(root, "usr/share/doc/partyline/changelog.gz"))
	if want := "partyline (1.2.3~rc1) unstable; urgency=medium\n\n  * Snapshot 1.2.3~rc1 of partyline.\n\n" +
		" -- " + testMaintainer + "  Sat, 05 Dec 2026 19:46:40 +0000\n"; changelog != want {
		t.Errorf("changelog.Debian:\n%s\nwant:\n%s", changelog, want)
	}

	control := t.TempDir()
	dpkgDeb(t, "--control", deb, control)
	if b, err := os.ReadFile(filepath.Join(control, "conffiles")); err != nil || string(b) != "/etc/default/partyline\n" {
		t.Errorf("conffiles: %q, %v; want /etc/default/partyline", b, err)
	}
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		embedded, _ := fs.ReadFile(Files(), name)
		packaged, err := os.ReadFile(filepath.Join(control, name))
		if err != nil || !bytes.Equal(packaged, embedded) {
			t.Errorf("packaged %s differs from the embedded one (%v)", name, err)
		}
	}
	// preinst names the package's version in the marker of an upgrade by hand.
	embedded, _ := fs.ReadFile(Files(), "preinst")
	packaged, err := os.ReadFile(filepath.Join(control, "preinst"))
	if want := strings.ReplaceAll(string(embedded), "@VERSION@", "1.2.3~rc1"); err != nil || string(packaged) != want {
		t.Errorf("packaged preinst is not the embedded one with version 1.2.3~rc1 (%v):\n%s", err, packaged)
	}

	t.Run("systemd-analyze verify", func(t *testing.T) {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			t.Skip("systemd-analyze not installed: the unit is not verified")
		}
		// verify wants ExecStart to exist on this machine: point it at the packaged binary.
		for _, name := range []string{"partyline.service", "partyline-update.service"} {
			raw, err := os.ReadFile(filepath.Join(root, "lib/systemd/system", name))
			if err != nil {
				t.Fatal(err)
			}
			unit := filepath.Join(t.TempDir(), name)
			text := strings.Replace(string(raw), "ExecStart=/usr/bin/partyline ", "ExecStart="+filepath.Join(root, "usr/bin/partyline")+" ", 1)
			if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit).CombinedOutput()
			if err != nil || len(out) > 0 { // verify exits 0 on unknown keys, but says so
				t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
			}
		}
	})
}

func TestMkdebRefusesBadArguments(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed (it is on Debian)")
	}
	dir := t.TempDir()
	binary, man := filepath.Join(dir, "partyline"), filepath.Join(dir, "partyline.8")
	for _, f := range []string{binary, man} {
		if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-b", binary, "-m", man}, "usage:"},
		{[]string{"-b", binary, "-v", "1"}, "usage:"},
		{[]string{"-b", filepath.Join(dir, "absent"), "-m", man, "-v", "1"}, "no binary"},
		{[]string{"-b", binary, "-m", filepath.Join(dir, "absent.8"), "-v", "1"}, "no manual page"},
		{[]string{"-b", binary, "-m", man, "-v", "v1.0"}, "does not start with a digit"},
		{[]string{"-b", binary, "-m", man, "-v", "1.0 beta"}, "characters other than"},
		{[]string{"-b", binary, "-m", man, "-v", "1.0", "-a", "ARM64"}, "not a Debian architecture"},
		{[]string{"-b", binary, "-m", man, "-v", "1.0", "-o", filepath.Join(dir, "out")}, "MAINTAINER partyline@localhost is not"},
	} {
		cmd := exec.Command("sh", append([]string{"mkdeb.sh"}, tt.args...)...)
		cmd.Env = append(os.Environ(), "MAINTAINER=partyline@localhost")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tt.want) {
			t.Errorf("mkdeb.sh %q: %v, %q; want a failure with %q", tt.args, err, out, tt.want)
		}
	}
}

// TestLintian runs Debian's lintian on a package built by mkdeb.sh: it must report no error
// (issue 17: copyright, changelog, libc dependency, maintainer address, manual page).
// make deb runs it on the real arm64 package too.
func TestLintian(t *testing.T) {
	if _, err := exec.LookPath("lintian"); err != nil {
		t.Skip("lintian not installed (make deps-deb installs it)")
	}
	deb, _ := buildDeb(t)
	out, err := exec.Command("lintian", "--fail-on", "error", "--tag-display-limit", "0", deb).CombinedOutput()
	if err != nil {
		t.Errorf("lintian: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "E: ") {
			t.Errorf("lintian error: %s", line)
		}
	}
	t.Logf("lintian:\n%s", out)
}

// TestVersionsIncrease checks version.sh on a repository of its own: every commit's version
// is higher for dpkg than its parent's, even for commits made within the same second (a
// rebase) and whatever their hashes.
func TestVersionsIncrease(t *testing.T) {
	for _, tool := range []string{"git", "dpkg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	script, err := filepath.Abs("version.sh")
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	git := func(date string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@partyline.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@partyline.invalid",
			"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date, "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	version := func() string {
		t.Helper()
		cmd := exec.Command("sh", script)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("version.sh: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q")
	var versions []string
	// Two commits in one second (UTC+2, to check the time is UTC), then one a day later.
	for i, date := range []string{"2026-12-06T22:30:00+02:00", "2026-12-06T22:30:00+02:00", "2026-12-07T09:00:00+02:00"} {
		git(date, "commit", "-q", "--allow-empty", "-m", "commit "+strconv.Itoa(i))
		versions = append(versions, version())
	}
	hash := git("", "rev-parse", "--short=12", "HEAD")
	if want := "0.1.0+git20261207070000.3.g" + hash; versions[2] != want {
		t.Errorf("version %q, want %q", versions[2], want)
	}
	for i := 1; i < len(versions); i++ {
		if err := exec.Command("dpkg", "--compare-versions", versions[i-1], "lt", versions[i]).Run(); err != nil {
			t.Errorf("dpkg --compare-versions %s lt %s: %v; each build must be newer than the one before", versions[i-1], versions[i], err)
		}
	}
}

// TestCopyrightNamesEveryModule checks that the package's copyright file names every Go
// module linked into partyline, so that a new dependency cannot ship without its license.
func TestCopyrightNamesEveryModule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not installed")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "partyline/cmd/partyline").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	raw, err := fs.ReadFile(Files(), "copyright")
	if err != nil {
		t.Fatal(err)
	}
	copyright := string(raw)
	majorSuffix := regexp.MustCompile(`/v[0-9]+$`)
	seen := map[string]bool{}
	for module := range strings.Lines(string(out)) {
		module = strings.TrimSpace(module)
		if module == "" || module == "partyline" || seen[module] {
			continue
		}
		seen[module] = true
		if !strings.Contains(copyright, majorSuffix.ReplaceAllString(module, "")+"/*") &&
			!strings.Contains(copyright, " "+module+" ") && !strings.Contains(copyright, " "+module+",") {
			t.Errorf("copyright does not name the module %s", module)
		}
	}
	if len(seen) == 0 {
		t.Error("go list found no module: the test checks nothing")
	}
}
