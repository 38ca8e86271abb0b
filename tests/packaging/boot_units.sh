#!/bin/sh
# SPDX-License-Identifier: MIT
# Boot systemd as PID 1 in a throw-away container (systemd-nspawn over
# the host's /usr, a tmpfs root, a private network) with the units as
# shipped, and check that the directives are in force on ismd and that
# ismd works under them: socket activation as user ism (sysusers.d), its
# state directory; seccomp, no_new_privs, no capabilities, the mount
# namespace (ProtectSystem=strict, ProtectHome, PrivateTmp), the
# open-files limit; regions, channels, huge pages, the admin listings, a
# stream between two peers over shared memory with sock_diag (AF_NETLINK);
# and Restart=on-failure keeping a peer's region across a SIGKILL of ismd.
# Usage: boot_units.sh SRCDIR BUILDDIR
set -eu
src=$1 build=$2

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to start a container"
command -v systemd-nspawn >/dev/null 2>&1 ||
	skip "systemd-nspawn not installed (apt-get install systemd-container)"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd"
[ -x "$build/ismctl/ismctl" ] || skip "ismctl not built (json-c missing)"
command -v ip >/dev/null 2>&1 || skip "no ip(8) to bring up loopback"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ism-boot.XXXXXX")
machine=ism-test-$$
cleanup() {
	rm -rf "$tmp"
	# nspawn leaves this mount-propagation directory behind.
	rm -rf "/run/systemd/nspawn/propagate/$machine"
}
trap cleanup EXIT
nspawn="systemd-nspawn -q -D / --volatile=yes --register=no --keep-unit
	--private-network --console=pipe -M $machine"
# Containers may be impossible here (no privileges for namespaces): skip.
# Past this point, a container that does not boot is a failure.
if ! out=$($nspawn /bin/true 2>&1); then
	skip "systemd-nspawn cannot start a container here: $out"
fi
mkdir -p "$tmp/units" "$tmp/sysusers" "$tmp/opt" "$tmp/out"
cp "$src/systemd/ism.socket" "$tmp/units/"
# Without SystemCallErrorNumber=, a call the filter denies kills ismd
# (SIGSYS) instead of failing with EPERM: the test cannot miss one.
# A sanitizer build's ismd: LeakSanitizer's exit-time check needs ptrace,
# which the filter rightly denies (the stop would then hang).
sed -e 's|^ExecStart=[^ ]*|ExecStart=/opt/ism/ismd|' \
	-e '/^SystemCallErrorNumber=/d' \
	-e 's|^\[Service\]$|&\nEnvironment=ASAN_OPTIONS=detect_leaks=0|' \
	"$build/systemd/ism.service" > "$tmp/units/ism.service"
cp "$src/systemd/ism.sysusers" "$tmp/sysusers/ism.conf"
cp "$build/ismd/ismd" "$build/ismctl/ismctl" \
	"$build/examples/ism-stream-echo" "$build/examples/ism-chan-echo" \
	"$tmp/opt/"

cat > "$tmp/units/ism-check.service" <<'UNIT'
[Unit]
Requires=ism.socket
After=ism.socket
[Service]
Type=oneshot
ExecStart=/bin/sh /opt/ism/check.sh
StandardOutput=append:/out/log
StandardError=inherit
ExecStopPost=/bin/systemctl poweroff --no-block
UNIT

cat > "$tmp/opt/check.sh" <<'CHECK'
set -u
export PATH=/opt/ism:$PATH ISM_SOCKET=/run/ism/ism.sock
fail() { echo "FAIL: $*"; systemctl status --no-pager ism.service;
	 echo fail > /out/result; exit 1; }
# Wait (bounded) for a condition.
waitfor() {
	i=0
	until eval "$1"; do
		i=$((i + 1)); [ $i -le 200 ] || fail "timed out: $1"
		sleep 0.1
	done
}
ip link set lo up || fail "loopback"
[ -S /run/ism/ism.sock ] || fail "ism.socket made no /run/ism/ism.sock"
stat -c '%a %G' /run/ism/ism.sock | grep -qx '660 ism' || fail "socket mode"
ismctl status > /dev/null || fail "ismctl status (socket activation)"
systemctl is-active -q ism.service || fail "ism.service not active"
pid=$(systemctl show -P MainPID ism.service)
st=/proc/$pid/status
grep -q '^Seccomp:[[:space:]]*2' $st || fail "no seccomp filter on ismd"
grep -q '^NoNewPrivs:[[:space:]]*1' $st || fail "no no_new_privs"
grep -q '^CapEff:[[:space:]]*0*$' $st || fail "ismd has capabilities"
[ "$(stat -c %U /proc/$pid)" = ism ] || fail "ismd not running as ism"
[ "$(stat -c '%U %a' /var/lib/ism)" = 'ism 700' ] || fail "state dir"
ls /var/lib/ism | grep -q . || fail "no state in /var/lib/ism"
echo "ok: activated as ism, seccomp, no_new_privs, no capabilities"
# ismd's mount namespace: the system read-only, no /home, its own /tmp.
in_ns() { nsenter -t "$pid" -m "$@" 2>/dev/null; }
mkdir -p /home/someone; : > /tmp/outside
in_ns touch /etc/probe && fail "ProtectSystem=strict: /etc is writable"
in_ns ls /home/someone && fail "ProtectHome: /home is visible"
in_ns test -e /tmp/outside && fail "PrivateTmp: /tmp is shared"
in_ns test -e /tmp || fail "no /tmp for ismd"
echo "ok: ProtectSystem=strict, ProtectHome, PrivateTmp in effect"

# A stream between two peers takes shared memory: sock_diag works.
ism-stream-echo server 7411 & srv=$!
# (The server registers its listener with ismd after listen(): a client
# that comes first takes TCP, so try until one takes shared memory.)
shm() {
	ism-stream-echo client 127.0.0.1 7411 10 64 > /tmp/echo 2>&1 &&
		grep -q 'over shared memory' /tmp/echo
}
waitfor shm
kill $srv; wait $srv 2>/dev/null
# ... with the kernel's answer (sock_diag), not only ismd's records: its
# NETLINK_SOCK_DIAG socket (protocol 4) is open (RestrictAddressFamilies).
diag=no
while read -r sk eth rest; do
	[ "$eth" = 4 ] || continue
	ino=${rest##* }
	ls -l /proc/$pid/fd | grep -q "socket:\[$ino\]" && diag=yes
done < /proc/$pid/net/netlink
[ $diag = yes ] || fail "ismd has no sock_diag socket"
echo "ok: stream over shared memory, sock_diag"

# More of ismd under the filter: channels, huge pages, populate, notify,
# the admin listings.  Any denied call would have killed it.
ism-chan-echo --socket $ISM_SOCKET --count 2000 > /tmp/chan 2>&1 ||
	{ cat /tmp/chan; fail "ism-chan-echo"; }
ismctl alloc 2M --huge --populate --no-hold > /dev/null || fail "huge alloc"
ismctl alloc 64K --populate --rw --name probe --no-hold > /dev/null ||
	fail "alloc --populate"
for c in status peers regions streams; do
	ismctl --json $c > /dev/null || fail "ismctl $c"
done
# LimitNOFILE=524288, or as much of it as this container allows (a
# manager cannot raise its own hard limit).
set -- $(grep '^Max open files' /proc/1/limits)
want=$5
[ "$want" = unlimited ] || [ "$want" -gt 524288 ] && want=524288
set -- $(grep '^Max open files' /proc/$pid/limits)
[ "$4" = "$want" ] && [ "$5" = "$want" ] ||
	fail "LimitNOFILE: ismd has $4/$5 open files, not $want"
[ "$(systemctl show -P NRestarts ism.service)" = 0 ] &&
	[ "$(systemctl show -P MainPID ism.service)" = "$pid" ] ||
	fail "ismd died under the sandbox"
echo "ok: channels, huge pages, populate, listings; LimitNOFILE"

# A peer's region survives ismd being killed and restarted by systemd.
ismctl alloc 4096 --data hello > /tmp/tok & holder=$!
waitfor "[ -s /tmp/tok ]"
tok=$(sed -n 's/^token \([0-9a-f]*\).*/\1/p' /tmp/tok)
[ -n "$tok" ] || { cat /tmp/tok; fail "no token from ismctl alloc"; }
ismctl read "$tok" 0 5 | grep -qx hello || fail "read before restart"
systemctl kill -s KILL ism.service
waitfor '[ "$(systemctl show -P NRestarts ism.service)" = 1 ]'
waitfor "systemctl is-active -q ism.service"
waitfor "[ \"\$(ismctl read $tok 0 5 2>/dev/null)\" = hello ]"
kill $holder; wait $holder
echo "ok: restarted by systemd, region kept"
# A clean stop: SIGTERM, exit 0, well before the stop timeout.
systemctl stop ism.service
[ "$(systemctl show -P Result ism.service)" = success ] ||
	fail "ismd did not stop cleanly"
echo "ok: stopped cleanly"
echo pass > /out/result
CHECK

timeout --kill-after=10 150 $nspawn --bind="$tmp/out:/out" \
	--bind-ro="$tmp/units:/etc/systemd/system" \
	--bind-ro="$tmp/sysusers:/etc/sysusers.d" \
	--bind-ro="$tmp/opt:/opt/ism" \
	-b systemd.unit=ism-check.service > "$tmp/console" 2>&1 || true
cat "$tmp/out/log" 2>/dev/null || cat "$tmp/console"
[ "$(cat "$tmp/out/result" 2>/dev/null)" = pass ]
