#!/bin/sh
# Run every fuzz target for a few seconds on its committed corpus.
#   scripts/fuzz-smoke.sh BUILD_DIR SECONDS RESULTS
# Writes "<target> OK|FAIL" lines to RESULTS; crashes land in BUILD_DIR.
set -u
build=$1 secs=$2 out=$3
: > "$out"
# The targets are what the build made (each module lists its own).
if [ ! -s "$build/fuzz/targets.txt" ]; then
	echo "fuzz: no $build/fuzz/targets.txt (configured with -Dfuzz=true?)"
	echo "targets FAIL" >> "$out"
	exit 1
fi
for t in $(cat "$build/fuzz/targets.txt"); do
	bin="$build/fuzz/fuzz-$t"
	work="$build/fuzz-work/$t"
	mkdir -p "$work"
	if "$bin" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-work/$t-" \
		"$work" "fuzz/corpus/$t" > "$build/fuzz-work/$t.log" 2>&1; then
		echo "$t OK" >> "$out"
		echo "fuzz $t: OK ($(grep -m1 'stat::number_of_executed_units' "$build/fuzz-work/$t.log" | awk '{print $2}') runs in ${secs}s)"
	else
		echo "$t FAIL" >> "$out"
		echo "fuzz $t: FAILED; see $build/fuzz-work/$t.log"
		tail -30 "$build/fuzz-work/$t.log"
	fi
done
