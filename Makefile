# ferroswitch — the two commands of the README, plus benchmarks.
#   make run    install what is missing, build (release), start the switch
#   make test   the whole suite: unit, simulation, interop with real peers
#   make bench  benchmarks, each printing ratios against a peer run alongside
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages. Build: a C toolchain (and cmake, for the bundled libopus) for -sys crates. Tests: the real
# peers the testbeds drive. Each list is installed only if something is missing.
BUILD_PKGS := build-essential pkg-config cmake python3 ca-certificates
TEST_PKGS  := sip-tester kamailio baresip linphone-cli tshark sipvicious python3 python3-venv procps iproute2 curl openssl opus-tools sox postgresql
# Benchmarks: ffmpeg (transcoding peer), espeak-ng (speech for the Opus quality scores).
BENCH_PKGS := ffmpeg espeak-ng
# Python peers from PyPI, in a venv of their own (testbeds/.venv): moto is
# the S3-compatible object store recordings are uploaded to in the tests;
# schemathesis checks the admin API against its OpenAPI document (hypothesis
# pinned below 6.130: newer ones break hypothesis-jsonschema 0.23).
TEST_PY    := moto[server]==5.* schemathesis==3.39.* hypothesis<6.130

.PHONY: help run test bench build build-release deps-build deps-test toolchain unit interop fuzz-smoke clean

help:
	@echo "make run    - install what is missing, build, start ferroswitch with configs/default.toml"
	@echo "make test   - the whole test suite (unit, simulation, interop with real peers)"
	@echo "make bench  - benchmarks against peers run in the same command"

# Install Debian packages from a list, only those not installed yet.
define apt_ensure
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

toolchain:
	@if ! [ -x "$(CARGO)" ] && ! command -v cargo >/dev/null 2>&1; then \
	  echo "No Rust toolchain found. Install rustup (https://rustup.rs) or Debian's cargo >= 1.80, then re-run."; exit 1; fi

deps-build: toolchain
	$(call apt_ensure,$(BUILD_PKGS))

deps-test: deps-build
	$(call apt_ensure,$(TEST_PKGS))
	@{ [ -x testbeds/.venv/bin/moto_server ] && [ -x testbeds/.venv/bin/st ]; } || { echo "installing (venv): $(TEST_PY)"; \
	  python3 -m venv testbeds/.venv && testbeds/.venv/bin/pip install -q --disable-pip-version-check $(foreach p,$(TEST_PY),'$(p)'); }

build: deps-build
	$(CARGO) build -p ferroswitch

build-release: deps-build
	$(CARGO) build --release -p ferroswitch

run: build-release
	./target/release/ferroswitch run --config configs/default.toml

# With a throwaway PostgreSQL cluster (when installed, as make test does),
# so the store's tests run against both backends.
unit: deps-build
	bash crates/store/scripts/with-test-pg.sh $(CARGO) test --workspace

interop: deps-test build
	bash testbeds/run-all.sh

fuzz-smoke: deps-build
	@if [ -x fuzz/run.sh ]; then bash fuzz/run.sh $${FUZZ_SECONDS:-20}; else echo "fuzz: no targets yet"; fi

test: deps-test
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory interop
	$(MAKE) --no-print-directory fuzz-smoke

bench: deps-test build-release
	$(call apt_ensure,$(BENCH_PKGS))
	bash benches/run.sh

clean:
	$(CARGO) clean
	rm -rf testbeds/out benches/out fuzz/target
