# Two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests and runs never reach the hub: the offline profile uses the bundled model and data.
OFFLINE := COURSE_PROFILE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
PYTEST_WORKERS ?= 2
# `make test` runs two pytest workers with one thread each: two threads each would oversubscribe 2 cores.

.PHONY: venv run test unit notebooks lab figs bench strip clean

venv: $(STAMP)

# torch is installed first and on its own: `torch==2.13.0` is a CPU wheel on this machine's disk, while a
# plain `torch` requirement would pull a multi-GB CUDA build. The package itself does not pin torch.
$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c .ci/constraints.txt -e ".[offline,dev]"
	touch $(STAMP)

run: $(STAMP)
	$(OFFLINE) $(PY) -m course_utils.run_notebooks --out build

test: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope tests notebooks

unit: $(STAMP)
	$(OFFLINE) $(PY) -m pytest tests

notebooks: $(STAMP)
	$(OFFLINE) $(PY) -m pytest notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

figs: $(STAMP)
	$(PY) -m course_utils.figs

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Refresh a notebook's committed reference outputs: execute in place, then keep only `keep_output` cells.
strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-count notebooks/*.ipynb

clean:
	rm -rf build
