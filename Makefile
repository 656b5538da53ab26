# pyomo_llmmec — the commands a newcomer needs (see README.md)
VENV   := .venv
PY     := $(VENV)/bin/python
LLMMEC := $(VENV)/bin/llmmec

.PHONY: setup demo test test-slow bench docs clean

setup:            ## system packages, .venv/, package, PyNumero build, solver check (idempotent)
	@bash scripts/setup.sh

demo: setup       ## DASHF on the paper's default scenario, with a summary
	$(LLMMEC) solve data/paper_default.xlsx --method dashf -o demo_solution.xlsx

test: setup       ## the default test suite (well under 15 minutes on 2 cores)
	$(PY) -m pytest -q

test-slow: setup  ## the long acceptance checks (marked slow)
	$(PY) -m pytest -q -m slow

bench: setup      ## benchmarks/ (timings and memory by size)
	$(PY) benchmarks/bench_dashf.py

docs: setup       ## regenerate generated docs (workbook formats)
	$(PY) -c "from pyomo_llmmec.schema import write_docs; print('wrote', write_docs())"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_solution.xlsx
