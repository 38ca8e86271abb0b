#!/bin/sh
# Make sure the Debian packages a goal needs are installed.
#   scripts/deps.sh build|check|lint|deb
# As root: installs what is missing with apt-get.  Otherwise: prints the
# exact command to run and exits 1.
set -eu

goal=${1:-build}
pkgs="make meson ninja-build pkgconf gcc libc6-dev libcmocka-dev libjson-c-dev python3"
case "$goal" in
build) ;;
check) pkgs="$pkgs clang libclang-rt-14-dev clang-format" ;;
lint) pkgs="$pkgs clang clang-tidy cppcheck clang-tools clang-format" ;;
deb) pkgs="$pkgs dpkg-dev debhelper fakeroot lintian systemd dh-python python3-dev" ;;
*) echo "usage: $0 build|check|lint|deb" >&2; exit 2 ;;
esac

# Optional packages: tests that need them skip (visibly) without them.
# Installed when we can (as root); never a reason to stop.
#   optional WHAT PKG...
optional() {
	what=$1
	shift
	opt=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "ok installed" || opt="$opt $p"
	done
	[ -z "$opt" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "ism:$opt missing: $what will skip (sudo apt-get install -y$opt)" >&2
		return 0
	fi
	echo "ism: installing$opt (for $what)"
	export DEBIAN_FRONTEND=noninteractive
	# Packages with a daemon (redis-server, nginx) start it on install
	# unless policy-rc.d says no: the tests run private instances only,
	# and leave no service behind.
	norc=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d &&
			chmod 755 /usr/sbin/policy-rc.d && norc=1
	fi
	apt-get install -y -q --no-install-recommends $opt >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
		  apt-get install -y -q --no-install-recommends $opt >/dev/null 2>&1; } ||
		echo "ism: could not install$opt: $what will skip" >&2
	[ -z "$norc" ] || rm -f /usr/sbin/policy-rc.d
}

if [ "$goal" = check ]; then
	optional "the QEMU tests" qemu-system-x86
	optional "the packaging tests" dpkg-dev debhelper fakeroot lintian \
		systemd systemd-container iproute2 dh-python python3-dev
	optional "the Python binding's tests" python3-dev python3-pytest \
		python3-numpy
	optional "the bench report's rendering test" chromium
	optional "the preload test's real programs" socat curl redis-server \
		redis-tools nginx-light wrk iperf3 iproute2 nftables
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "ism: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may have no package lists yet.
	if ! apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; then
		apt-get update -q >/dev/null
		apt-get install -y -q --no-install-recommends $missing >/dev/null
	fi
	exit 0
fi
echo "ism: missing Debian packages:$missing" >&2
echo "ism: run: sudo apt-get install -y$missing" >&2
exit 1
