#!/usr/bin/env bash
# make setup: system packages, .venv/, the package with its dev extras, PyNumero's
# ASL library, and a check that every solver really solves.  Idempotent: each step
# runs only when needed, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv
t0=$(date +%s)

# 1. system packages (Debian): the AMPL solver library and a toolchain for PyNumero
pkgs=(libamplsolver-dev cmake g++)
missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
else
  echo "setup: no dpkg here; make sure these are installed: ${pkgs[*]} (ASL headers in /usr/include/ampl-netlib-solvers)" >&2
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "setup: installing system packages with sudo: ${missing[*]}"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]}" >&2
    echo "setup: install them as root, then rerun make setup:  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# 2. the virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# 3. the package (editable) with its dev extras, at the locked versions
stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ requirements-lock.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing pyomo-llmmec and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -c requirements-lock.txt -e ".[dev]"
  touch "$stamp"
fi

# 4. PyNumero's ASL library, built against Debian's (skipped when it loads)
"$VENV/bin/python" -m pyomo_llmmec.setup_tools build-pynumero

# 5. every solver solves a tiny problem
"$VENV/bin/llmmec" doctor
echo "setup: done in $(( $(date +%s) - t0 )) s"
