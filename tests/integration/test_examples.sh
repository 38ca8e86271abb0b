#!/bin/sh
# The examples run as documented: ism-chan-echo without ismd (--local) and
# through a private ismd.  Usage: test_examples.sh ISMD ISM-CHAN-ECHO
set -eu
ismd=$1
echo_=$2
dir=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$echo_" --local --count 20000 --max-size 4096 | tee "$dir/local.out"
grep -q "^20000 echoes over local memfds, .* all intact" "$dir/local.out"

"$ismd" --socket "$dir/ism.sock" --state-dir "$dir/state" \
	--log-level warn 2>"$dir/ismd.log" &
pid=$!
for _ in $(seq 100); do
	[ -S "$dir/ism.sock" ] && break
	sleep 0.05
done
"$echo_" --socket "$dir/ism.sock" --count 20000 | tee "$dir/ismd.out"
grep -q "^20000 echoes over ismd, .* all intact" "$dir/ismd.out"

# Refusals are one line and a non-zero status.
if "$echo_" --count nope 2>"$dir/err"; then exit 1; fi
[ "$(wc -l <"$dir/err")" -eq 1 ]
if "$echo_" --socket "$dir/none.sock" 2>"$dir/err"; then exit 1; fi
grep -q "cannot reach ismd" "$dir/err"
echo "examples: ok"
