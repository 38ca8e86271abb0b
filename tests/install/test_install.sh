#!/bin/sh
# Install into a temporary DESTDIR and build a program against the
# installed libism with pkg-config, shared and static; check that the
# shared library exports exactly the functions the public headers declare.
#   test_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

DESTDIR="$dest" meson install -C "$build" --no-rebuild --quiet >/dev/null
pcdir=$(dirname "$(find "$dest" -name ism.pc | head -1)")
[ -d "$pcdir" ] || { echo "no ism.pc installed"; exit 1; }
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest"
libdir="$(pkg-config --variable=libdir ism)"

for f in ism.h ism/common.h ism/conn.h ism/region.h ism/admin.h; do
	[ -f "$(pkg-config --variable=includedir ism)/$f" ] ||
		{ echo "header $f not installed"; exit 1; }
done
for m in man8/ismd.8 man1/ismctl.1 man7/ism.7 man3/libism.3; do
	find "$dest" -path "*/man/$m" | grep -q . || { echo "man page $m missing"; exit 1; }
done

cat > "$dest/prog.c" <<'PROG'
#include <ism.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	struct ism_token t;
	char s[ISM_TOKEN_STRLEN + 1];

	if (ism_token_parse("00112233445566778899aabbccddeeff", &t) != 0)
		return 1;
	ism_token_format(&t, s);
	if (strcmp(s, "00112233445566778899aabbccddeeff") != 0)
		return 1;
	if (strcmp(ism_version(), ISM_VERSION_STRING) != 0)
		return 1;
	/* No ismd there: a clean error, not a crash. */
	struct ism_conn *c;
	return ism_conn_open("/nonexistent/ism.sock", NULL, &c) == -2 ? 0 : 1;
}
PROG
cc -std=c11 -Wall -Werror $(pkg-config --cflags ism) "$dest/prog.c" \
	-o "$dest/prog-shared" $(pkg-config --libs ism)
LD_LIBRARY_PATH="$libdir" "$dest/prog-shared"
cc -std=c11 -Wall -Werror $(pkg-config --cflags ism) "$dest/prog.c" \
	-o "$dest/prog-static" "$libdir/libism.a" $(pkg-config --static --libs-only-other ism)
"$dest/prog-static"

# Exports: exactly the public API, versioned.
exported=$(nm -D --defined-only "$libdir"/libism.so.* | awk '$3 ~ /^ism_/ {sub(/@.*/, "", $3); print $3}' | sort -u)
declared=$(grep -ho 'ism_[a-z_]*(' "$src"/include/ism/*.h | tr -d '(' | sort -u)
if [ "$exported" != "$declared" ]; then
	echo "exported and declared functions differ:"
	echo "$exported" > "$dest/e"; echo "$declared" > "$dest/d"
	diff "$dest/e" "$dest/d" || true
	exit 1
fi
nm -D --defined-only "$libdir"/libism.so.* | grep -q 'ism_conn_open@@ISM_0.1' ||
	{ echo "symbols are not versioned ISM_0.1"; exit 1; }
echo "install: headers, man pages, pkg-config (shared and static) and exports OK"
