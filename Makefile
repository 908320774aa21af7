# One command sets everything up and opens the workbench (make lab); one sets
# everything up and runs every test (make test). Both reuse .venv while the
# dependency list (pyproject.toml + requirements/lock.txt) is unchanged.

PYTHON ?= python3
VENV   ?= .venv
# extra pip arguments, e.g. a CPU-only or other-CUDA PyTorch index (see README)
PIP_ARGS ?=
BIN    := $(VENV)/bin
DEPS_HASH := $(shell $(PYTHON) -c "import hashlib,sys; h=hashlib.sha256(sys.argv[1].encode()); [h.update(open(f,'rb').read()) for f in sys.argv[2:]]; print(h.hexdigest()[:16])" "$(PIP_ARGS)" pyproject.toml requirements/lock.txt)
STAMP  := $(VENV)/.deps-$(DEPS_HASH)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: env lab lecture test unit notebooks-test browser-test notebooks baselines bench lock clean help

help:
	@echo "make lab        set up .venv and open JupyterLab on notebooks/"
	@echo "make lecture    set up .venv and serve the lecture pages (explorers, no code) with Voila"
	@echo "make test       set up .venv and run every test (unit, notebooks, browser)"
	@echo "make notebooks  re-execute the notebooks and store their outputs (strips widget state)"
	@echo "make baselines  retrain the committed baselines for the embedded dataset"
	@echo "make bench      run the benchmarks (slider latency and technique targets)"
	@echo "make lock       refresh requirements/lock.txt from the current .venv"

$(STAMP): pyproject.toml requirements/lock.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(PIP_ARGS) -c requirements/lock.txt -e '.[test]'
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@cp tools/jupyter_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@rm -f $(VENV)/.deps-*
	@touch $@

env: $(STAMP)

lab: env
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

lecture: env
	$(BIN)/python tools/lectures.py serve

test: env
	$(BIN)/python -m pytest

unit: env
	$(BIN)/python -m pytest tests

notebooks-test: env
	$(BIN)/python -m pytest notebooks

browser-test: env
	$(BIN)/python -m pytest -m browser tests

notebooks: env
	$(BIN)/python tools/notebooks.py execute $(NOTEBOOKS)

baselines: env
	$(BIN)/python -m workbench baselines

bench: env
	$(BIN)/python benchmarks/slider_latency.py
	$(BIN)/python benchmarks/browser_latency.py
	$(BIN)/python benchmarks/pruning.py
	$(BIN)/python benchmarks/regularization.py
	$(BIN)/python benchmarks/sharing.py
	$(BIN)/python benchmarks/quantization.py
	$(BIN)/python benchmarks/lowrank.py
	$(BIN)/python benchmarks/distillation.py
	$(BIN)/python benchmarks/efficient.py
	$(BIN)/python benchmarks/precision.py
	$(BIN)/python benchmarks/dynamic.py
	$(BIN)/python benchmarks/panels.py

lock: env
	$(BIN)/python -m pip freeze --exclude-editable | grep -vi '^compression-workbench' > requirements/lock.txt

clean:
	rm -rf $(VENV) .pytest_cache
