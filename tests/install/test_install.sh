#!/bin/sh
# Install into a temporary DESTDIR and build against the installed libism
# with pkg-config: every public header alone and all together (C, and C++
# where a compiler is there), a program shared and static, and one that
# binds to 0.1's versions of the calls 0.2 changed, as an old binary does.
# Check that the shared library exports exactly the functions the public
# headers declare, each at the right version, and everything 0.1 did.
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

# Every public header: installed, and self-contained (each compiles
# alone, in C and C++), then all of them in one program.
headers="ism.h $(cd "$src/include" && ls ism/*.h)"
for f in $headers; do
	[ -f "$(pkg-config --variable=includedir ism)/$f" ] ||
		{ echo "header $f not installed"; exit 1; }
	printf '#include <%s>\nint main(void)\n{\n\treturn 0;\n}\n' "$f" \
		> "$dest/alone.c"
	cc -std=c11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags ism) \
		-c "$dest/alone.c" -o "$dest/alone.o" ||
		{ echo "header $f does not compile alone (C)"; exit 1; }
	if command -v c++ >/dev/null; then
		cp "$dest/alone.c" "$dest/alone.cc"
		c++ -std=c++11 -Wall -Wextra -Werror $(pkg-config --cflags ism) \
			-c "$dest/alone.cc" -o "$dest/alone.o" ||
			{ echo "header $f does not compile alone (C++)"; exit 1; }
	fi
done
for f in $headers; do printf '#include <%s>\n' "$f"; done > "$dest/all.c"
printf 'int main(void)\n{\n\treturn 0;\n}\n' >> "$dest/all.c"
cc -std=c11 -Wall -Wextra -Wpedantic -Werror $(pkg-config --cflags ism) \
	"$dest/all.c" -o "$dest/all" $(pkg-config --libs ism) ||
	{ echo "the headers do not compile together"; exit 1; }
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

# Exports: exactly the public API, each function at its version.  A
# function is new in 0.2 (@@ISM_0.2), unchanged since 0.1 (@@ISM_0.1), or
# changed in 0.2 (@@ISM_0.2, and its 0.1 version kept: @ISM_0.1); and
# every function 0.1 exported still is, at ISM_0.1, for old binaries.
nm -D --defined-only "$libdir"/libism.so.* | awk '$3 ~ /^ism_/ {print $3}' |
	sort > "$dest/syms"
exported=$(sed -n 's/@@.*//p' "$dest/syms" | sort -u)
declared=$(grep -ho 'ism_[a-z_0-9]*(' "$src"/include/ism/*.h | tr -d '(' | sort -u)
if [ "$exported" != "$declared" ]; then
	echo "exported and declared functions differ:"
	echo "$exported" > "$dest/e"; echo "$declared" > "$dest/d"
	diff "$dest/e" "$dest/d" || true
	exit 1
fi
has() { grep -qx "$1" "$dest/syms"; }
v01=$(grep -v '^#' "$src/tests/install/abi-0.1.txt")
for f in $declared; do
	if echo "$v01" | grep -qx "$f"; then
		has "$f@@ISM_0.1" || { has "$f@@ISM_0.2" && has "$f@ISM_0.1"; } ||
			{ echo "$f: neither @@ISM_0.1 nor @@ISM_0.2 with @ISM_0.1"; exit 1; }
	else
		has "$f@@ISM_0.2" || { echo "$f is new: not @@ISM_0.2"; exit 1; }
	fi
done
for f in $v01; do
	has "$f@@ISM_0.1" || has "$f@ISM_0.1" ||
		{ echo "$f@ISM_0.1 is gone: 0.1 binaries break"; exit 1; }
done
for s in ism_conn_open@@ISM_0.1 ism_admin_destroy@@ISM_0.1 \
	ism_chan_shutdown@@ISM_0.2 ism_chan_close@@ISM_0.2 ism_chan_close@ISM_0.1 \
	ism_chan_free@ISM_0.1 ism_ring_tx_shutdown@@ISM_0.2 \
	ism_ring_tx_close@@ISM_0.2 ism_ring_tx_close@ISM_0.1 \
	ism_ring_tx_free@ISM_0.1 ism_ring_rx_close@@ISM_0.2 \
	ism_ring_rx_free@ISM_0.1 ism_admin_status@@ISM_0.2 ism_status@ISM_0.1 \
	ism_admin_list_peers@@ISM_0.2 ism_list_peers@ISM_0.1 \
	ism_admin_list_regions@@ISM_0.2 ism_list_regions@ISM_0.1 \
	ism_admin_list_refs@@ISM_0.2 ism_list_refs@ISM_0.1 \
	ism_admin_list_streams@@ISM_0.2 ism_list_streams@ISM_0.1 \
	ism_admin_watch@@ISM_0.2 ism_watch@ISM_0.1 \
	ism_conn_next_event@@ISM_0.2 ism_conn_next_event@ISM_0.1 \
	ism_conn_wait_event@@ISM_0.2 ism_conn_wait_event@ISM_0.1 \
	ism_region_info@@ISM_0.2 ism_region_info@ISM_0.1 \
	ism_ivshmem_list@@ISM_0.2 ism_ivshmem_list@ISM_0.1 \
	ism_ivshmem_peers@@ISM_0.2 ism_ivshmem_peers@ISM_0.1 \
	ism_ivshmem_layout@@ISM_0.2 ism_ivshmem_layout@ISM_0.1; do
	has "$s" || { echo "$s is not exported"; exit 1; }
done

# An old binary: bound to the 0.1 versions (as a program built against
# 0.1 is), a channel's close half-closes and free frees; a ring's too.
cat > "$dest/old.c" <<'PROG'
#include <ism.h>
#include <errno.h>
int v01_chan_close(struct ism_chan *ch);
void v01_chan_free(struct ism_chan *ch);
int v01_ring_tx_close(struct ism_ring_tx *tx);
void v01_ring_tx_free(struct ism_ring_tx *tx);
void v01_ring_rx_free(struct ism_ring_rx *rx);
__asm__(".symver v01_chan_close,ism_chan_close@ISM_0.1");
__asm__(".symver v01_chan_free,ism_chan_free@ISM_0.1");
__asm__(".symver v01_ring_tx_close,ism_ring_tx_close@ISM_0.1");
__asm__(".symver v01_ring_tx_free,ism_ring_tx_free@ISM_0.1");
__asm__(".symver v01_ring_rx_free,ism_ring_rx_free@ISM_0.1");
int main(void)
{
	struct ism_chan_opts o = { .size = sizeof(o), .ring_size = 4096,
				   .spin_us = ISM_CHAN_NO_SPIN };
	struct ism_chan *a, *b;
	struct ism_ring_tx *tx;
	struct ism_ring_rx *rx;
	int fa[2], fb[2];
	char buf[8];
	static _Alignas(64) unsigned char prod[8192], cons[ISM_RING_CONS_AREA];

	if (ism_chan_local_create(&o, &a) || ism_chan_local_create(&o, &b) ||
	    ism_chan_local_export(a, fa) || ism_chan_local_export(b, fb) ||
	    ism_chan_local_connect(a, fb[0], fb[1]) ||
	    ism_chan_local_connect(b, fa[0], fa[1]))
		return 1;
	if (ism_chan_send(a, "x", 1, 0) || v01_chan_close(a) != 0)
		return 2;
	/* Half-closed, not freed: a still answers, b reads, then the end. */
	if (ism_chan_send(a, "y", 1, 0) != -EPIPE ||
	    ism_chan_recv(b, buf, sizeof(buf), 0) != 1 ||
	    ism_chan_recv(b, buf, sizeof(buf), ISM_F_DONTWAIT) != -ESHUTDOWN)
		return 3;
	v01_chan_free(a);
	v01_chan_free(b);
	if (ism_ring_tx_init(prod, sizeof(prod), 4096, cons, sizeof(cons),
			     &tx) ||
	    ism_ring_rx_init(prod, sizeof(prod), cons, sizeof(cons), &rx))
		return 4;
	v01_ring_tx_close(tx);
	if (ism_ring_recv(rx, buf, sizeof(buf)) != -EPIPE)
		return 5;
	v01_ring_tx_free(tx);
	v01_ring_rx_free(rx);
	return 0;
}
PROG
cc -std=c11 -Wall -Werror $(pkg-config --cflags ism) "$dest/old.c" \
	-o "$dest/old" $(pkg-config --libs ism)
for s in ism_chan_close@ISM_0.1 ism_chan_free@ISM_0.1 \
	ism_ring_tx_close@ISM_0.1; do
	nm -D "$dest/old" | grep -q "$s\$" ||
		{ echo "old: not bound to $s"; exit 1; }
done
LD_LIBRARY_PATH="$libdir" "$dest/old" ||
	{ echo "a 0.1 binary's close/free misbehave (exit $?)"; exit 1; }
echo "install: headers, man pages, pkg-config (shared and static), exports and 0.1 compat OK"
