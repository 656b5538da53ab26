# pyomo_llmmec — the commands a newcomer needs (see README.md)
VENV   := .venv
PY     := $(VENV)/bin/python
LLMMEC := $(VENV)/bin/llmmec

.PHONY: setup setup-docs setup-slow demo test test-slow bench bench-scale docs clean

setup:            ## system packages, .venv/, package, PyNumero build, solver check (idempotent)
	@bash scripts/setup.sh

demo: setup       ## DASHF on the paper's default scenario, with a summary
	$(LLMMEC) solve data/paper_default.xlsx --method dashf -o demo_solution.xlsx

test: setup       ## the default test suite (well under 15 minutes on 2 cores)
	$(PY) -m pytest -q

test-slow: setup-slow  ## the long acceptance checks (marked slow), the browser check and the docs build
	$(PY) -m pytest -q -m slow

bench: setup      ## benchmarks/ (timings and memory by size)
	$(PY) benchmarks/bench_dashf.py

bench-scale: setup ## DASHF (each P1 route), lns and MindtPy from 10 x 2 to 10 000 x 100 (hours; resumable)
	$(PY) benchmarks/bench_scale.py

DOCS_STAMP := $(VENV)/.installed-docs

setup-docs: setup ## the docs and browser extras (Sphinx, PyData theme, myst-nb, selenium) into .venv (idempotent)
	@if [ ! -f $(DOCS_STAMP) ] || [ setup.cfg -nt $(DOCS_STAMP) ] || [ requirements-lock.txt -nt $(DOCS_STAMP) ]; then \
	  echo "setup-docs: installing the docs and browser extras into $(VENV)"; \
	  $(PY) -m pip install -q -c requirements-lock.txt -e ".[dev,docs,browser]" && touch $(DOCS_STAMP); fi

setup-slow: setup-docs ## + Debian's chromium and chromium-driver (the HTML report's browser check)
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" -eq 0 ]; then echo "setup-slow: installing chromium chromium-driver"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "setup-slow: install as root: apt-get install -y chromium chromium-driver" >&2; exit 1; fi; fi

docs: setup-docs  ## regenerate docs/WORKBOOKS.md, then build the site (tutorials executed) into docs/_build/html
	$(PY) -c "from pyomo_llmmec.schema import write_docs; print('wrote', write_docs())"
	$(PY) -m sphinx -W --keep-going -q -b html -d docs/_build/doctrees docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_solution.xlsx docs/_build docs/jupyter_execute
