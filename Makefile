# Two commands: `make demo` and `make test`. Both bootstrap .venv from the lock file
# (requirements.lock) when it is missing or older than the lock or pyproject.toml.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck lock clean bench

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/b2sync demo $(DEMO_ARGS)

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy sync mapping consent store connectors audit insights daemon.py

# Regenerate the lock after changing dependencies in pyproject.toml.
lock:
	$(PY) -m pip install --quiet uv
	$(PY) -m uv pip compile pyproject.toml --extra postgres --extra dev -o requirements.lock --python-version 3.11

bench: $(STAMP)
	$(BIN)/python bench/emulators.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
