# `make demo` and `make test` do all the set-up on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# the package alone (all that make demo needs), then with the tools of make test and make lint
BASE   := $(VENV)/.installed-base
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test lint bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(BASE): pyproject.toml | $(PY)
	$(PY) -m pip install -e .
	touch $(BASE)

$(STAMP): $(BASE)
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# ARC-TSM-R18 on make demo's synthetic set (written into the cache the first time), the CPU's two cores: one
# trains (channels-last: its ARC layers run 1.3x faster so), one decodes; then the best checkpoint's validation
# scores, and where to go next.
demo: $(BASE)
	$(VENV)/bin/arc train --dataset synthetic --backbone r18 --n 4 --device cpu --threads 1 --workers 1 --channels-last --out runs/demo --overwrite
	$(VENV)/bin/arc eval --checkpoint runs/demo/best.pt --workers 0
	@echo ""
	@echo "Next: the fine-grained benchmark, where twelve classes differ in how a small bead slides along a drifting"
	@echo "rod: TSN, TSM, ARC-TSM, MSN and ARC-MSN over three seeds, under a protocol fixed before ARC's first run."
	@echo "  The table: docs/results.md; to run it again (about an hour on 2 cores): $(VENV)/bin/arc bench accuracy --preset fine"
	@echo "What ARC learnt in this run, the paper's Figs. 3-6 (docs/viz.md):"
	@echo "  $(VENV)/bin/arc viz attention --checkpoint runs/demo/best.pt"
	@echo "  $(VENV)/bin/arc viz states --checkpoint runs/demo/best.pt"

test: $(STAMP)
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/arc bench layer
	$(VENV)/bin/arc bench reference

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
