#!/bin/sh
# version.sh prints the Debian version of a commit of partyline (default HEAD):
#
#   0.1.0+git<UTC commit time, YYYYMMDDHHMMSS>.<commit count>.g<12-digit hash>
#
# e.g. 0.1.0+git20261206203000.412.gd33c814ab12c. The committer time and the count of
# commits both grow along the history (a rebased commit gets a new committer time, and
# commits made within one second still differ in count), so that dpkg --compare-versions
# orders every build after the builds of the commits before it; the hash only names the
# commit. BASE overrides 0.1.0, the upstream version to which the snapshot is added.
#
#   board/rpi/version.sh [COMMIT]
set -eu

commit=${1:-HEAD}
base=${BASE:-0.1.0}
case $base in
[0-9]*) ;;
*)
	echo "$0: BASE $base does not start with a digit" >&2
	exit 1
	;;
esac
time=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S "$commit")
count=$(git rev-list --count "$commit")
hash=$(git rev-parse --short=12 "$commit")
echo "$base+git$time.$count.g$hash"
