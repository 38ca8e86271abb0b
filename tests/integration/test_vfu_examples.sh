#!/bin/sh
# The vfio-user examples: ism-vfu-sample serves, ism-vfu-lspci looks at it
# (text and JSON), the exit codes of both, and SIGTERM removes the
# socket.
#   test_vfu_examples.sh ISM_VFU_SAMPLE ISM_VFU_LSPCI
set -u
sample=$1 lspci=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/vfu-ex.XXXXXX") || exit 1
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "vfu-examples: $*"; exit 1; }

"$sample" --socket-path="$dir/s.sock" 2>"$dir/log" &
pid=$!
i=0
while [ ! -S "$dir/s.sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
[ -S "$dir/s.sock" ] || fail "the sample did not listen"

"$lspci" "$dir/s.sock" > "$dir/out" || fail "lspci failed ($?)"
grep -q "^1234:5a3b" "$dir/out" || fail "no IDs: $(cat "$dir/out")"
grep -q "capability 0x11 at 0x40: MSI-X" "$dir/out" || fail "no MSI-X"
grep -q "region 0 (BAR0): 4096 bytes, read write mmap" "$dir/out" ||
	fail "BAR0 not mappable"
grep -q "irq 2 (MSI-X): 2 vectors" "$dir/out" || fail "no MSI-X vectors"
"$lspci" --json "$dir/s.sock" > "$dir/json" || fail "lspci --json failed"
case $(cat "$dir/json") in
"{\"version\": \"0.0\""*"]}") ;;
*) fail "not one JSON object: $(cat "$dir/json")" ;;
esac
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' \
		"$dir/json" || fail "bad JSON"
fi

# Exit codes: nobody there 3, usage 2.
"$lspci" "$dir/none.sock" 2>/dev/null
[ $? -eq 3 ] || fail "lspci: nobody there should exit 3"
"$lspci" 2>/dev/null
[ $? -eq 2 ] || fail "lspci: no argument should exit 2"
"$sample" 2>/dev/null
[ $? -eq 2 ] || fail "sample: no argument should exit 2"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ $rc -eq 0 ] || fail "the sample exited $rc on SIGTERM"
[ -e "$dir/s.sock" ] && fail "the sample left its socket"
echo "vfu-examples: OK"
exit 0
