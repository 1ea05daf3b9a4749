#!/bin/sh
# smoke-arm64.sh starts the arm64 partyline under qemu-user on the sim board with a fresh
# settings directory, checks that its admin page serves the first-start page (choose the
# admin password), then sends SIGINT and checks that it exits with status 0 within 5 s.
#
#   board/rpi/smoke-arm64.sh [BINARY]      (default bin/partyline-arm64, from make cross)
#
# It needs qemu-aarch64-static (QEMU overrides it) and curl. The admin page listens on
# 127.0.0.1 on a port the kernel picks, read from the log. SIP listens where the settings'
# default says, UDP 0.0.0.0:5060, which must be free.
set -eu

binary=${1:-bin/partyline-arm64}
qemu=${QEMU:-qemu-aarch64-static}

fail() {
	echo "$0: $*" >&2
	if [ -n "${log:-}" ] && [ -s "$log" ]; then
		echo "--- partyline's log:" >&2
		cat "$log" >&2
	fi
	exit 1
}

[ -f "$binary" ] || fail "no binary $binary (make cross builds it)"
command -v "$qemu" >/dev/null || fail "$qemu not found (apt-get install qemu-user-static)"
command -v curl >/dev/null || fail "curl not found (apt-get install curl)"

data=$(mktemp -d)
log=$(mktemp)
pid=
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$data" "$log"
}
trap cleanup EXIT

"$qemu" "$binary" -board sim -data "$data" -admin 127.0.0.1:0 -sip 127.0.0.1:0 >"$log" 2>&1 &
pid=$!

# The admin page: its address is in the "partyline running" line; poll it for 30 s.
page=
i=0
while [ $i -lt 300 ]; do
	kill -0 "$pid" 2>/dev/null || fail "partyline exited before serving its admin page"
	addr=$(sed -n 's/.*msg="partyline running" admin=http:\/\/\([^ ]*\).*/\1/p' "$log")
	if [ -n "$addr" ] && page=$(curl -fsSL --max-time 2 "http://$addr/" 2>/dev/null); then
		break
	fi
	page=
	sleep 0.1
	i=$((i + 1))
done
[ -n "$page" ] || fail "no admin page within 30 s"
case $page in
*"Admin password"*) ;;
*) fail "the admin page at http://$addr/ does not ask for the admin password" ;;
esac

# SIGINT: a clean stop, status 0, within 5 s.
kill -INT "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
	[ $i -lt 50 ] || fail "partyline still running 5 s after SIGINT"
	sleep 0.1
	i=$((i + 1))
done
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "partyline exited with status $status after SIGINT"
echo "smoke-arm64: $binary served its first-start page at http://$addr/ and stopped cleanly on SIGINT"
