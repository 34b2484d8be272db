# locca_mm: `make demo` and `make test` set everything up on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export VENV PYTHON

.PHONY: install test test-fast demo demo-full demo-siglip2 eval-suite lint bench clean-venv help

help:
	@echo "make install  create $(VENV) with the pinned stack (first time 11-25 min on 2 cores: mmcv is built from source)"
	@echo "make test     install + run the whole test suite (what CI runs)"
	@echo "make test-fast  install + the suite without the tests marked slow (> 10 s each)"
	@echo "make demo     install + LocCa vs Cap on the embedded SyntheticShapes data (CPU, one seed, 10-12 min)"
	@echo "make demo-full  the same over 3 seeds, mean and spread (CPU, ~30 min)"
	@echo "make demo-siglip2  SigLIP vs SigLIP + LocCa vs SigLIP 2's full recipe on the embedded data, 3 seeds (CPU, ~50 min)"
	@echo "make eval-suite  after make demo: its LocCa and Cap encoders through every embedded protocol, one table (CPU, ~8 min)"
	@echo "make lint     ruff"
	@echo "make bench    install + tools/benchmarks/benchmark.py (speed and memory, JSON)"
	@echo "make clean-venv  remove $(VENV)"
	@echo "Documentation: README.md, docs/en/index.md"

install:
	@bash tools/install/install.sh

test: install
	"$(PY)" -m pytest tests -n auto

test-fast: install
	"$(PY)" -m pytest tests -n auto -m "not slow"

demo: install
	"$(PY)" tools/demo.py --work-dir work_dirs/demo

demo-full: install
	"$(PY)" tools/demo.py --work-dir work_dirs/demo-full --seeds 3

demo-siglip2: install
	"$(PY)" tools/demo.py --recipe siglip2 --work-dir work_dirs/demo_siglip2 --seeds 3

DEMO_SEED0 := work_dirs/demo/seed_0
eval-suite: install
	@test -f $(DEMO_SEED0)/locca/pretrain/iter_900.pth || { echo "run make demo first (no $(DEMO_SEED0)/locca/pretrain/iter_900.pth)"; exit 1; }
	"$(PY)" tools/eval_suite.py $(DEMO_SEED0)/locca/pretrain/iter_900.pth --name LocCa --out work_dirs/eval_suite
	"$(PY)" tools/eval_suite.py $(DEMO_SEED0)/cap/pretrain/iter_900.pth --name Cap --out work_dirs/eval_suite

lint: install
	"$(PY)" -m ruff check locca_mm tools tests configs

bench: install
	"$(PY)" tools/benchmarks/benchmark.py --compare-open-clip

clean-venv:
	rm -rf $(VENV)
