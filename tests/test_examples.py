"""The examples a student runs: the scripts run on the toy scenario, the notebook is valid and its code compiles."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"


@pytest.mark.parametrize("script,args", [
    ("compare_methods.py", ["data/toy_3x2.xlsx"]),
    ("change_parameter.py", ["data/toy_3x2.xlsx", "--set", "bandwidth_hz=20e6"]),
])
def test_example_script_runs(script, args):
    r = subprocess.run([sys.executable, str(EX / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "SCR" in r.stdout or "scr" in r.stdout


def test_notebook_is_valid_and_compiles():
    nb = json.loads((EX / "tour.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code
    for c in code:
        src = "".join(c["source"])
        compile("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))), "tour.ipynb", "exec")
