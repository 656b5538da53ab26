"""pyomo_llmmec: user association and resource allocation in LLM-based mobile edge computing.

Implements the DASHF algorithm of Qian & Zhao ("User Association and Resource
Allocation in LLM-Based MEC over 6G") on Pyomo, with baselines, exact and global
benchmarks.  The mathematics is in docs/MODEL.md; the equation numbers cited in
the code are the paper's.

Typical use::

    import pyomo_llmmec as lm
    sc = lm.read_scenario("data/paper_default.xlsx")
    sol = lm.solve(sc, method="dashf")
    print(sol.scr)
"""

import os as _os
import signal as _signal
import sys as _sys

if _os.path.basename(_sys.argv[0] or "") == "llmmec":  # the command line: a signal during the imports below
    # (pandas, Pyomo: ~0.3 s) ends the run with one line and 128 + signum, like a signal later on
    # (pyomo_llmmec.interrupts takes over once the command runs)
    def _early_signal(signum, frame):
        _sys.stderr.write(f"interrupted ({_signal.Signals(signum).name})\n")
        _os._exit(128 + signum)

    for _sig in (_signal.SIGINT, _signal.SIGTERM):
        _signal.signal(_sig, _early_signal)

from .errors import InputError, LLMMECError, SolveFailed, SolverUnavailable
from .evaluator import Evaluation, evaluate
from .io import read_scenario, read_solution, write_scenario, write_solution
from .points import equal_split, initial_point
from .plot import plot_solution
from .scenario import GeneratorSettings, Scenario, SystemParams, generate_scenario
from .solution import Solution
from .units import Units, units_for

__version__ = "0.1.0"

from . import pyomo_solvers as _pyomo_solvers  # noqa: E402  (needs pyomo.opt only)

_pyomo_solvers.register_all()  # SolverFactory('llmmec.dashf'), ... (pyomo_llmmec.pyomo_solvers)

__all__ = [
    "Scenario", "SystemParams", "GeneratorSettings", "generate_scenario", "read_scenario", "write_scenario",
    "Solution", "Evaluation", "evaluate", "read_solution", "write_solution", "initial_point", "equal_split",
    "plot_solution", "Units", "units_for", "InputError", "LLMMECError", "SolveFailed", "SolverUnavailable", "__version__",
]


def __getattr__(name):  # lazy: keep `import pyomo_llmmec` light (Pyomo loads on first model use)
    if name in ("build_model", "load_solution", "extract_solution", "constraint_violations"):
        from . import model

        return getattr(model, name)
    if name in ("solve", "METHODS"):
        from . import methods

        return getattr(methods, name)
    raise AttributeError(name)
