# Two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Tests and runs never reach the hub: the offline profile uses the bundled model and data.
OFFLINE := COURSE_PROFILE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
PYTEST_WORKERS ?= 2
# `make test` runs two pytest workers with one thread each: two threads each would oversubscribe 2 cores.

# The lowest supported versions (the lower bounds in pyproject.toml) get their own venv; see .ci/constraints-lowest.txt.
LOWEST_VENV ?= .venv-lowest
LOWEST_PY := $(LOWEST_VENV)/bin/python
# make colab REPO=owner/name: point the badges, setup cells and pyproject at another GitHub repository.
REPO ?=

.PHONY: venv run test test-lowest unit notebooks lab figs bench strip colab clean

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

# -rs prints skip reasons: the browser test skips (loudly) only when /usr/bin/chromium is missing.
test: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m pytest -rs -n $(PYTEST_WORKERS) --dist loadscope tests notebooks

# The API-drift guard and the unit tests (no notebooks, no browser) on the lowest supported versions.
$(LOWEST_VENV)/.installed: pyproject.toml .ci/constraints-lowest.txt
	test -x $(LOWEST_PY) || $(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_PY) -m pip install -q --upgrade pip
	$(LOWEST_PY) -c "import torch" 2>/dev/null || $(LOWEST_PY) -m pip install -q torch==2.13.0
	$(LOWEST_PY) -m pip install -q -c .ci/constraints-lowest.txt -e ".[offline,dev]"
	touch $@

test-lowest: $(LOWEST_VENV)/.installed
	$(OFFLINE) OMP_NUM_THREADS=1 COURSE_CONSTRAINTS=.ci/constraints-lowest.txt $(LOWEST_PY) -m pytest -rs \
		-n $(PYTEST_WORKERS) --dist loadscope tests --ignore=tests/test_browser.py

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

# Needs only an installed course_utils: an existing venv is used as it is (never reinstalled for this).
colab:
	@test -x $(PY) || $(MAKE) venv
	$(PY) -m course_utils.colab $(REPO) --root .

clean:
	rm -rf build
