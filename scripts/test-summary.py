#!/usr/bin/env python3
"""Print one line "N passed, N failed, N skipped" over meson test logs and
the fuzz smoke results, and exit 1 if anything failed.

Usage: test-summary.py TESTLOG.json... [--fuzz RESULTS.txt]
A fuzz results file has one line per target: "<name> OK|FAIL".
A skip is never a pass; a timeout or error is a failure.
"""
import json
import sys

passed = failed = skipped = 0
failures = []
args = sys.argv[1:]
fuzz = []
if "--fuzz" in args:
    i = args.index("--fuzz")
    fuzz = args[i + 1:]
    args = args[:i]

for path in args:
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        print(f"test-summary: {path}: {e}", file=sys.stderr)
        failed += 1
        failures.append(path)
        continue
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        res = t.get("result")
        name = f"{path.split('/')[0]}:{t.get('name')}"
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
        else:
            failed += 1
            failures.append(f"{name} ({res})")

for path in fuzz:
    try:
        for line in open(path).read().splitlines():
            name, _, res = line.partition(" ")
            if res == "OK":
                passed += 1
            else:
                failed += 1
                failures.append(f"fuzz:{name} ({res})")
    except OSError as e:
        print(f"test-summary: {path}: {e}", file=sys.stderr)
        failed += 1

for f in failures:
    print(f"FAILED: {f}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
