#!/bin/sh
# Static analysis: clang-tidy and cppcheck over the sources (using the
# build's compile_commands.json), then scan-build over a fresh build.
#   scripts/lint.sh BUILD_DIR
set -u
build=${1:-build}
status=0
srcs=$(git ls-files '*.c' | grep -v -e '_fuzz.c$' -e '^tests/' -e '^fuzz/' -e '_test.c$')

echo "== clang-tidy"
clang-tidy -p "$build" --quiet \
	-checks='-*,bugprone-*,cert-*,clang-analyzer-*,-bugprone-easily-swappable-parameters,-cert-err33-c,-bugprone-reserved-identifier,-cert-dcl37-c,-cert-dcl51-cpp,-bugprone-assignment-in-if-condition,-bugprone-narrowing-conversions,-bugprone-implicit-widening-of-multiplication-result,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-valist.Uninitialized,-cert-env33-c,-bugprone-sizeof-expression,-bugprone-not-null-terminated-result,-cert-err34-c' \
	$srcs 2>/dev/null | grep -E 'warning:|error:' && status=1

echo "== cppcheck"
cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	--inline-suppr --std=c11 -D_GNU_SOURCE -Iinclude -Ilib \
	--suppress=missingIncludeSystem $srcs || status=1

echo "== scan-build"
rm -rf "$build-scan"
scan-build --status-bugs -o "$build-scan/report" \
	sh -c "meson setup '$build-scan' -Dtests=false >/dev/null && ninja -C '$build-scan'" || status=1

[ $status -eq 0 ] && echo "lint: clean" || echo "lint: findings above"
exit $status
