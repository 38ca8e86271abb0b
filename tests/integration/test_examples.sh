#!/bin/sh
# The examples run as documented: ism-chan-echo without ismd (--local) and
# through a private ismd; ism-stream-echo and ism-cat over shared memory,
# over TCP, and against each other.
# Usage: test_examples.sh ISMD ISM-CHAN-ECHO ISM-STREAM-ECHO ISM-CAT
set -eu
ismd=$1
echo_=$2
secho=$3
cat_=$4
dir=$(mktemp -d)
pid=
spid=
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
# A free TCP port: ask the kernel by listening on 0.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
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

# Streams: the echo server, a client over shared memory and one on TCP.
port=$(free_port)
"$secho" -s "$dir/ism.sock" server "$port" >"$dir/secho.out" &
spid=$!
for _ in $(seq 100); do
	grep -q "^echoing on port" "$dir/secho.out" 2>/dev/null && break
	sleep 0.05
done
"$secho" -s "$dir/ism.sock" client 127.0.0.1 "$port" 3000 4096 | tee "$dir/sc.out"
grep -q "^3000 echoes of 1..4096 bytes over shared memory, all intact" "$dir/sc.out"
"$secho" -t client 127.0.0.1 "$port" 500 | tee "$dir/tc.out"
grep -q "^500 echoes of 1..4096 bytes over tcp (disabled), all intact" "$dir/tc.out"
kill "$spid"; wait "$spid" 2>/dev/null || true; spid=
grep -q "^connection over shared memory: closed" "$dir/secho.out"

# ism-cat both ways at once, then against a plain-TCP ism-cat.
head -c 3000000 /dev/urandom >"$dir/a"
head -c 2000000 /dev/urandom >"$dir/b"
for mode in "" "-t"; do
	port=$(free_port)
	"$cat_" -v -s "$dir/ism.sock" $mode -l 127.0.0.1 "$port" <"$dir/b" \
		>"$dir/got-a" 2>"$dir/l.err" &
	spid=$!
	for _ in $(seq 100); do
		grep -q "listening on port $port" "$dir/l.err" && break
		sleep 0.05
	done
	"$cat_" -v -s "$dir/ism.sock" 127.0.0.1 "$port" <"$dir/a" \
		>"$dir/got-b" 2>"$dir/c.err"
	wait "$spid"; spid=
	cmp "$dir/a" "$dir/got-a"
	cmp "$dir/b" "$dir/got-b"
	cat "$dir/c.err"
	if [ -z "$mode" ]; then
		grep -q "connected over shared memory" "$dir/c.err"
	else
		grep -q "connected over tcp (peer not ism)" "$dir/c.err"
	fi
done

# Refusals are one line and a non-zero status.
if "$echo_" --count nope 2>"$dir/err"; then exit 1; fi
[ "$(wc -l <"$dir/err")" -eq 1 ]
if "$echo_" --socket "$dir/none.sock" 2>"$dir/err"; then exit 1; fi
grep -q "cannot reach ismd" "$dir/err"
if "$cat_" 2>"$dir/err"; then exit 1; fi
[ "$(wc -l <"$dir/err")" -eq 1 ]
if "$cat_" 127.0.0.1 1 2>"$dir/err"; then exit 1; fi
grep -q "^ism-cat: connect: Connection refused" "$dir/err"
echo "examples: ok"
