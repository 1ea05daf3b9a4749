#!/bin/sh
# deb-test.sh installs the partyline package into an arm64 Debian 12 (bookworm) root under
# qemu-user, as close to a Raspberry Pi OS installation as this machine allows, with dpkg
# inside the root (chroot) so that the maintainer scripts really run, and checks what an
# administrator would see after each step:
#
#   1. install OLD: the user and groups, the files and their modes, the conffile, the
#      service enabled (systemd does not run in a chroot: deb-systemd-helper's records in
#      /var/lib/systemd/deb-systemd-helper-enabled and the multi-user.target.wants link);
#   2. the administrator edits /etc/default/partyline and disables the service
#      (deb-systemd-helper disable, what systemctl disable does to the links);
#   3. upgrade to NEW: the service stays disabled, the edit stays; enabled again and NEW
#      reinstalled, it stays enabled;
#   4. the installed binary, run under qemu-user in the root as the partyline user, serves
#      its admin page (curl on loopback) and stops cleanly on SIGINT;
#   5. a downgrade by hand: the preinst writes the update marker;
#   6. remove: the program goes, the settings, conffile, user and the service's state stay;
#   7. purge: the conffile, the settings database, the user and the service's state go,
#      the recordings and prompts stay.
#
#   board/rpi/deb-test.sh OLD.deb NEW.deb        (make deb-test builds both)
#
# It runs as root (chroot, mount) and needs debootstrap, qemu-user-static (its binfmt_misc
# entry, which it registers if the kernel lacks it) and curl. The root is bootstrapped once
# (debootstrap --foreign --variant=minbase, then the second stage under qemu-user) from the
# bookworm mirror in apt's sources (MIRROR overrides it) and cached as a tarball in
# DEB_TEST_CACHE (default /var/cache/partyline-deb-test); each run unpacks a fresh copy
# into /var/tmp and deletes it.
set -eu

usage() {
	echo "usage: $0 OLD.deb NEW.deb" >&2
	exit 2
}
fail() {
	echo "$0: FAIL: $*" >&2
	if [ -n "${log:-}" ] && [ -s "$log" ]; then
		echo "--- partyline's log:" >&2
		cat "$log" >&2
	fi
	exit 1
}
ok() { echo "deb-test: ok: $*"; }

[ $# -eq 2 ] || usage
old=$1 new=$2
for deb in "$old" "$new"; do
	[ -f "$deb" ] || fail "no package $deb"
done
[ "$(id -u)" = 0 ] || fail "run as root (chroot and mount)"
for tool in debootstrap chroot curl dpkg-deb; do
	command -v "$tool" >/dev/null || fail "$tool not found (make deps-deb installs it)"
done
old_version=$(dpkg-deb --field "$old" Version)
new_version=$(dpkg-deb --field "$new" Version)
dpkg --compare-versions "$old_version" lt "$new_version" ||
	fail "OLD $old_version is not lower than NEW $new_version"
files=$(cd "$(dirname "$0")" && pwd)/files
started=$(date +%s)

# binfmt_misc runs the root's arm64 programs with qemu-aarch64; Debian's entry has the F
# flag, so that the interpreter works inside the chroot.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
	mount -t binfmt_misc binfmt_misc "$binfmt" || fail "cannot mount $binfmt"
fi
if [ ! -e "$binfmt/qemu-aarch64" ]; then
	conf=/usr/lib/binfmt.d/qemu-aarch64.conf
	[ -f "$conf" ] || fail "no $conf (apt-get install qemu-user-static)"
	grep -v '^#' "$conf" >"$binfmt/register" || fail "cannot register $conf"
fi
grep -qx enabled "$binfmt/qemu-aarch64" || fail "binfmt_misc entry qemu-aarch64 is disabled"

# mirror prints the first bookworm mirror in apt's sources, one-line or deb822 format.
mirror() {
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++;
			if ($(i + 1) == "bookworm") { print $i; exit } }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
			{ uri = ""; suite = 0
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { split(substr($i, 6), u, " "); uri = u[1] }
				if ($i ~ /^Suites:/ && (" " substr($i, 8) " ") ~ /[ \t]bookworm[ \t]/) suite = 1
			  }
			  if (suite && uri != "") { print uri; exit } }' "$f"
	done
}

# unmount_under unmounts everything mounted below the directory $1 (debootstrap's second
# stage leaves /proc and /sys mounted), lazily if it is busy.
unmount_under() {
	awk -v dir="$1/" 'index($2, dir) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

# The cached root: Debian 12 minbase for arm64 with the package's dependencies.
cache=${DEB_TEST_CACHE:-/var/cache/partyline-deb-test}
include=adduser,libasound2,libopus0
base=$cache/bookworm-arm64-minbase-$(echo "$include" | tr , -).tar
if [ ! -f "$base" ]; then
	url=${MIRROR:-$(mirror | head -n 1)}
	[ -n "$url" ] || fail "no bookworm mirror in /etc/apt/sources.list*: set MIRROR"
	echo "deb-test: bootstrapping $base from $url (once; several minutes under qemu-user)"
	mkdir -p "$cache"
	stage=$(mktemp -d "$cache/stage.XXXXXX")
	chmod 0755 "$stage" # the root's /, which mktemp made private
	trap 'unmount_under "$stage"' EXIT
	debootstrap --foreign --arch=arm64 --variant=minbase --include="$include" bookworm "$stage" "$url" >"$stage.log" 2>&1 ||
		fail "debootstrap --foreign failed, see $stage.log"
	status=0
	chroot "$stage" /debootstrap/debootstrap --second-stage >>"$stage.log" 2>&1 || status=$?
	unmount_under "$stage"
	[ $status -eq 0 ] || fail "debootstrap --second-stage failed, see $stage.log"
	rm -rf "$stage"/var/cache/apt/archives/*.deb "$stage"/var/lib/apt/lists/*
	tar --one-file-system -C "$stage" -cf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf --one-file-system "$stage" "$stage.log"
	trap - EXIT
	echo "deb-test: bootstrapped in $(($(date +%s) - started)) s"
fi

work=$(mktemp -d /var/tmp/partyline-deb-test.XXXXXX)
root=$work/root
log=$work/partyline.log
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	unmount_under "$root"
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
mkdir "$root"
tar -C "$root" -xf "$base"
chmod 0755 "$root"
mount -t proc proc "$root/proc"
cp "$old" "$root/tmp/old.deb"
cp "$new" "$root/tmp/new.deb"

# in_root runs a command in the root, with a clean environment and no terminal.
in_root() {
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive \
		chroot "$root" "$@" </dev/null
}
# dsh runs deb-systemd-helper in the root, which refuses to run outside a maintainer script
# unless told the package.
dsh() {
	in_root env DPKG_MAINTSCRIPT_PACKAGE=partyline deb-systemd-helper "$@"
}
# dpkg_in_root runs dpkg in the root and shows its output on failure.
dpkg_in_root() {
	out=$(in_root dpkg "$@" 2>&1) || fail "dpkg $*: $out"
	echo "$out"
}

# mode_owner checks a file's mode and owner in the root.
mode_owner() {
	got=$(stat -c '%a %U:%G' "$root$1" 2>/dev/null) || fail "$1 missing"
	[ "$got" = "$2" ] || fail "$1 is $got, want $2"
}
# absent checks that a path does not exist in the root.
absent() {
	if [ -e "$root$1" ] || [ -L "$root$1" ]; then
		fail "$1 exists after $step"
	fi
}

wants=/etc/systemd/system/multi-user.target.wants/partyline.service
dsh=/var/lib/systemd/deb-systemd-helper-enabled

# installed checks the package, its version, user, files and unit after an install.
installed() {
	status=$(in_root dpkg-query -W -f='${Status} ${Version}' partyline)
	[ "$status" = "install ok installed $1" ] || fail "dpkg-query after $step: $status"
	version=$(in_root /usr/bin/partyline -version) || fail "partyline -version failed after $step"
	case $version in
	"partyline $1 (build "*) ;;
	*) fail "partyline -version after $step: $version" ;;
	esac
	user
	mode_owner /usr/bin/partyline "755 root:root"
	mode_owner /lib/systemd/system/partyline.service "644 root:root"
	mode_owner /lib/systemd/system/partyline-update.service "644 root:root"
	mode_owner /usr/lib/partyline/update-helper "755 root:root"
	mode_owner /usr/share/polkit-1/rules.d/50-partyline.rules "644 root:root"
	[ "$(in_root /usr/lib/partyline/update-helper version)" = "$1" ] ||
		fail "update-helper version does not print $1 after $step"
	mode_owner /etc/default/partyline "644 root:root"
	mode_owner /usr/share/man/man8/partyline.8.gz "644 root:root"
	mode_owner /usr/share/doc/partyline/copyright "644 root:root"
	mode_owner /usr/share/partyline/config-pi-wm8960.txt "644 root:root"
	cmp -s "$root/lib/systemd/system/partyline.service" "$files/partyline.service" ||
		fail "the installed unit differs from files/partyline.service"
	in_root dpkg-query -W -f='${Conffiles}\n' partyline | grep -q '^ /etc/default/partyline ' ||
		fail "/etc/default/partyline is not a conffile"
	ok "$step: partyline $1 installed, -version says so, files and modes, unit, conffile"
}

# user checks the system user partyline and its groups.
user() {
	entry=$(in_root getent passwd partyline) || fail "no user partyline after $step"
	uid=$(echo "$entry" | cut -d: -f3)
	[ "$uid" -lt 1000 ] || fail "partyline's uid $uid is not a system uid"
	[ "$(echo "$entry" | cut -d: -f6,7)" = /var/lib/partyline:/usr/sbin/nologin ] ||
		fail "partyline's home and shell: $entry"
	in_root getent group partyline >/dev/null || fail "no group partyline after $step"
	groups=" $(in_root id -nG partyline) "
	for g in partyline gpio audio i2c; do
		case $groups in
		*" $g "*) ;;
		*) fail "partyline is not in group $g after $step: $groups" ;;
		esac
	done
}

# enabled checks the service's enablement as deb-systemd-helper records it: yes or no.
enabled() {
	[ -f "$root$dsh/partyline.service.dsh-also" ] || fail "no deb-systemd-helper state for partyline after $step"
	if [ "$1" = yes ]; then
		[ "$(readlink "$root$wants")" = /lib/systemd/system/partyline.service ] ||
			fail "$wants is not a link to the unit after $step"
		[ -e "$root$dsh/multi-user.target.wants/partyline.service" ] || fail "deb-systemd-helper does not record the service enabled after $step"
		dsh --quiet is-enabled partyline.service || fail "deb-systemd-helper is-enabled: no after $step"
	else
		absent "$wants"
		if dsh --quiet is-enabled partyline.service; then
			fail "deb-systemd-helper is-enabled: yes after $step"
		fi
	fi
	ok "$step: service enabled: $1"
}

step="install of $old_version"
dpkg_in_root -i /tmp/old.deb >/dev/null
installed "$old_version"
enabled yes

step="the administrator's changes"
echo 'PARTYLINE_ARGS="-admin 127.0.0.1:8080"  # deb-test' >>"$root/etc/default/partyline"
dsh disable partyline.service >/dev/null
enabled no

step="upgrade to $new_version"
dpkg_in_root -i /tmp/new.deb >/dev/null
installed "$new_version"
enabled no
grep -q '# deb-test$' "$root/etc/default/partyline" || fail "the upgrade lost the edit of /etc/default/partyline"
ok "$step: the edit of /etc/default/partyline is kept"

step="reinstall of $new_version, enabled"
dsh enable partyline.service >/dev/null
dpkg_in_root -i /tmp/new.deb >/dev/null
installed "$new_version"
enabled yes

# The installed binary, as the unit runs it (its user and groups, its state directory as
# StateDirectory= makes it), on the sim board, on loopback ports the kernel picks.
step="the service's binary"
gid=$(in_root id -g partyline)
gids=$(in_root id -G partyline | tr ' ' ,)
install -d -m 0750 -o "$uid" -g "$gid" "$root/var/lib/partyline"
: >"$log"
chroot --userspec="$uid:$gid" --groups="$gids" "$root" \
	env -i PATH=/usr/bin:/bin LC_ALL=C \
	/usr/bin/partyline -data /var/lib/partyline -board sim -admin 127.0.0.1:0 -sip 127.0.0.1:0 \
	</dev/null >"$log" 2>&1 &
pid=$!
page=
i=0
while [ $i -lt 600 ]; do
	kill -0 "$pid" 2>/dev/null || fail "partyline exited before serving its admin page"
	addr=$(sed -n 's/.*msg="partyline running" admin=http:\/\/\([^ ]*\).*/\1/p' "$log") || true
	if [ -n "$addr" ] && page=$(curl -fsSL --max-time 2 "http://$addr/" 2>/dev/null); then
		break
	fi
	page=
	sleep 0.1
	i=$((i + 1))
done
[ -n "$page" ] || fail "no admin page within 60 s"
case $page in
*"Admin password"*) ;;
*) fail "the admin page at http://$addr/ does not ask for the admin password" ;;
esac
kill -INT "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
	[ $i -lt 100 ] || fail "partyline still running 10 s after SIGINT"
	sleep 0.1
	i=$((i + 1))
done
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "partyline exited with status $status after SIGINT"
owner=$(stat -c %u:%g "$root/var/lib/partyline/partyline.db" 2>/dev/null) || fail "no settings database"
[ "$owner" = "$uid:$gid" ] || fail "the settings database belongs to $owner, not partyline ($uid:$gid)"
ok "$step: served its first-start page at http://$addr/ under qemu-user as user partyline, stopped on SIGINT"

# A downgrade by hand (dpkg -i, as apt would) while partyline has its directory: the
# preinst writes the update marker, naming the version replaced, for partyline's user.
step="downgrade by hand to $old_version"
dpkg_in_root -i --force-downgrade /tmp/old.deb >/dev/null
installed "$old_version"
marker=/var/lib/partyline/update-pending.json
# The root's partyline, by number: the host may give that uid another name.
got=$(stat -c '%a %u:%g' "$root$marker" 2>/dev/null) || fail "no update marker $marker after $step"
[ "$got" = "640 $uid:$gid" ] || fail "$marker is $got, want 640 and partyline's $uid:$gid"
grep -q "\"version\": \"$old_version\"" "$root$marker" && grep -q "\"previous\": \"$new_version\"" "$root$marker" ||
	fail "the marker does not name $old_version replacing $new_version: $(cat "$root$marker")"
ok "$step: the preinst wrote the update marker: $(tr -d '\n' <"$root$marker")"

# What the appliance keeps besides its settings: a recording and a prompt.
for kept in recordings/deb-test.wav prompts/deb-test.wav; do
	install -D -m 0640 -o "$uid" -g "$gid" /dev/null "$root/var/lib/partyline/$kept"
done

step="remove"
dpkg_in_root -r partyline >/dev/null
status=$(in_root dpkg-query -W -f='${Status}' partyline)
[ "$status" = "deinstall ok config-files" ] || fail "dpkg-query after remove: $status"
absent /usr/bin/partyline
absent /lib/systemd/system/partyline.service
[ -f "$root/etc/default/partyline" ] || fail "remove deleted the conffile /etc/default/partyline"
[ -f "$root/var/lib/partyline/partyline.db" ] || fail "remove deleted the settings"
user
[ "$(readlink "$root/etc/systemd/system/partyline.service")" = /dev/null ] ||
	fail "the removed service is not masked"
[ -f "$root$dsh/partyline.service.dsh-also" ] || fail "remove forgot the service's enablement"
ok "$step: program and unit gone; settings, conffile, user and enablement kept; service masked"

step="purge"
purged=$(dpkg_in_root -P partyline)
if in_root dpkg-query -W partyline >/dev/null 2>&1; then
	fail "dpkg still knows partyline after purge"
fi
absent /etc/default/partyline
absent /var/lib/partyline/partyline.db
absent "$wants"
absent /etc/systemd/system/partyline.service
absent "$dsh/partyline.service.dsh-also"
absent "$dsh/multi-user.target.wants/partyline.service"
if in_root getent passwd partyline >/dev/null || in_root getent group partyline >/dev/null; then
	fail "the user or group partyline survived the purge"
fi
for g in gpio audio i2c; do
	in_root getent group "$g" >/dev/null || fail "purge deleted the device group $g"
done
for kept in recordings/deb-test.wav prompts/deb-test.wav; do
	[ -f "$root/var/lib/partyline/$kept" ] || fail "purge deleted /var/lib/partyline/$kept"
done
case $purged in
*"kept the recordings and prompts in /var/lib/partyline"*) ;;
*) fail "purge did not say that it kept the recordings: $purged" ;;
esac
ok "$step: conffile, settings, user, group and service state gone; recordings and prompts kept, and said so"

echo "deb-test: PASS: $old_version -> $new_version installed, upgraded, run, removed and purged in $(($(date +%s) - started)) s"
