#!/usr/bin/env python3
"""Print one line "N passed, N failed, N skipped" over meson test logs and
the fuzz smoke results, and exit 1 if anything failed.

Usage: test-summary.py TESTLOG.json... [--fuzz RESULTS.txt...]
                       [--checks RESULTS.txt...]

Counting is per test case: a cmocka program contributes its cases (from
its "[  PASSED  ]", "[  FAILED  ]" and "[  SKIPPED ]" lines), any other
test program one case.  A program that meson saw fail is counted failed
even if its cases all passed (a crash after them, or an ismd that ended
badly).  Other programs may report cases they skipped with lines
"SKIPPED: <why>" (or pytest's "N skipped"): each is a skipped case.
A fuzz results file has one "<target> OK|FAIL" line per target;
a checks file one "<check> OK|FAIL [why]" line per check (formatting,
leftover processes and files).
A skip is never a pass; a timeout or error is a failure.
"""
import json
import re
import sys

passed = failed = skipped = 0
failures = []
skips = []
groups = {None: [], "--fuzz": [], "--checks": []}
key = None
for a in sys.argv[1:]:
    if a in groups:
        key = a
    else:
        groups[key].append(a)
args, fuzz, checks = groups[None], groups["--fuzz"], groups["--checks"]

CASES = {
    "passed": re.compile(r"^\[  PASSED  \] (\d+) test"),
    "failed": re.compile(r"^\[  FAILED  \] (\d+) test"),
    "skipped": re.compile(r"^\[  SKIPPED \] (\d+) test"),
}
SKIPPED_NAME = re.compile(r"^\[  SKIPPED \] (\w+)$")
# A case skipped inside a test that is not cmocka's, and pytest's total.
SKIPPED_CASE = re.compile(r"^(?:\S+: )?SKIPPED: (.+)$")
PYTEST_SKIPPED = re.compile(r"^=*\s*\d+ passed, (\d+) skipped")


def cases(out):
    """cmocka's totals from a test's output, or None."""
    if "[==========]" not in out:
        return None
    n = {k: 0 for k in CASES}
    for line in out.splitlines():
        for k, rx in CASES.items():
            m = rx.match(line)
            if m:
                n[k] = int(m.group(1))
    return n


for path in args:
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        print(f"test-summary: {path}: {e}", file=sys.stderr)
        failed += 1
        failures.append(path)
        continue
    build = path.split("/")[0]
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        res = t.get("result")
        name = f"{build}: {t.get('name')}"
        out = (t.get("stdout") or "") + (t.get("stderr") or "")
        c = cases(out)
        if res == "SKIP":
            skipped += 1
            skips.append(name)
            continue
        if c is None:
            for l in out.splitlines():
                m = SKIPPED_CASE.match(l)
                if m:
                    skipped += 1
                    skips.append(f"{name}: {m.group(1)}")
                m = PYTEST_SKIPPED.match(l)
                if m:
                    skipped += int(m.group(1))
                    skips.append(f"{name}: {m.group(1)} pytest case(s)")
            if res in ("OK", "EXPECTEDFAIL"):
                passed += 1
            else:
                failed += 1
                failures.append(f"{name} ({res})")
            continue
        passed += c["passed"]
        skipped += c["skipped"]
        failed += c["failed"]
        for l in out.splitlines():
            m = SKIPPED_NAME.match(l)
            if m:
                skips.append(f"{name}: {m.group(1)}")
        if c["failed"]:
            failures.append(f"{name} ({c['failed']} case(s) failed)")
        elif res not in ("OK", "EXPECTEDFAIL"):
            failed += 1
            failures.append(f"{name} ({res} after its cases)")

for path in fuzz:
    try:
        for line in open(path).read().splitlines():
            name, _, res = line.partition(" ")
            if res == "OK":
                passed += 1
            else:
                failed += 1
                failures.append(f"fuzz {name} ({res})")
    except OSError as e:
        print(f"test-summary: {path}: {e}", file=sys.stderr)
        failed += 1

for path in checks:
    try:
        for line in open(path).read().splitlines():
            name, _, res = line.partition(" ")
            if res == "OK":
                passed += 1
            else:
                failed += 1
                failures.append(f"{name} ({res})")
    except OSError as e:
        print(f"test-summary: {path}: {e}", file=sys.stderr)
        failed += 1

for s in skips:
    print(f"skipped: {s}")
for f in failures:
    print(f"FAILED: {f}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
