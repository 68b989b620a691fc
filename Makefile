# Softbrik: the two commands are `make dev` and `make test` (README.md).
SHELL := /bin/bash
VENV := .local/venv
PY := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
export AWS_REGION ?= eu-west-1
export CARGO_TERM_COLOR ?= never

# Ports of the stack `make test` starts, apart from a running `make dev`.
TEST_STACK := --api-port 3100 --aws-port 4600 --lambda-port 9100 --stripe-port 8500 --stack-file .local/test/stack.json

# Ports of the stack `make bench` starts.
BENCH_STACK := --api-port 3300 --aws-port 4800 --lambda-port 9300 --stripe-port 8510 --stack-file .local/bench/stack.json

.PHONY: dev test tools fmt-check clippy unit layers template integration fmt bench bench-workers sam-build

tools: $(VENV)/.installed

$(VENV)/.installed: infra/requirements.txt infra/requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r infra/requirements.txt -c infra/requirements.lock
	touch $@

dev: tools
	$(PY) infra/devstack.py --watch up

# The unit tests run in the same cargo build as the end-to-end suites (`integration`): one
# build, whose dependency features the stack's functions share (shared/Cargo.toml,
# `stack-build`), so a fresh machine compiles the AWS SDK once.
test: tools fmt-check clippy layers template integration

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

# The unit tests alone, without the local stack.
unit:
	cargo test --workspace --locked --exclude softbrik-integration-tests

# The pure domain crate depends on no AWS, Lambda, tokio or HTTP crate, and the use cases'
# crate (softbrik-app) on no AWS or Lambda crate (issue 22): the compiler keeps the rules apart
# from the I/O, and this keeps their dependencies so.
layers:
	@found=$$(cargo tree --locked -p softbrik-domain -e normal --prefix none --format '{p}' \
	  | grep -E '^(aws-|lambda|tokio|hyper|http|reqwest|tower)' | sort -u); \
	if [ -n "$$found" ]; then echo "softbrik-domain depends on: $$found"; exit 1; fi; \
	echo "softbrik-domain: no AWS, Lambda, tokio or HTTP crate in its tree"
	@found=$$(cargo tree --locked -p softbrik-app -e normal --prefix none --format '{p}' \
	  | grep -E '^(aws-|lambda|hyper|http|reqwest|tower)' | sort -u); \
	if [ -n "$$found" ]; then echo "softbrik-app depends on: $$found"; exit 1; fi; \
	echo "softbrik-app: no AWS, Lambda or HTTP crate in its tree"

template: tools
	$(VENV)/bin/sam validate --lint --template template.yaml --region $(AWS_REGION)
	$(PY) infra/check_template.py
	$(PY) infra/test_check_template.py
	$(PY) infra/test_emulator.py
	$(PY) infra/test_iam.py
	$(PY) infra/test_devstack_stop.py
	$(PY) infra/test_devstack_template.py
	$(PY) infra/test_sigv4.py
	$(PY) infra/test_check_events.py

# Every test of the workspace (the unit tests and the end-to-end suites), then README's tour
# as written (infra/test_readme_tour.py), then every event told during the run against its
# published schema (infra/check_events.py), in one stack.
integration: tools
	$(PY) infra/devstack.py $(TEST_STACK) --check-iam run -- bash -c '\
	  cargo test --locked --workspace --features softbrik/stack-build -- --test-threads 4 && \
	  $(PY) infra/test_readme_tour.py && \
	  $(PY) infra/check_events.py'

# Benchmarks (docs/performance.md), in one run: the input scans on 64 KiB bodies of hostile
# shapes (docs/reliability.md), the release binaries and their arm64 packages
# (zig from the venv's ziglang, for cargo-lambda), then on a stack of its own the functions
# (cold start against an empty function, AWS requests per operation, memory; BENCH_STARTS,
# BENCH_WARM) and the billing run (docs/billing-runs.md; BENCH_ACCOUNTS). The bench clients only
# drive the binaries and the stack, so they are built in the dev profile.
bench: tools
	cargo bench --locked -p softbrik --bench input_scan
	rustup target add aarch64-unknown-linux-gnu
	cargo build --locked --release --workspace --bins --exclude softbrik-integration-tests
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/cargo-lambda lambda build --locked --release \
	  --arm64 --output-format zip --workspace --exclude softbrik-integration-tests
	$(PY) infra/devstack.py $(BENCH_STACK) run -- bash -c '\
	  cargo bench --locked --profile dev -p softbrik-integration-tests --bench functions && \
	  cargo bench --locked --profile dev -p softbrik-integration-tests --bench billing_run'
	$(MAKE) bench-workers

# A billing run against its workers (docs/performance.md, "Billing run against its workers"):
# one stack deployed with the most workers of BENCH_WORKERS, a partner that answers in
# BENCH_PARTNER_MS and refuses beyond BENCH_PARTNER_RATE requests a second, and the runs
# paced to BENCH_PACE a second (that rate unless told); BENCH_WORKERS_ACCOUNTS accounts seeded
# due together, one renewal run, and for each of BENCH_WORKERS the queue's workers set to that
# many and BENCH_WINDOW_SECONDS of the run measured. The table goes to .local/bench/workers.md.
BENCH_WORKERS ?= 1 2 4 8
BENCH_WORKERS_ACCOUNTS ?= 20000
BENCH_WINDOW_SECONDS ?= 120
BENCH_PARTNER_MS ?= 300
BENCH_PARTNER_RATE ?= 3
BENCH_PACE ?= $(BENCH_PARTNER_RATE)
# (2 at least: the template's MinValue, as Lambda's mapping allows.)
BENCH_MOST_WORKERS = $(shell printf '%s\n' $(BENCH_WORKERS) 2 | sort -n | tail -1)
bench-workers: tools
	mkdir -p .local/bench
	$(PY) infra/devstack.py $(BENCH_STACK) --parameter BillingWorkers=$(BENCH_MOST_WORKERS) \
	  --parameter PartnerRate=$(BENCH_PACE) --parameter SandboxRate=$(BENCH_PARTNER_RATE) \
	  --parameter SandboxLatencyMs=$(BENCH_PARTNER_MS) run -- bash -c '\
	  BENCH_WORKERS="$(BENCH_WORKERS)" BENCH_WORKERS_ACCOUNTS=$(BENCH_WORKERS_ACCOUNTS) \
	  BENCH_WINDOW_SECONDS=$(BENCH_WINDOW_SECONDS) BENCH_WORKERS_TABLE=$(CURDIR)/.local/bench/workers.md \
	  cargo bench --locked --profile dev -p softbrik-integration-tests --bench billing_workers'
	cat .local/bench/workers.md

# What `sam deploy` ships (docs/deploy.md): sam build with cargo-lambda from the venv (arm64,
# zig from the venv's ziglang), then a check of every function's artifact.
sam-build: tools
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/sam build --template template.yaml
	$(PY) infra/check_build.py
