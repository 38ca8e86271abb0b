#!/bin/sh
# Make sure the Debian packages a goal needs are installed.
#   scripts/deps.sh build|check|lint
# As root: installs what is missing with apt-get.  Otherwise: prints the
# exact command to run and exits 1.
set -eu

goal=${1:-build}
pkgs="make meson ninja-build pkgconf gcc libc6-dev libcmocka-dev libjson-c-dev python3"
case "$goal" in
build) ;;
check) pkgs="$pkgs clang libclang-rt-14-dev clang-format" ;;
lint) pkgs="$pkgs clang clang-tidy cppcheck clang-tools clang-format" ;;
*) echo "usage: $0 build|check|lint" >&2; exit 2 ;;
esac

# Optional for check: QEMU for the ivshmem test, which skips (visibly)
# without it.  Installed when we can; never a reason to stop.
if [ "$goal" = check ] &&
	! dpkg-query -W -f='${Status}' qemu-system-x86 2>/dev/null | grep -q "ok installed"; then
	if [ "$(id -u)" -eq 0 ]; then
		echo "ism: installing qemu-system-x86 (for the ivshmem test)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends qemu-system-x86 >/dev/null 2>&1 ||
			{ DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends qemu-system-x86 >/dev/null 2>&1; } ||
			echo "ism: qemu-system-x86 could not be installed: the QEMU test will skip" >&2
	else
		echo "ism: qemu-system-x86 missing: the QEMU test will skip (sudo apt-get install -y qemu-system-x86)" >&2
	fi
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
