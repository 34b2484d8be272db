# locca_mm: `make demo` and `make test` set everything up on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export VENV PYTHON

.PHONY: install test test-fast demo demo-full lint bench clean-venv help

help:
	@echo "make install  create $(VENV) with the pinned stack (first time ~25 min: mmcv is built from source)"
	@echo "make test     install + run the whole test suite (what CI runs)"
	@echo "make test-fast  install + the suite without the tests marked slow (> 10 s each)"
	@echo "make demo     install + LocCa vs Cap on the embedded SyntheticShapes data (CPU, one seed, <10 min)"
	@echo "make demo-full  the same over 3 seeds, mean and spread (CPU, <45 min)"
	@echo "make lint     ruff"
	@echo "make bench    install + tools/benchmark.py (speed and memory, JSON)"

install:
	@bash tools/install.sh

test: install
	"$(PY)" -m pytest tests -n auto

test-fast: install
	"$(PY)" -m pytest tests -n auto -m "not slow"

demo: install
	"$(PY)" tools/demo.py --work-dir work_dirs/demo

demo-full: install
	"$(PY)" tools/demo.py --work-dir work_dirs/demo-full --seeds 3

lint: install
	"$(PY)" -m ruff check locca_mm tools tests configs

bench: install
	"$(PY)" tools/benchmark.py --compare-open-clip

clean-venv:
	rm -rf $(VENV)
