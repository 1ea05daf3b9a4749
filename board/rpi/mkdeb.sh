#!/bin/sh
# mkdeb.sh builds the partyline .deb for Raspberry Pi OS from a partyline binary built for it,
# with the files in files/ beside this script, and prints the path of the package.
#
#   board/rpi/mkdeb.sh -b bin/partyline-arm64 -v 0.1.0 [-a arm64] [-o bin]
#
# -b  the binary, installed as /usr/bin/partyline
# -v  the Debian version (a digit first, then letters, digits and . + ~ -)
# -a  the Debian architecture (default arm64)
# -o  the directory to write partyline_VERSION_ARCH.deb to (default .)
#
# It needs dpkg-deb and runs without root: --root-owner-group makes every file root's.
# MAINTAINER overrides the Maintainer field.
set -eu
umask 022

usage() {
	echo "usage: $0 -b BINARY -v VERSION [-a ARCH] [-o OUTDIR]" >&2
	exit 2
}
fail() {
	echo "$0: $*" >&2
	exit 1
}

binary= version= arch=arm64 out=.
while getopts b:v:a:o: opt; do
	case $opt in
	b) binary=$OPTARG ;;
	v) version=$OPTARG ;;
	a) arch=$OPTARG ;;
	o) out=$OPTARG ;;
	*) usage ;;
	esac
done
[ -n "$binary" ] && [ -n "$version" ] || usage
[ -f "$binary" ] || fail "no binary $binary"
case $version in
[0-9]*) ;;
*) fail "version $version does not start with a digit" ;;
esac
case $version in
*[!0-9A-Za-z.+~-]*) fail "version $version has characters other than letters, digits and . + ~ -" ;;
esac
case $arch in
'' | *[!a-z0-9-]*) fail "architecture $arch is not a Debian architecture name" ;;
esac
command -v dpkg-deb >/dev/null || fail "dpkg-deb not found (apt-get install dpkg)"

files=$(cd "$(dirname "$0")" && pwd)/files
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

install -D -m 0755 "$binary" "$root/usr/bin/partyline"
install -D -m 0644 "$files/partyline.service" "$root/lib/systemd/system/partyline.service"
install -D -m 0644 "$files/asound.conf" "$root/usr/share/partyline/asound.conf"
install -D -m 0644 "$files/config.txt" "$root/usr/share/partyline/config.txt"
install -D -m 0644 "$files/README.Debian" "$root/usr/share/doc/partyline/README.Debian"
size=$(du -sk "$root" | cut -f1)
install -d -m 0755 "$root/DEBIAN"
for script in postinst prerm postrm; do
	install -m 0755 "$files/$script" "$root/DEBIAN/$script"
done

cat >"$root/DEBIAN/control" <<CONTROL
Package: partyline
Version: $version
Architecture: $arch
Maintainer: ${MAINTAINER:-partyline maintainers <partyline@localhost>}
Installed-Size: $size
Depends: libasound2, adduser
Section: comm
Priority: optional
Description: SIP conferencing appliance for analog handsets
 partyline joins the analog handsets of a Raspberry Pi with an audio codec
 HAT (or a USB headset adapter) to SIP conferences, each handset under its
 own identity, and is run from a local web page. It runs as the systemd
 service partyline.
CONTROL

mkdir -p "$out"
deb=$out/partyline_${version}_${arch}.deb
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
