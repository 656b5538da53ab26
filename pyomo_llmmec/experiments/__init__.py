"""The paper's experiments (Section V, Fig. 2 and Fig. 3) as seeded Monte Carlo sweeps on Dask.

::

    from pyomo_llmmec.experiments import run_experiment
    res = run_experiment("bandwidth", seeds=3, workers=2, out_dir="results/bandwidth")
    print(res.means("scr"))

or, from a shell, ``llmmec experiment bandwidth --seeds 3 --workers 2``.
Modules: :mod:`.tasks` (experiments as lists of independent tasks, and
running one task), :mod:`.curves` (Fig. 2's curves from DASHF's history),
:mod:`.runner` (Dask, per-task files, resume, progress bar), :mod:`.report`
(tidy tables, confidence intervals, CSV/Excel), :mod:`.plots` (matplotlib),
:mod:`.pipeline` (all of it in one call), :mod:`.cli` (``llmmec experiment``).
See docs/EXPERIMENTS.md.

Importing this package does not import Dask or matplotlib.
"""

from .pipeline import ExperimentResult, build_report, run_experiment
from .tasks import EXPERIMENTS, PAPER_METHODS, Experiment, ExperimentConfig, Task, configure, run_task

__all__ = ["run_experiment", "build_report", "ExperimentResult", "EXPERIMENTS", "PAPER_METHODS", "Experiment",
           "ExperimentConfig", "Task", "configure", "run_task"]
