# ism: a thin wrapper over meson.  `make help` lists the targets.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SECONDS ?= 600
PREFIX     ?= /usr/local
MESON_OPTS ?=

CLANG_BUILD   ?= build-clang
RELEASE_BUILD ?= build-release
CHECKS        ?= $(BUILD)/checks.txt
SOURCES        = find include lib ismd ismctl examples bench fuzz tests guest python preload pci -name '*.[ch]'

.PHONY: all build run run-regions check test quick format format-check \
	pre-push bench bench-report bench-python fuzz fuzz-corpus lint install deb clean help

all: build

help:
	@echo "make            build (installs Debian packages it needs as root)"
	@echo "make run        start a private ismd; a stream between two processes"
	@echo "                over ism and over TCP, compared in a table"
	@echo "make run-regions the region walkthrough (alloc, attach, notify, revoke)"
	@echo "make check      every test: build with -Werror, ASan+UBSan build,"
	@echo "                fuzz smoke runs, format check, no leftovers;"
	@echo "                ends with 'N passed, N failed, N skipped'"
	@echo "make quick      build and unit tests (seconds)"
	@echo "make format     clang-format every source; format-check: only say"
	@echo "make pre-push   clang and release builds, quick tests, make lint"
	@echo "make bench      ism-bench control, channel, stream and connect, real servers"
	@echo "                under ism-run vs TCP (bench/apps.py), and a guest"
	@echo "                over ivshmem vs virtio-net (bench/vm.py)"
	@echo "make bench-report  the message-size sweep as an HTML page (REPORT=dir)"
	@echo "make bench-python  the Python binding against socketpair and bytes()"
	@echo "make fuzz       run every fuzz target for FUZZ_SECONDS each"
	@echo "make lint       clang-tidy, cppcheck, scan-build"
	@echo "make install    install (PREFIX, DESTDIR honoured)"
	@echo "make deb        Debian packages into $(BUILD)/deb (lintian-checked)"

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	meson setup $(BUILD) --werror --prefix=$(PREFIX) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	@scripts/deps.sh build
	ninja -C $(BUILD)

run: build
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/examples/ism-stream-demo

run-regions: build
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/examples/ism-demo

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --werror -Dbuildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all $(MESON_OPTS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=false \
		-Dbench=false -Dismctl=disabled -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all

# Every test, then one summary line.  Each test run is wrapped so that a
# process or temporary file it leaves behind fails the check.
check test:
	@scripts/deps.sh check
	$(MAKE) build
	@: > $(CHECKS)
	-scripts/no-leftovers.py leftovers:$(BUILD) $(CHECKS) -- \
		meson test -C $(BUILD) --print-errorlogs
	$(MAKE) $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	-ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		scripts/no-leftovers.py leftovers:$(ASAN_BUILD) $(CHECKS) -- \
		meson test -C $(ASAN_BUILD) --print-errorlogs --timeout-multiplier 3
	$(MAKE) $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	scripts/fuzz-smoke.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD)/fuzz-results.txt
	@if $(MAKE) --no-print-directory format-check; then \
		echo "format OK" >> $(CHECKS); \
	else echo "format FAIL (make format fixes it)" >> $(CHECKS); fi
	@scripts/test-summary.py $(BUILD)/meson-logs/testlog.json \
		$(ASAN_BUILD)/meson-logs/testlog.json \
		--fuzz $(FUZZ_BUILD)/fuzz-results.txt --checks $(CHECKS)

# Build and the unit tests only: the loop while editing.
quick: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

format:
	@scripts/deps.sh check
	$(SOURCES) | xargs clang-format -i

format-check:
	@scripts/deps.sh check
	@$(SOURCES) | xargs clang-format --dry-run --Werror

# Before sharing: what the other compiler and optimisation level say.
$(CLANG_BUILD)/build.ninja:
	CC=clang meson setup $(CLANG_BUILD) --werror $(MESON_OPTS)

$(RELEASE_BUILD)/build.ninja:
	meson setup $(RELEASE_BUILD) --werror -Dbuildtype=release $(MESON_OPTS)

pre-push: quick $(CLANG_BUILD)/build.ninja $(RELEASE_BUILD)/build.ninja
	ninja -C $(CLANG_BUILD)
	ninja -C $(RELEASE_BUILD)
	meson test -C $(RELEASE_BUILD) --suite unit --print-errorlogs
	$(MAKE) format-check
	$(MAKE) lint

bench: build
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench control
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench channel
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench stream
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench connect
	ISMD=$(BUILD)/ismd/ismd bench/apps.py $(BUILD)
	bench/vm.py $(BUILD)

# The sweep (64 B to 1 MiB, ism against AF_UNIX and TCP, the machine's
# limits) as an HTML page with its JSON: $(REPORT)/index.html.
REPORT ?= $(BUILD)/bench-report
bench-report: build
	$(BUILD)/bench/ism-bench sweep --report $(REPORT)

# Python: channel round trips against socket.socketpair, a 64 MiB region
# through a memoryview against bytes() copies.
PYTHON ?= python3
bench-python: build
	ISMD=$(BUILD)/ismd/ismd PYTHONPATH=$(BUILD)/python \
		$(PYTHON) python/bench/bench_py.py

fuzz:
	@scripts/deps.sh check
	$(MAKE) $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	scripts/fuzz-smoke.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_BUILD)/fuzz-results.txt

fuzz-corpus:
	$(MAKE) $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) fuzz/gen-corpus
	$(FUZZ_BUILD)/fuzz/gen-corpus fuzz/corpus

lint: build
	@scripts/deps.sh lint
	scripts/lint.sh $(BUILD)

install: build
	DESTDIR=$(DESTDIR) meson install -C $(BUILD)

# Built from a copy in $(BUILD)/deb/src: the tree stays clean.
deb:
	@scripts/deps.sh deb
	scripts/deb.sh $(BUILD)/deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(CLANG_BUILD) $(RELEASE_BUILD)
