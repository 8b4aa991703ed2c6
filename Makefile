# make demo   the course demo on a local Galera cluster (installs what it needs)
# make test   cargo test + pytest against a real local cluster (installs what it needs)

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test deps build rust-test py-test lint fmt clippy stubtest bench lab-down clean

demo: build
	$(VENV)/bin/multimaster demo

test: build lint rust-test py-test

deps: $(VENV)/.deps

$(VENV)/.deps: .ci/install-deps pyproject.toml
	.ci/install-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.16,<2" "pytest>=7" pytest-timeout "mypy>=1.10"
	touch $@

build: deps
	$(VENV)/bin/maturin develop --release -q

rust-test:
	cargo test --lib

py-test: build
	$(PY) -m pytest $(PYTEST_ARGS)

lint: fmt clippy stubtest

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --all-targets -- -D warnings

stubtest: build
	$(PY) -m mypy.stubtest multimaster._native --allowlist .ci/stubtest-allowlist
	$(PY) -m mypy python/multimaster

bench: build
	$(PY) -m pip install -q pymysql
	$(PY) tests/bench.py

lab-down:
	$(VENV)/bin/multimaster lab down

clean:
	rm -rf target $(VENV) python/multimaster/*.so
