# ism: a thin wrapper over meson.  `make help` lists the targets.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_SECONDS ?= 600
PREFIX     ?= /usr/local
MESON_OPTS ?=

.PHONY: all build run run-regions check test bench fuzz fuzz-corpus lint install clean help

all: build

help:
	@echo "make            build (installs Debian packages it needs as root)"
	@echo "make run        start a private ismd; a stream between two processes"
	@echo "                over ism and over TCP, compared in a table"
	@echo "make run-regions the region walkthrough (alloc, attach, notify, revoke)"
	@echo "make check      every test: build with -Werror, ASan+UBSan build,"
	@echo "                fuzz smoke runs; ends with 'N passed, N failed, N skipped'"
	@echo "make bench      ism-bench control, channel and stream (see bench/)"
	@echo "make fuzz       run every fuzz target for FUZZ_SECONDS each"
	@echo "make lint       clang-tidy, cppcheck, scan-build"
	@echo "make install    install (PREFIX, DESTDIR honoured)"

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

check test:
	@scripts/deps.sh check
	$(MAKE) build
	meson test -C $(BUILD) --print-errorlogs || true
	$(MAKE) $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --timeout-multiplier 3 || true
	$(MAKE) $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	scripts/fuzz-smoke.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_BUILD)/fuzz-results.txt
	@scripts/test-summary.py $(BUILD)/meson-logs/testlog.json \
		$(ASAN_BUILD)/meson-logs/testlog.json \
		--fuzz $(FUZZ_BUILD)/fuzz-results.txt

bench: build
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench control
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench channel
	ISMD=$(BUILD)/ismd/ismd $(BUILD)/bench/ism-bench stream

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

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
