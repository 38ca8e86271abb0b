#!/bin/sh
# The examples run as documented: ism-chan-echo without ismd (--local) and
# through a private ismd; ism-stream-echo and ism-cat over shared memory,
# over TCP, and against each other.
# Usage: test_examples.sh ISMD ISM-CHAN-ECHO ISM-STREAM-ECHO ISM-CAT
#
# Every step that fails says which and shows what the programs printed: no
# `set -e`, whose silent stops hid a race here once.
set -u
ismd=$1
echo_=$2
secho=$3
cat_=$4
dir=$(mktemp -d)
pid=
spid=
step=start
# The refusals below must not find a real ismd through the environment.
unset ISM_SOCKET XDG_RUNTIME_DIR

stop() { # stop PID: TERM, then KILL after 5 s; always reaped
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	stop "$spid"
	stop "$pid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'echo "examples: interrupted during: $step"; exit 1' INT TERM
fail() {
	echo "examples: FAILED: $step: $*"
	for f in "$dir"/*.out "$dir"/*.err "$dir"/*.log; do
		[ -s "$f" ] || continue
		echo "--- $(basename "$f"):"
		tail -20 "$f"
	done
	exit 1
}
# wait_for FILE PATTERN: until the file has the line (10 s at most).
wait_for() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "no '$2' in $(basename "$1") after 10 s"
}
# A free TCP port: ask the kernel by listening on 0.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

step="ism-chan-echo --local"
"$echo_" --local --count 20000 --max-size 4096 >"$dir/local.out" 2>&1 ||
	fail "exit status $?"
grep -q "^20000 echoes over local memfds, .* all intact" "$dir/local.out" ||
	fail "no 'all intact' line"
cat "$dir/local.out"

step="start ismd"
"$ismd" --socket "$dir/ism.sock" --state-dir "$dir/state" \
	--log-level warn 2>"$dir/ismd.log" &
pid=$!
for _ in $(seq 200); do
	[ -S "$dir/ism.sock" ] && break
	kill -0 "$pid" 2>/dev/null || fail "ismd exited"
	sleep 0.05
done
[ -S "$dir/ism.sock" ] || fail "no socket after 10 s"

step="ism-chan-echo through ismd"
"$echo_" --socket "$dir/ism.sock" --count 20000 >"$dir/ismd.out" 2>&1 ||
	fail "exit status $?"
grep -q "^20000 echoes over ismd, .* all intact" "$dir/ismd.out" ||
	fail "no 'all intact' line"
cat "$dir/ismd.out"

# Streams: the echo server, a client over shared memory and one on TCP.
step="ism-stream-echo server"
port=$(free_port) || fail "no free port"
"$secho" -s "$dir/ism.sock" server "$port" >"$dir/secho.out" 2>&1 &
spid=$!
wait_for "$dir/secho.out" "^echoing on port"

step="ism-stream-echo client over shared memory"
"$secho" -s "$dir/ism.sock" client 127.0.0.1 "$port" 3000 4096 \
	>"$dir/sc.out" 2>&1 || fail "exit status $?"
grep -q "^3000 echoes of 1..4096 bytes over shared memory, all intact" \
	"$dir/sc.out" || fail "not over shared memory, or not intact"
cat "$dir/sc.out"

step="ism-stream-echo client over tcp"
"$secho" -t client 127.0.0.1 "$port" 500 >"$dir/tc.out" 2>&1 ||
	fail "exit status $?"
grep -q "^500 echoes of 1..4096 bytes over tcp (disabled), all intact" \
	"$dir/tc.out" || fail "not over tcp, or not intact"
cat "$dir/tc.out"

step="ism-stream-echo server reports its connections"
# The server logs a connection's end after the client's close reaches it:
# wait for that line rather than racing the client's exit.
wait_for "$dir/secho.out" "^connection over shared memory: closed"
stop "$spid"
spid=

# ism-cat both ways at once, then against a plain-TCP ism-cat.
head -c 3000000 /dev/urandom >"$dir/a"
head -c 2000000 /dev/urandom >"$dir/b"
for mode in "" "-t"; do
	step="ism-cat ${mode:-over shared memory}${mode:+(listener tcp only)}"
	port=$(free_port) || fail "no free port"
	rm -f "$dir/l.err" "$dir/c.err"
	"$cat_" -v -s "$dir/ism.sock" $mode -l 127.0.0.1 "$port" <"$dir/b" \
		>"$dir/got-a" 2>"$dir/l.err" &
	spid=$!
	wait_for "$dir/l.err" "listening on port $port"
	"$cat_" -v -s "$dir/ism.sock" 127.0.0.1 "$port" <"$dir/a" \
		>"$dir/got-b" 2>"$dir/c.err" || fail "client: exit status $?"
	wait "$spid"
	st=$?
	spid=
	[ "$st" -eq 0 ] || fail "listener: exit status $st"
	cmp "$dir/a" "$dir/got-a" || fail "listener got other bytes"
	cmp "$dir/b" "$dir/got-b" || fail "client got other bytes"
	cat "$dir/c.err"
	if [ -z "$mode" ]; then
		want="connected over shared memory"
	else
		want="connected over tcp (peer not ism)"
	fi
	grep -q "$want" "$dir/c.err" || fail "no '$want'"
done

# Refusals are one line and a non-zero status.
step="ism-chan-echo --count nope"
"$echo_" --count nope 2>"$dir/refusal.err" && fail "exit status 0"
[ "$(wc -l <"$dir/refusal.err")" -eq 1 ] || fail "not one line"
step="ism-chan-echo without ismd"
"$echo_" --socket "$dir/none.sock" 2>"$dir/refusal.err" &&
	fail "exit status 0"
grep -q "cannot reach ismd" "$dir/refusal.err" || fail "no 'cannot reach ismd'"
step="ism-cat without arguments"
"$cat_" 2>"$dir/refusal.err" && fail "exit status 0"
[ "$(wc -l <"$dir/refusal.err")" -eq 1 ] || fail "not one line"
step="ism-cat to a closed port"
"$cat_" -s "$dir/none.sock" 127.0.0.1 1 2>"$dir/refusal.err" &&
	fail "exit status 0"
grep -q "^ism-cat: connect: Connection refused" "$dir/refusal.err" ||
	fail "no 'connect: Connection refused'"
echo "examples: ok"
