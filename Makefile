# Two commands: `make demo` and `make test`. Both bootstrap .venv from the lock file
# (requirements.lock, hashed) when it is missing or older than the lock or pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck lock clean bench

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/b2sync demo $(DEMO_ARGS)

# `make test` skips the tests marked slow (long end-to-end runs: fault storm, kill loops);
# CI runs them too: `make test MARKERS="slow or not slow"` (see .ci/run).
# The suite runs on every core (pytest-xdist, at most 4 workers, each test module on one
# worker so its fixtures are shared); `make test JOBS=0` runs it in this process.
MARKERS ?= not slow
JOBS ?= auto
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q -m "$(MARKERS)" -n $(JOBS) --maxprocesses=4 --dist loadfile $(PYTEST_ARGS)

# the import contracts in pyproject.toml ([tool.importlinter]): layers, emulators apart
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy b2sync sync mapping consent store connectors audit insights daemon.py

# Regenerate the locks after changing dependencies in pyproject.toml. Both pin every
# distribution with its sha256 hashes (pip then installs in --require-hashes mode):
# requirements.lock is the dev/test set (make test), requirements-runtime.lock the image's
# (no dev extras), constrained to the same versions. uv keeps existing pins unless asked.
LOCK_FLAGS := --generate-hashes --python-version 3.11
lock:
	$(PY) -m pip install --quiet uv
	$(PY) -m uv pip compile pyproject.toml --extra postgres --extra scale --extra dev $(LOCK_FLAGS) -o requirements.lock
	$(PY) -m uv pip compile pyproject.toml --extra postgres --extra scale $(LOCK_FLAGS) -c requirements.lock -o requirements-runtime.lock

bench: $(STAMP)
	$(BIN)/python bench/emulators.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
