# Two commands on a fresh clone: `make plan` (the dev stack's offline plan) and `make test`.
# Both create ./venv on demand from the pinned requirements.
PYTHON ?= python3
VENV := venv
PY := $(VENV)/bin/python
STACK ?= dev
SCHEMAS ?= ../shared/schemas

.PHONY: plan test lint bench bench-engine e2e e2e-tools dataplane clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Schemas: ../shared/schemas when it exists (this workspace), else upstream's by version from the
# user's cache or a download. `make plan OFFLINE=1` never downloads; `MIRROR=URL` downloads from
# a mirror of raw.githubusercontent.com / github.com paths; `STRICT=1` fails when anything went unvalidated.
# A SCHEMAS you give is always passed (the plan refuses a directory that does not exist); the
# default only when it exists.
SCHEMAS_ARG = $(if $(filter command line environment,$(origin SCHEMAS)),--schemas $(SCHEMAS),$(if $(wildcard $(SCHEMAS)),--schemas $(SCHEMAS)))

plan: $(VENV)/.installed
	$(PY) -m offline.plan $(STACK) --out build/$(STACK) $(SCHEMAS_ARG) \
		$(if $(OFFLINE),--offline) $(if $(MIRROR),--mirror $(MIRROR)) $(if $(STRICT),--strict)

# -rs: each skip with its reason (what is missing, and how to get it).
test: $(VENV)/.installed
	$(PY) -m pytest tests -q -rs

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

# The real Pulumi engine in render mode (no cluster): the CLI and providers the e2e suite finds
# (KVM_E2E_BIN, the build cache of e2e/build-tools.sh, PATH); without them it says SKIPPED and
# what is missing, and exits 3. BENCHMARKS.md.
bench-engine: $(VENV)/.installed
	$(PY) -m benchmarks.engine $(BENCH_ENGINE_ARGS)

# The real Pulumi engine against a real API server and two SSH nodes (README, "End-to-end"; e2e/README.md).
# Not part of `make test` or CI. Checks first what it cannot build (Go, upstream's files through the
# plan's cache, the language host and command provider, root, openssl, unshare, sshd), then builds
# the tools the Go proxy serves (cached), then runs the suite.
e2e: $(VENV)/.installed
	bash e2e/dataplane-packages.sh
	$(PY) -m tests.e2e.prerequisites
	@bin="$$(bash e2e/build-tools.sh | tail -n 1)"; \
	test -d "$$bin" || { echo "make e2e: e2e/build-tools.sh did not finish (its summary is above)" >&2; exit 1; }; \
	KVM_E2E_TOOLS="$$bin" KVM_E2E=1 $(PY) -m pytest tests/e2e -m e2e -p no:cacheprovider -q -rA $(E2E_ARGS)

e2e-tools:
	bash e2e/build-tools.sh

# The macvtap dataplane for real (README, "Dataplane"): the stacks' plans drive the real device
# plugin and CNI on network-namespace nodes, and qemu guests ping across them. Root only; not
# part of `make test` or CI. Installs the Debian packages it needs first.
dataplane: $(VENV)/.installed
	bash e2e/dataplane-packages.sh
	KVM_DATAPLANE=1 $(if $(filter command line,$(origin STACK)),KVM_DATAPLANE_STACK=$(STACK)) \
		$(PY) -m pytest tests/dataplane -m dataplane -p no:cacheprovider -q -rA \
		$(if $(filter command line,$(origin STACK)),-k TestYourStack) $(DATAPLANE_ARGS)

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
