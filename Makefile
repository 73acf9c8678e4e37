# make demo  : set up .venv (first run only) and run the main job (`rlsuite demo`)
# make test  : set up .venv with the test extras and run ruff + the fast test suite
# make test-slow / make bench : long tests / benchmarks
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt
export OMP_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg

.PHONY: demo test test-slow bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-deps: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[progress]"
	@touch $@

$(VENV)/.test-deps: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[dev,marl,progress,mujoco,graph,llm,mo,ray,offline]"
	@touch $@ $(VENV)/.demo-deps

demo: $(VENV)/.demo-deps
	$(BIN)/rlsuite demo

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .

# mypy on the installed layout: the package-dir mapping (envs/ -> rlsuite.envs, ...) rebuilt as links.
TYPED := build/typecheck
typecheck: $(VENV)/.test-deps
	@rm -rf $(TYPED)/rlsuite && mkdir -p $(TYPED)/rlsuite
	@for f in rlsuite/*.py rlsuite/py.typed; do ln -s ../../../$$f $(TYPED)/rlsuite/; done
	@for d in envs agents shaping baselines; do ln -s ../../../$$d $(TYPED)/rlsuite/$$d; done
	cd $(TYPED) && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p rlsuite

test: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest -n 2 -q

test-slow: $(VENV)/.test-deps
	$(BIN)/python -m pytest -n 2 -q -m slow

bench: $(VENV)/.test-deps
	$(BIN)/python benchmarks/inventory_throughput.py
	$(BIN)/python benchmarks/inventory_baselines.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
