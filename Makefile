# make demo   the course demo on a local Galera cluster (installs what it needs)
# make test   cargo test + pytest against a real local cluster, then SQLAlchemy's compliance suite (installs what it needs)
# make bench  multimaster beside bare clients on a local cluster (tests/bench; BENCH_ARGS=--tls ...)

VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test deps build rust-test py-test sqla-test lint fmt clippy imports ruff mypy stubtest bench bench-deps lab-down clean

# Prints pyproject.toml's build requirements and the extras named as arguments, one a line,
# expanding an extra's `multimaster[other]` entries.
define READ_REQUIREMENTS
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: the TOML reader pip itself carries
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    pyproject = tomllib.load(f)
extras = pyproject["project"]["optional-dependencies"]
def expand(name):
    for requirement in extras[name]:
        if requirement.replace(" ", "").startswith("multimaster["):
            inner = requirement.split("[", 1)[1].rstrip("] ")
            for other in inner.split(","):
                yield from expand(other.strip())
        else:
            yield requirement
wanted = list(pyproject["build-system"]["requires"])
for name in sys.argv[1:]:
    wanted.extend(expand(name))
for requirement in dict.fromkeys(wanted):
    print(requirement)
endef
export READ_REQUIREMENTS

demo: build
	$(VENV)/bin/multimaster demo

test: build lint rust-test py-test sqla-test

deps: $(VENV)/.deps

# The venv gets pyproject.toml's build backend and its `dev` extra, read from the file (one
# list); `pip install -e .[dev]` would build the Rust extension a second time.
$(VENV)/.deps: .ci/install-deps pyproject.toml
	.ci/install-deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "$$READ_REQUIREMENTS" dev > $(VENV)/requirements.txt
	$(PY) -m pip install -q -r $(VENV)/requirements.txt
	touch $@

build: deps
	$(VENV)/bin/maturin develop --release -q

rust-test:
	cargo test --lib

py-test: build
	$(PY) -m pytest $(PYTEST_ARGS)

# SQLAlchemy's dialect compliance suite on a lab of its own (tests/sqla_compliance/run.py): a
# pytest run of its own, with SQLAlchemy's plugin and tests/sqla_compliance/setup.cfg. `make test`
# runs it after py-test (prerequisites run in order); SQLA_TEST_ARGS go to pytest.
SQLA_TEST_ARGS ?=

sqla-test: build
	$(PY) tests/sqla_compliance/run.py $(SQLA_TEST_ARGS)

lint: fmt clippy imports ruff mypy stubtest

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --all-targets -- -D warnings

# No module imports one that imports it back, in src/ or python/.
imports:
	python3 .ci/check-imports

# ruff and mypy come with the `dev` extra; their settings are in pyproject.toml.
ruff: deps
	$(VENV)/bin/ruff check python tests
	$(VENV)/bin/ruff format --check python tests

# python/multimaster, python/multimaster_lab and tests/ ([tool.mypy] files): the stubs are read, nothing is built.
mypy: deps
	$(PY) -m mypy

stubtest: build
	$(PY) -m mypy.stubtest multimaster._native --allowlist .ci/stubtest-allowlist

# The bench extra is installed a requirement at a time: one that cannot be installed here
# (mysql-connector-python has no wheel for every platform) is reported, and the bench
# skips its column saying why. The stamp is only left once everything installed.
BENCH_ARGS ?=

bench: build bench-deps
	cargo build --release --example bare_loop
	cd tests && $(abspath $(PY)) -m bench $(BENCH_ARGS)

bench-deps: $(VENV)/.bench-deps

$(VENV)/.bench-deps: $(VENV)/.deps pyproject.toml
	$(PY) -c "$$READ_REQUIREMENTS" bench > $(VENV)/bench-requirements.txt
	ok=1; while read -r requirement; do \
		$(PY) -m pip install -q "$$requirement" || { ok=0; \
			echo "make bench: could not install $$requirement; the bench skips what needs it" >&2; }; \
	done < $(VENV)/bench-requirements.txt; \
	if [ $$ok = 1 ]; then touch $@; fi

lab-down:
	$(VENV)/bin/multimaster lab down

clean:
	rm -rf target $(VENV) python/multimaster/*.so
