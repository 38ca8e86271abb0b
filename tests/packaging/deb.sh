#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the Debian packages (scripts/deb.sh: dpkg-buildpackage -b on a
# copy of the tree, then lintian, which must pass), unpack them into a
# scratch root (dpkg -x: no maintainer scripts run, nothing touches the
# machine), check what each holds, compile a program against the
# unpacked libism-dev with pkg-config (shared and static), and run it and
# the packaged ismctl against the packaged ismd.
# The package build skips the unit tests (DEB_BUILD_OPTIONS=nocheck):
# `make check` runs them already.
# Usage: deb.sh SRCDIR
set -eu
src=$(cd "$1" && pwd)

skip() { echo "SKIP: $*"; exit 77; }
for t in dpkg-buildpackage dh fakeroot lintian pkg-config cc dh_python3 \
	python3-config; do
	command -v $t >/dev/null 2>&1 ||
		skip "$t missing (apt-get install dpkg-dev debhelper fakeroot lintian dh-python python3-dev)"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ism-deb.XXXXXX")
ismd_pid=
cleanup() {
	if [ -n "$ismd_pid" ]; then
		kill "$ismd_pid" 2>/dev/null || true
		wait "$ismd_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

if ! DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" \
	"$src/scripts/deb.sh" "$tmp/deb" > "$tmp/build.log" 2>&1; then
	tail -60 "$tmp/build.log"
	fail "package build or lintian"
fi
grep -E '^(W|E): ' "$tmp/build.log" || true
echo "ok: dpkg-buildpackage and lintian (overrides: debian/*.lintian-overrides)"

root=$tmp/root
mkdir "$root"
for p in ismd libism0 libism-dev ism-tools python3-ism; do
	deb=$(ls "$tmp"/deb/${p}_*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || fail "no $p package"
	dpkg -x "$deb" "$root"
done
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
has() { [ -e "$root/$2" ] || fail "$1 lacks $2"; }
has ismd usr/sbin/ismd
has ismd lib/systemd/system/ism.socket
has ismd lib/systemd/system/ism.service
has ismd usr/lib/systemd/user/ism.socket
has ismd usr/lib/sysusers.d/ism.conf
has ismd usr/share/man/man8/ismd.8.gz
has libism0 usr/lib/$ma/libism.so.0
has libism-dev usr/lib/$ma/libism.so
has libism-dev usr/lib/$ma/libism.a
has libism-dev usr/lib/$ma/pkgconfig/ism.pc
has libism-dev usr/include/ism.h
has libism-dev usr/share/man/man3/libism.3.gz
has ism-tools usr/bin/ismctl
has ism-tools usr/share/man/man1/ismctl.1.gz
has python3-ism usr/lib/python3/dist-packages/ism/__init__.py
ls "$root"/usr/lib/python3/dist-packages/ism/_ism.*.so >/dev/null 2>&1 ||
	fail "python3-ism lacks the extension module"
grep -qx 'ExecStart=/usr/sbin/ismd --state-dir=${STATE_DIRECTORY}' \
	"$root/lib/systemd/system/ism.service" || fail "ism.service ExecStart"
# The user and group come from the sysusers.d entry at configure time.
dpkg-deb -e "$(ls "$tmp"/deb/ismd_*.deb)" "$tmp/ismd.ctl"
grep -q 'systemd-sysusers.*ism.conf' "$tmp/ismd.ctl/postinst" ||
	fail "ismd's postinst does not run systemd-sysusers"
grep -q 'ism.socket' "$tmp/ismd.ctl/postinst" ||
	fail "ismd's postinst does not enable ism.socket"
echo "ok: package contents"

# A program built against the unpacked libism-dev, found by pkg-config.
export PKG_CONFIG_LIBDIR="$root/usr/lib/$ma/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$root"
cat > "$tmp/prog.c" <<'PROG'
#include <ism.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static const char msg[] = "hello from libism-dev";
	struct ism_conn *c;
	struct ism_region *r;
	char back[sizeof(msg)];
	void *p;
	int e;

	if (argc != 2)
		return 2;
	if ((e = ism_conn_open(argv[1], NULL, &c)) < 0) {
		fprintf(stderr, "prog: connect: %s\n", strerror(-e));
		return 1;
	}
	if ((e = ism_region_alloc(c, 4096, NULL, &r)) < 0 ||
	    (e = ism_region_map(r, &p)) < 0) {
		fprintf(stderr, "prog: region: %s\n", strerror(-e));
		return 1;
	}
	memcpy(p, msg, sizeof(msg));
	/* Read it back through ismd, not through our own mapping. */
	if (ism_region_read(r, 0, back, sizeof(back)) != (ssize_t)sizeof(back) ||
	    memcmp(back, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "prog: read back through ismd differs\n");
		return 1;
	}
	ism_region_close(r);
	ism_conn_close(c);
	printf("ok: %s %s\n", ism_version(), msg);
	return 0;
}
PROG
cc -std=c11 -Wall -Werror $(pkg-config --cflags ism) "$tmp/prog.c" \
	-o "$tmp/prog-shared" $(pkg-config --libs ism) ||
	fail "compile against libism-dev (shared)"
cc -std=c11 -Wall -Werror $(pkg-config --cflags ism) "$tmp/prog.c" \
	-o "$tmp/prog-static" "$root/usr/lib/$ma/libism.a" \
	$(pkg-config --static --libs-only-other ism) ||
	fail "compile against libism-dev (static)"
echo "ok: compiled against libism-dev with pkg-config"

# The packaged ismd, on a private socket.
export LD_LIBRARY_PATH="$root/usr/lib/$ma"
sock=$tmp/ism.sock
mkdir -m 700 "$tmp/state"
"$root/usr/sbin/ismd" --socket "$sock" --state-dir "$tmp/state" \
	2> "$tmp/ismd.log" &
ismd_pid=$!
i=0
until "$root/usr/bin/ismctl" -s "$sock" status > /dev/null 2>&1; do
	i=$((i + 1))
	kill -0 "$ismd_pid" 2>/dev/null && [ $i -le 300 ] ||
		{ cat "$tmp/ismd.log"; fail "packaged ismd did not answer"; }
	sleep 0.1
done
ldd "$tmp/prog-shared" | grep -q "$root/usr/lib/$ma/libism.so.0" ||
	fail "prog-shared does not use the packaged libism.so.0"
"$tmp/prog-shared" "$sock" || { cat "$tmp/ismd.log"; fail "prog-shared"; }
"$tmp/prog-static" "$sock" || { cat "$tmp/ismd.log"; fail "prog-static"; }
"$root/usr/bin/ismctl" -s "$sock" status > /dev/null || fail "ismctl status"
# The packaged binding, alone on the path (not the build tree's), in
# Debian's Python, which it was built for.
py=/usr/bin/python3
[ -x $py ] || py=python3
$py -I -c '
import sys
sys.path.insert(0, sys.argv[2])
import ism
assert ism.__file__.startswith(sys.argv[2]), ism.__file__
with ism.Conn(sys.argv[1]) as c, c.alloc(4096) as r:
    with memoryview(r) as m:
        m[:5] = b"hello"
    assert r.read(0, 5) == b"hello"  # back through ismd
print("ok: python3-ism", ism.__file__)
' "$sock" "$root/usr/lib/python3/dist-packages" ||
	{ cat "$tmp/ismd.log"; fail "python3-ism against the packaged ismd"; }
kill "$ismd_pid"
wait "$ismd_pid" || fail "ismd did not stop cleanly"
ismd_pid=
echo "ok: packaged ismd, ismctl, python3-ism and a program on libism-dev work together"
