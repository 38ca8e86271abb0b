#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd-analyze verify on the units as built (system and per-user),
# with ExecStart pointed at the ismd just built so that its existence is
# checked too.  verify exits 0 on unknown keys and bad values (it only
# warns), so any line it prints fails the test.
# Usage: verify_units.sh SRCDIR BUILDDIR ISMD
set -eu
src=$1 build=$2 ismd=$3

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze not installed (apt-get install systemd)"
	exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ism-units.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/system" "$tmp/user" "$tmp/run"
chmod 700 "$tmp/run"

point() { sed "s|^ExecStart=[^ ]*|ExecStart=$ismd|" "$1" > "$2"; }
cp "$src/systemd/ism.socket" "$tmp/system/ism.socket"
point "$build/systemd/ism.service" "$tmp/system/ism.service"
cp "$src/systemd/user/ism.socket" "$tmp/user/ism.socket"
point "$build/systemd/ism-user.service" "$tmp/user/ism.service"
grep -q "^ExecStart=$ismd" "$tmp/system/ism.service"

fail=0
check() {
	what=$1
	shift
	if ! out=$("$@" 2>&1) || [ -n "$out" ]; then
		echo "FAIL: $what:"
		echo "$out"
		fail=1
	else
		echo "ok: $what"
	fi
}
check "system units" systemd-analyze verify --man=no \
	"$tmp/system/ism.socket" "$tmp/system/ism.service"
check "user units" env XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user \
	verify --man=no "$tmp/user/ism.socket" "$tmp/user/ism.service"
# The sysusers.d entry parses and makes user and group ism.
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/root/etc"
	systemd-sysusers --root="$tmp/root" "$src/systemd/ism.sysusers" \
		>/dev/null 2>&1 &&
		grep -q '^ism:' "$tmp/root/etc/passwd" &&
		grep -q '^ism:' "$tmp/root/etc/group" ||
		{ echo "FAIL: systemd-sysusers made no user/group ism"; fail=1; }
	[ $fail = 1 ] || echo "ok: sysusers.d entry"
fi
# meson install puts all five files somewhere systemd looks.
installed=$(meson introspect --installed "$build")
for f in systemd/system/ism.socket systemd/system/ism.service \
	systemd/user/ism.socket systemd/user/ism.service sysusers.d/ism.conf; do
	case $installed in
	*"/$f\""*) ;;
	*) echo "FAIL: meson install does not install */$f"; fail=1 ;;
	esac
done
[ $fail = 1 ] || echo "ok: installed by meson install"
exit $fail
