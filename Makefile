# make demo : create .venv if missing, install tfprot, run the offline demo on the bundled data
# make test : create .venv if missing, install tfprot with its test extras, run every test
# make bench: the speed comparison with the reference recipes (benchmarks/, under 15 minutes)
# make lint : ruff

VENV   ?= .venv
PYTHON ?= python3
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.tfprot-installed

.PHONY: demo test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch 2.13.0 is a CPU build on this machine's local wheel disk; an unpinned torch pulls several GB.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[fold,test,dev,bench,app,zeroshot]"
	# builds tfprot's CPU ops for this CPU now (about 20 s, once), not in the demo's first run
	$(VENV)/bin/tfprot info
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tfprot demo

test: $(STAMP)
	# a worker per core (at most 4), whole files per worker: module fixtures are built once
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile

bench: $(STAMP)
	$(PY) -m benchmarks

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
