#!/bin/sh
# mkdeb.sh builds the partyline .deb for Raspberry Pi OS from a partyline binary built for it,
# its manual page (partyline -man) and the files in files/ beside this script, and prints the
# path of the package.
#
#   board/rpi/mkdeb.sh -b bin/partyline-arm64 -m bin/partyline.8 -v 0.1.0 [-a arm64] [-o bin]
#
# -b  the binary, installed as /usr/bin/partyline
# -m  the manual page, installed gzipped as /usr/share/man/man8/partyline.8.gz
# -v  the Debian version (a digit first, then letters, digits and . + ~ -)
# -a  the Debian architecture (default arm64)
# -o  the directory to write partyline_VERSION_ARCH.deb to (default .)
#
# The package depends on libc6 at least as new as the newest GLIBC_ symbol version the binary
# needs (read with readelf), libasound2 (which partyline loads), libopus0 (which it links
# for Opus) and adduser.
# It needs dpkg-deb, gzip and readelf (binutils) and runs without root: --root-owner-group
# makes every file root's.
# MAINTAINER (name <address>) sets the Maintainer field and the changelog's signature.
# SOURCE_DATE_EPOCH (default now) dates the changelog entry and every file.
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

binary= man= version= arch=arm64 out=.
while getopts b:m:v:a:o: opt; do
	case $opt in
	b) binary=$OPTARG ;;
	m) man=$OPTARG ;;
	v) version=$OPTARG ;;
	a) arch=$OPTARG ;;
	o) out=$OPTARG ;;
	*) usage ;;
	esac
done
[ -n "$binary" ] && [ -n "$man" ] && [ -n "$version" ] || usage
[ -f "$binary" ] || fail "no binary $binary"
[ -s "$man" ] || fail "no manual page $man"
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
command -v readelf >/dev/null || fail "readelf not found (apt-get install binutils)"
maintainer=${MAINTAINER:-partyline maintainers <maintainers@partyline.invalid>}
case $maintainer in
?*' <'?*@?*'>') ;;
*) fail "MAINTAINER $maintainer is not \"name <address>\"" ;;
esac
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(date +%s)}"
case $SOURCE_DATE_EPOCH in
'' | *[!0-9]*) fail "SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH is not a number of seconds" ;;
esac

# libc6 (>= the newest GLIBC_x.y the binary asks for); none for a static binary.
glibc=$(readelf --version-info "$binary" 2>/dev/null | sed -n 's/.*Name: GLIBC_\([0-9.]*\).*/\1/p' | sort -u -t. -k1,1n -k2,2n -k3,3n | tail -n 1)
depends="libasound2, libopus0, adduser"
if [ -n "$glibc" ]; then
	depends="libc6 (>= $glibc), $depends"
fi

files=$(cd "$(dirname "$0")" && pwd)/files
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

install -D -m 0755 "$binary" "$root/usr/bin/partyline"
install -D -m 0644 "$files/partyline.service" "$root/lib/systemd/system/partyline.service"
install -D -m 0644 "$files/partyline-update.service" "$root/lib/systemd/system/partyline-update.service"
install -D -m 0755 "$files/update-helper" "$root/usr/lib/partyline/update-helper"
install -D -m 0644 "$files/asound.conf" "$root/usr/share/partyline/asound.conf"
for board in "$files"/config-*.txt; do
	install -D -m 0644 "$board" "$root/usr/share/partyline/${board##*/}"
done
install -D -m 0644 "$files/default" "$root/etc/default/partyline"
install -D -m 0644 "$files/partyline.rules" "$root/usr/share/polkit-1/rules.d/50-partyline.rules"
doc=$root/usr/share/doc/partyline
install -D -m 0644 "$files/README.Debian" "$doc/README.Debian"
install -D -m 0644 "$files/copyright" "$doc/copyright"
install -d -m 0755 "$root/usr/share/man/man8"
gzip -9n <"$man" >"$root/usr/share/man/man8/partyline.8.gz"
chmod 0644 "$root/usr/share/man/man8/partyline.8.gz"
# The changelog of a native package (its version has no Debian revision): changelog.gz.
{
	echo "partyline ($version) unstable; urgency=medium"
	echo
	echo "  * Snapshot $version of partyline."
	echo
	echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
size=$(du -sk "$root" | cut -f1)
install -d -m 0755 "$root/DEBIAN"
for script in postinst prerm postrm; do
	install -m 0755 "$files/$script" "$root/DEBIAN/$script"
done
# preinst writes the update marker of a hand install, naming this version.
sed "s/@VERSION@/$version/" "$files/preinst" >"$root/DEBIAN/preinst"
chmod 0755 "$root/DEBIAN/preinst"
# The conffile, whose checksum dpkg keeps itself, outside md5sums as dh_md5sums does.
echo /etc/default/partyline >"$root/DEBIAN/conffiles"
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"

cat >"$root/DEBIAN/control" <<CONTROL
Package: partyline
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: $depends
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
