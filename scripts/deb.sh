#!/bin/sh
# Build the Debian packages (debian/) out of tree, so the repository
# stays clean: the sources are copied to OUT/src, dpkg-buildpackage runs
# there (it writes its results to the parent, OUT), then lintian.
#   scripts/deb.sh OUT [dpkg-buildpackage options]
# DEB_BUILD_OPTIONS is passed through (nocheck skips the unit tests).
set -eu
out=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
for t in dpkg-buildpackage dh; do
	command -v $t >/dev/null 2>&1 || {
		echo "deb: $t missing (apt-get install dpkg-dev debhelper)" >&2
		exit 1
	}
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/src"
mkdir "$out/src"
# What git would commit (tracked and new files), else the whole tree less
# build directories.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -C "$out/src" -xf -
else
	(cd "$src" && tar --exclude='./build*' -cf - .) | tar -C "$out/src" -xf -
fi
rm -f "$out"/*.deb "$out"/*.ddeb "$out"/*.changes "$out"/*.buildinfo
(cd "$out/src" && dpkg-buildpackage -us -uc -b "$@")
ls "$out"/*.deb
if command -v lintian >/dev/null 2>&1; then
	# (lintian leaves mldbm-* files in $TMPDIR: give it one of its own.)
	rm -rf "$out/lintian-tmp"
	mkdir "$out/lintian-tmp"
	r=0
	TMPDIR="$out/lintian-tmp" lintian --fail-on error,warning \
		"$out"/*.changes || r=$?
	rm -rf "$out/lintian-tmp"
	exit $r
else
	echo "deb: lintian not installed: packages not checked" >&2
fi
