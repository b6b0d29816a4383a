# The two set-up commands of README: `make demo` and `make test`, on a fresh Debian 12 machine
# as root. Both install the Debian packages that are missing, then build.
BUILD    ?= build
PACKAGES := build-essential cmake librocksdb-dev capnproto libcapnp-dev libssl-dev libfmt-dev \
            doctest-dev rocksdb-tools libsimdjson-dev libxlsxwriter-dev pkg-config
# The console's browser tests (tests/console_test.cc): Debian's chromium, headless, a CJK font
# for its screenshots, node to drive its file upload (tests/console_upload.mjs) and unzip to read
# an exported workbook. Only `make test` installs them (the variable reaches its prerequisites).
TEST_PACKAGES := chromium fonts-wqy-microhei nodejs unzip etcd-server
JOBS     := $(shell nproc 2>/dev/null || echo 2)

.PHONY: demo test bench bench-large bench-server build configure deps clean

demo: configure
	cmake --build $(BUILD) -j $(JOBS) --target ledgerctl ledgerd gen_history
	tools/demo/demo.sh $(BUILD)

test: PACKAGES += $(TEST_PACKAGES)
test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The benchmark of issue 6 (bench/ledger_bench.cc) at its default size, about a minute on 2 cores:
# prints the table and writes bench/results.json. BENCH_ARGS passes options (ledger_bench --help).
# The province-size run is bench-large, below. `openssl speed` gives a reference figure, and
# bench/pg_chain.sh the PostgreSQL hash chain of issue 15 (a throwaway cluster, removed after);
# then bench/server_bench, the server run of issue 16 (ledgerd on 127.0.0.1, bench/results-server.json):
# the openssl command and Debian's postgresql (with pgcrypto) are installed if missing.
BENCH_ARGS ?=
bench: configure
	@command -v openssl >/dev/null || $(MAKE) --no-print-directory deps PACKAGES=openssl
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || $(MAKE) --no-print-directory deps PACKAGES=postgresql
	cmake --build $(BUILD) -j $(JOBS) --target ledger_bench
	$(BUILD)/ledger_bench --dir $(BUILD)/bench-data --json bench/results.json $(BENCH_ARGS)
	cmake --build $(BUILD) -j $(JOBS) --target server_bench
	$(BUILD)/server_bench --dir $(BUILD)/bench-server --json bench/results-server.json

# The server run alone (bench/server_bench.cc, also the last part of `make bench`): events/s and
# ack latency p50/p99 for 1, 8 and 32 clients of ledgerd sending binary events in calls of 10
# and of 100, beside the embedded append of the same events. About a minute.
bench-server: configure
	cmake --build $(BUILD) -j $(JOBS) --target server_bench
	$(BUILD)/server_bench --dir $(BUILD)/bench-server --json bench/results-server.json

# Issue 6 at a province's size, in a process of its own so that its peak memory is its own: a
# province-month of 5M payment events (about 19M events, at least the 10M the replay target asks)
# is built in LARGE_LEDGER (about 25 min on 2 cores; kept and reused, about 4 GB), verified,
# replayed (as root: with the page cache dropped, then warm) and reconciled (a 1M-line file and
# the whole month's bank results). Writes bench/results-large.json.
LARGE_LEDGER ?= /var/tmp/ledger-province
DROP_CACHES := $(if $(filter 0,$(shell id -u)),--drop-caches,)
bench-large: configure
	cmake --build $(BUILD) -j $(JOBS) --target ledger_bench
	$(BUILD)/ledger_bench --large-only --payment-events 5000000 --replay-events 10000000 --replay-samples 10000 \
	  $(DROP_CACHES) --ledger-dir $(LARGE_LEDGER) --dir $(BUILD)/bench-large --json bench/results-large.json \
	  $(BENCH_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLEDGER_WERROR=ON

# Installs only what is missing, so that a machine that has everything needs no network.
deps:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root (or install:$$missing)"; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(BUILD)
