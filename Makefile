# `make demo` and `make test` do all the set-up on a fresh machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: demo test lint bench install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/arc train --dataset synthetic --backbone r18 --n 4 --device cpu --threads 1 --workers 1 --out runs/demo && $(VENV)/bin/arc eval --checkpoint runs/demo/best.pt --workers 1

test: $(STAMP)
	$(PY) -m pytest -n auto --maxprocesses 4 --dist loadfile

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(VENV)/bin/arc bench layer
	$(VENV)/bin/arc bench reference

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
