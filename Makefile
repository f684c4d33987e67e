# Two commands on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The pinned versions `make venv` installs; `make test-python` passes a copy without the torch pin.
CONSTRAINTS ?= .ci/constraints.txt
# Tests and runs never reach the hub: the offline profile uses the bundled model and data.
OFFLINE := COURSE_PROFILE=offline HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
PYTEST_WORKERS ?= 2
# `make test` runs two pytest workers with one thread each: two threads each would oversubscribe 2 cores.

# The lowest supported versions (the lower bounds in pyproject.toml) get their own venv; see .ci/constraints-lowest.txt.
LOWEST_VENV ?= .venv-lowest
LOWEST_PY := $(LOWEST_VENV)/bin/python
# make colab REPO=owner/name: point the badges, setup cells and pyproject at another GitHub repository.
REPO ?=

.PHONY: venv run test test-lowest test-python unit notebooks lab figs bench strip colab bundle gpu-check experiments lessons slides demo \
	stored-runs release tiny-llm llm-sweep clean

venv: $(STAMP)

# torch is installed first and on its own: `torch==2.13.0` is a CPU wheel on this machine's disk, while a
# plain `torch` requirement would pull a multi-GB CUDA build. The package itself does not pin torch.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[offline,dev]"
	touch $(STAMP)

run: $(STAMP)
	$(OFFLINE) $(PY) -m course_utils run --out build

# -rs prints skip reasons: the browser test skips (loudly) only when /usr/bin/chromium is missing.
# COURSE_STRICT_CHECKS=1: numbers that depend on the CPU are checked against their measured tolerance (a student's
# run only shows them).
test: $(STAMP)
	$(OFFLINE) COURSE_STRICT_CHECKS=1 OMP_NUM_THREADS=1 $(PY) -m pytest -rs -n $(PYTEST_WORKERS) --dist loadscope tests notebooks

# The API-drift guard and the unit tests (no notebooks, no browser) on the lowest supported versions.
$(LOWEST_VENV)/.installed: pyproject.toml .ci/constraints-lowest.txt
	test -x $(LOWEST_PY) || $(PYTHON) -m venv $(LOWEST_VENV)
	$(LOWEST_PY) -m pip install -q --upgrade pip
	$(LOWEST_PY) -c "import torch" 2>/dev/null || $(LOWEST_PY) -m pip install -q torch==2.13.0
	$(LOWEST_PY) -m pip install -q -c .ci/constraints-lowest.txt -e ".[offline,dev]"
	touch $@

test-lowest: $(LOWEST_VENV)/.installed
	$(OFFLINE) COURSE_STRICT_CHECKS=1 OMP_NUM_THREADS=1 COURSE_CONSTRAINTS=.ci/constraints-lowest.txt $(LOWEST_PY) -m pytest -rs \
		-n $(PYTEST_WORKERS) --dist loadscope tests --ignore=tests/test_browser.py

# make test-python PYTHON=python3.13: `make test` in .venv-python3.13 with that interpreter (Colab's current Python).
# The CPU torch wheel on this machine's disk is for Python 3.11, so pip takes torch 2.13.0 from PyPI there (a CUDA
# build, several GB); the other pins are those of .ci/constraints.txt.
test-python:
	@test -n "$(filter-out python3,$(PYTHON))" || { echo "error: give another interpreter, e.g. make test-python PYTHON=python3.13"; exit 2; }
	grep -v '^torch==' .ci/constraints.txt > .ci/constraints-any-python.txt
	COURSE_CONSTRAINTS=.ci/constraints-any-python.txt $(MAKE) test VENV=.venv-$(notdir $(PYTHON)) \
		CONSTRAINTS=.ci/constraints-any-python.txt PYTHON=$(PYTHON)

unit: $(STAMP)
	$(OFFLINE) $(PY) -m pytest tests

notebooks: $(STAMP)
	$(OFFLINE) $(PY) -m pytest notebooks

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

figs: $(STAMP)
	$(PY) -m course_utils figs

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Refresh a notebook's committed reference outputs: execute in place, then keep only `keep_output` cells.
strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-count notebooks/*.ipynb

# Needs only an installed course_utils: an existing venv is used as it is (never reinstalled for this).
colab:
	@test -x $(PY) || $(MAKE) venv
	$(PY) -m course_utils colab $(REPO) --root .
	$(PY) -m course_utils release --source notebooks --out release

# make bundle: dist/peft-course-colab.zip (the package as a wheel + notebooks + data + figures), to hand out through
# an LMS or Drive instead of publishing a repository. Like `colab`, an existing venv is used as it is.
bundle:
	@test -x $(PY) || $(MAKE) venv
	$(PY) -m course_utils bundle

# make gpu-check: what only a CUDA GPU can confirm (bitsandbytes CUDA NF4 vs quantize_nf4, the memory estimate vs
# torch.cuda.max_memory_allocated for LoRA, QLoRA and a causal-LM QLoRA step, fp16 and bf16 steps, a paged AdamW
# step). One line on CPU.
gpu-check: $(STAMP)
	$(PY) -m course_utils gpu-check

# make experiments: the long offline comparison behind notebook 05 (results/comparison_offline.json, committed; read
# in the offline and demo profiles). (1) every method's learning rate is chosen on the validation split: 3 rates x
# seeds 0, 1 (python -m course_utils select); (2) the same with reviews cut on the right, for LoRA at its chosen rate
# (the truncation check); (3) seeds 2-4 at the chosen rates, and the cache with the choice in its meta. About two
# hours on 2 CPU cores; run (1) as two processes (--methods) to halve it and pass both files to (3).
experiments: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=2 $(PY) -m course_utils select --out build/selection.json
	$(OFFLINE) OMP_NUM_THREADS=2 $(PY) -m course_utils select --methods lora --chosen-from build/selection.json \
		--truncation right --out build/truncation.json
	$(OFFLINE) OMP_NUM_THREADS=2 $(PY) -m course_utils select --finals build/selection.json \
		--truncation-check build/truncation.json --out results/comparison_offline.json

# make lessons: the longer offline runs behind notebook 04's LoRA vs QLoRA and notebook 01's r / alpha / target sweep
# (7 settings x 3 seeds, 150 steps, chosen on validation; about 25 minutes on one thread), written to
# results/lessons_offline.json, and notebook 02's ΔM/ΔD analysis (3 methods x 3 seeds x 320 steps at notebook 05's
# validation-chosen rates; about 20 minutes), written to results/md_offline.json (both committed).
lessons: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m course_utils lessons --out results/lessons_offline.json
	rm -f results/lessons_offline.json.partial
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m course_utils md-lesson --out results/md_offline.json
	rm -f results/md_offline.json.partial

# make stored-runs: run notebooks 00 and 04 in the offline profile and store their long training results in
# results/notebook_runs.json (committed): the demo profile shows them, the offline profile checks itself against them.
# Notebook 06 stores its two trained adapters in results/adapters/ (the demo profile loads them instead of training).
# Then run 04 and 05 in the demo profile and store the LLaMA preset memory answers they show (results/preset_answers.json).
stored-runs: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m course_utils stored-runs notebooks/00_peft_motivation.ipynb \
		notebooks/04_qlora_training.ipynb notebooks/06_causal_lm_qlora.ipynb
	OMP_NUM_THREADS=1 $(PY) -m course_utils preset-answers notebooks/04_qlora_training.ipynb \
		notebooks/05_method_comparison.ipynb

# make slides: one offline reveal.js deck per notebook in build/slides/ (reveal.js from an installed package).
slides: $(STAMP)
	$(PY) -m course_utils slides --out build/slides

# make demo: seconds per notebook under COURSE_PROFILE=demo (the demo edition: verify cells dropped), median of 3.
demo: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=2 $(PY) benchmarks/demo.py --repeat 3

# make release: release/practice (hints, model answers; committed: the Colab badges open it) and release/assignment (graded use: no answers, STUDENT_ID
# cell, per-student numbers); fails naming the cell when an answer would show in the assignment edition.
release: $(STAMP)
	$(PY) -m course_utils release --source notebooks --out release

# make tiny-llm: rebuild notebook 06's offline base model (course_utils/llm/ko_tiny_llama/, committed, about 4 MB) from
# data/ko_corpus.txt: tokenizer + 4-layer LLaMA pretrained on the CPU (1-2 minutes). Its model card is README.md there.
tiny-llm: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) data/build_ko_instructions.py
	OMP_NUM_THREADS=2 $(PY) -m course_utils.llm.build_base

# make llm-sweep: choose notebook 06's offline steps and learning rates on the validation split (never test):
# results/llm_sweep.json (committed, meta.selected_on = "validation"), read by the notebook. About 15 minutes.
llm-sweep: $(STAMP)
	$(OFFLINE) OMP_NUM_THREADS=1 $(PY) -m course_utils.runs.llm_sweep

clean:
	rm -rf build dist release
