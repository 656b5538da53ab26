"""The paper's experiments (Section V) as lists of independent, seeded tasks.

An *experiment* is a grid of points (bandwidths, weight pairs, topologies) ×
methods × scenario seeds.  Each combination is one :class:`Task`: generate the
scenario of MODEL.md §7 with ``generate_scenario(users, servers, seed,
**overrides)``, solve it with ``solve(scenario, method, seed=seed, **options)``
and record the metrics (and, for ``convergence``, DASHF's SCR curves).  A task
depends on nothing but its spec, so tasks run in any order on any worker and
give the same record.

This module needs only numpy/pandas: it is what a Dask worker imports to run
:func:`run_task`.

=============  ===========  ==========================================================
experiment     figure       grid (default)
=============  ===========  ==========================================================
convergence    Fig. 2(a-c)  topologies (10, 2) and (20, 3); DASHF; SCR per iteration
baselines      Fig. 3(a)    (10, 2); RUCAA, GUCAA, AAUCO, GUCRO, DASHF
bandwidth      Fig. 3(b)    b_max = 10, 20, ..., 100 MHz per server; every method
weights        Fig. 3(c)    (ω_t, ω_e) = (0.1, 0.009) ... (0.9, 0.001); DASHF
=============  ===========  ==========================================================
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import numbers
import re
import time
import warnings
from dataclasses import dataclass, field

from ..errors import InputError, SolveFailed, SolverUnavailable

#: Methods compared in Fig. 3, in the paper's order (also the order of table rows and legends).
PAPER_METHODS = ("rucaa", "gucaa", "aauco", "gucro", "dashf")
METHOD_LABELS = {"rucaa": "RUCAA", "gucaa": "GUCAA", "aauco": "AAUCO", "gucro": "GUCRO", "dashf": "DASHF"}

#: Metric columns of every run (one row per task in ``results.csv``).
METRICS = ("scr", "service", "delay_s", "energy_j", "outer_iterations", "part1_steps", "part2_steps")

#: Format version of the per-task JSON files; a file with another version is recomputed.
RECORD_VERSION = 1


@dataclass(frozen=True)
class Experiment:
    """One of the paper's figures as a grid of tasks.

    ``grid_kind`` names what the points of ``grid`` are: ``"bandwidth"`` (MHz per
    server), ``"weights"`` ((ω_t, ω_e) pairs) or ``None`` (a single default point).
    ``sizes`` are the (users, servers) topologies; ``record`` is ``"metrics"`` or
    ``"convergence"`` (metrics plus DASHF's SCR curves from its history).
    """

    name: str
    figure: str
    title: str
    sizes: tuple
    methods: tuple
    grid_kind: str | None = None
    grid: tuple = ()
    record: str = "metrics"
    description: str = ""

    def points(self, grid=None) -> list[dict]:
        """The generator overrides of each grid point (``[{}]`` when the experiment has no grid)."""
        grid = self.grid if grid is None else grid
        if self.grid_kind is None:
            return [{}]
        if self.grid_kind == "bandwidth":
            return [{"bandwidth_hz": float(mhz) * 1e6} for mhz in grid]
        if self.grid_kind == "weights":
            return [{"weight_time": float(wt), "weight_energy": float(we)} for wt, we in grid]
        raise ValueError(self.grid_kind)


EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "convergence", "Fig. 2(a)-(c)", "Convergence of AO part 1, AO part 2 and DASHF",
            sizes=((10, 2), (20, 3)), methods=("dashf",), record="convergence",
            description="SCR per iteration of AO part 1, AO part 2 (inner iterations of the first outer "
                        "iteration) and DASHF (outer iterations), one line per topology",
        ),
        Experiment(
            "baselines", "Fig. 3(a)", "Delay, energy and SCR of the baselines and DASHF",
            sizes=((10, 2),), methods=PAPER_METHODS,
            description="delay, energy and SCR of RUCAA, GUCAA, AAUCO, GUCRO and DASHF",
        ),
        Experiment(
            "bandwidth", "Fig. 3(b)", "SCR versus the per-server bandwidth",
            sizes=((10, 2),), methods=PAPER_METHODS, grid_kind="bandwidth",
            grid=tuple(float(b) for b in range(10, 101, 10)),
            description="SCR of every method as b_max goes 10 -> 100 MHz per server",
        ),
        Experiment(
            "weights", "Fig. 3(c)", "Delay, energy and SCR under different cost weights (ω_t, ω_e)",
            sizes=((10, 2),), methods=("dashf",), grid_kind="weights",
            grid=((0.1, 0.009), (0.3, 0.007), (0.5, 0.005), (0.7, 0.003), (0.9, 0.001)),
            description="delay, energy and SCR of DASHF under several (ω_t, ω_e)",
        ),
    )
}


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; :class:`InputError` naming the valid ones otherwise."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise InputError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}") from None


# ----------------------------------------------------------------------------------------
# tasks
# ----------------------------------------------------------------------------------------


def _num(v: float) -> str:
    """A number for a task key: up to 6 significant digits, no exponent, filename-safe."""
    s = f"{v:.6g}"
    if "e" in s:  # very small or large: fixed notation, trailing zeros stripped
        s = f"{v:.12f}".rstrip("0").rstrip(".")
    return s


@dataclass(frozen=True)
class Task:
    """One run: scenario (users, servers, seed, overrides) × method × options.

    ``key`` is unique within an experiment and names the task's result file
    ``tasks/<key>.json``; ``spec()`` is what the file records and what a
    resumed run compares before it reuses the file.
    """

    experiment: str
    method: str
    users: int
    servers: int
    seed: int
    overrides: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    record: str = "metrics"

    @property
    def key(self) -> str:
        parts = [self.experiment, f"n{self.users}m{self.servers}"]
        if "bandwidth_hz" in self.overrides:
            parts.append(f"bw{_num(self.overrides['bandwidth_hz'] / 1e6)}MHz")
        if "weight_time" in self.overrides or "weight_energy" in self.overrides:
            parts.append(f"wt{_num(self.overrides.get('weight_time', math.nan))}"
                         f"-we{_num(self.overrides.get('weight_energy', math.nan))}")
        parts += [self.method, f"s{self.seed:04d}"]
        return "_".join(parts)

    def spec(self) -> dict:
        """A JSON-able description from which :func:`run_task` runs the task."""
        d = dataclasses.asdict(self)
        d["key"] = self.key
        d["version"] = RECORD_VERSION
        return d


def parse_grid(kind: str | None, text: str):
    """Parse ``--grid``: ``"10,50,100"`` (MHz) for bandwidth, ``"0.1:0.009,0.5:0.005"`` for weights."""
    if kind is None:
        raise InputError("--grid applies only to the experiments 'bandwidth' and 'weights'")
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    if not items:
        raise InputError(f"--grid {text!r} is empty")
    out = []
    for item in items:
        try:
            if kind == "bandwidth":
                out.append(float(item))
            else:
                wt, we = re.split(r"[:/]", item)
                out.append((float(wt), float(we)))
        except ValueError:
            want = "numbers in MHz, e.g. 10,50,100" if kind == "bandwidth" else "pairs w_t:w_e, e.g. 0.1:0.009,0.5:0.005"
            raise InputError(f"--grid item {item!r}: expected {want}") from None
    return tuple(out)


def _check_grid(exp: Experiment, grid) -> tuple:
    grid = tuple(grid)
    if exp.grid_kind is None:
        if grid:
            raise InputError(f"experiment {exp.name!r} has no grid to change")
        return ()
    if not grid:
        raise InputError(f"experiment {exp.name!r}: the grid is empty")
    for g in grid:
        vals = (g,) if exp.grid_kind == "bandwidth" else tuple(g)
        if exp.grid_kind == "weights" and len(vals) != 2:
            raise InputError(f"weights grid: each point is a pair (w_t, w_e), got {g!r}")
        for v in vals:
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                what = "bandwidth (MHz)" if exp.grid_kind == "bandwidth" else "weight"
                raise InputError(f"{exp.name} grid: every {what} must be a finite number > 0, got {v!r}")
    return tuple(float(g) for g in grid) if exp.grid_kind == "bandwidth" else tuple((float(a), float(b)) for a, b in grid)


@dataclass(frozen=True)
class ExperimentConfig:
    """The resolved settings of one run of an experiment (recorded in the workbook's ``settings`` sheet)."""

    experiment: Experiment
    seeds: int
    sizes: tuple
    methods: tuple
    grid: tuple
    options: dict

    @property
    def name(self) -> str:
        return self.experiment.name

    def tasks(self) -> list[Task]:
        """Every task, in table order: size, grid point, method (paper's order), seed."""
        e = self.experiment
        out = []
        for n, m in self.sizes:
            for ov in e.points(self.grid):
                for meth in self.methods:
                    for s in range(self.seeds):
                        out.append(Task(e.name, meth, n, m, s, dict(ov), dict(self.options), e.record))
        keys = [t.key for t in out]
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise InputError(f"two tasks share the key {dup!r}: remove repeated or too-close grid values")
        return out

    def describe(self) -> dict:
        e = self.experiment
        return {
            "experiment": e.name, "figure": e.figure, "title": e.title, "seeds": self.seeds,
            "scenario_seeds": f"0..{self.seeds - 1}",
            "sizes": " ".join(f"{n}x{m}" for n, m in self.sizes), "methods": ",".join(self.methods),
            "grid_kind": e.grid_kind or "", "grid": ",".join(
                _num(g) if e.grid_kind == "bandwidth" else f"{_num(g[0])}:{_num(g[1])}" for g in self.grid),
            "options": json.dumps(self.options, sort_keys=True),
        }


def configure(name: str, *, seeds: int = 20, users: int | None = None, servers: int | None = None,
              sizes=None, grid=None, methods=None, options: dict | None = None) -> ExperimentConfig:
    """Resolve an experiment's settings, checking every one (:class:`InputError` on bad input).

    ``users``/``servers`` override the topology (the experiment then has one
    topology: the given values, the other from the experiment's first default);
    ``sizes`` (list of (users, servers)) overrides it fully.  ``grid`` replaces
    the default grid (MHz for bandwidth, (ω_t, ω_e) pairs for weights);
    ``methods`` the methods; ``options`` are passed to :func:`pyomo_llmmec.solve`.
    """
    from ..methods import METHODS  # the registry of method names (imports Pyomo lazily)

    e = get_experiment(name)
    if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral) or seeds < 1:
        raise InputError(f"seeds must be a whole number >= 1, got {seeds!r}")
    seeds = int(seeds)
    if sizes is not None and (users is not None or servers is not None):
        raise InputError("give either sizes or users/servers, not both")
    if sizes is None:
        if users is None and servers is None:
            sizes = e.sizes
        else:
            n0, m0 = e.sizes[0]
            sizes = ((n0 if users is None else users, m0 if servers is None else servers),)
    sizes = tuple(tuple(s) for s in sizes)
    for s in sizes:
        if len(s) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in s):
            raise InputError(f"a size is (users, servers) with whole numbers >= 1, got {s!r}")
    sizes = tuple((int(n), int(m)) for n, m in sizes)
    if len(set(sizes)) != len(sizes):
        raise InputError(f"repeated size in {sizes!r}")
    methods = e.methods if methods is None else tuple(methods)
    if not methods:
        raise InputError("no methods given")
    for meth in methods:
        if meth not in METHODS:
            raise InputError(f"unknown method {meth!r}; choose from {', '.join(sorted(METHODS))}")
    if len(set(methods)) != len(methods):
        raise InputError(f"repeated method in {','.join(methods)}")
    if e.record == "convergence" and methods != ("dashf",):
        raise InputError("the convergence experiment runs DASHF only (its curves come from DASHF's history)")
    order = {m: i for i, m in enumerate(PAPER_METHODS)}
    methods = tuple(sorted(methods, key=lambda m: (order.get(m, len(order)), m)))
    grid = _check_grid(e, e.grid if grid is None else grid)
    options = dict(options or {})
    if "seed" in options:
        raise InputError("option 'seed' is set per task (= the scenario seed)")
    from ..methods.options import SolveOptions

    SolveOptions.from_kwargs(**options)  # check names and values now, not on the workers
    return ExperimentConfig(e, seeds, sizes, methods, grid, options)


# ----------------------------------------------------------------------------------------
# running one task (on a Dask worker or in-process)
# ----------------------------------------------------------------------------------------


def _clean(v):
    """A value for JSON: numpy scalars to Python, non-finite floats to None."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return v


def run_task(spec: dict) -> dict:
    """Run one task from its :meth:`Task.spec`; never raises for a failed solve.

    Returns the task's record: ``spec``, ``status`` (the solution's status, or
    ``failed`` / ``unavailable`` / ``error``), ``error`` (one line or None),
    ``metrics`` (see :data:`METRICS`; None where not defined), ``loads``,
    ``curves`` (convergence only: rows ``curve, outer, iteration, scr``),
    ``warnings`` and ``wall_s``.  Python warnings raised by the solvers are
    recorded, not printed.
    """
    import pyomo_llmmec as lm

    logging.getLogger("pyomo").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    rec = {"key": spec["key"], "spec": spec, "status": None, "error": None, "metrics": {k: None for k in METRICS},
           "loads": None, "curves": None, "warnings": [], "wall_s": None, "version": RECORD_VERSION}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sc = lm.generate_scenario(spec["users"], spec["servers"], seed=spec["seed"], **spec["overrides"])
            sol = lm.solve(sc, spec["method"], seed=spec["seed"], **spec["options"])
        except SolveFailed as exc:
            rec["status"], rec["error"] = "failed", f"{exc.status}: {exc}"
        except SolverUnavailable as exc:
            rec["status"], rec["error"] = "unavailable", str(exc)
        except Exception as exc:  # noqa: BLE001 - a task must not bring the sweep down; resumed runs retry it
            first = str(exc).splitlines()[0] if str(exc) else ""
            rec["status"], rec["error"] = "error", f"{type(exc).__name__}: {first}"
        else:
            rec["status"] = sol.status
            info = sol.info
            rec["metrics"] = {
                "scr": sol.scr, "service": sol.service, "delay_s": sol.delay, "energy_j": sol.energy,
                "outer_iterations": info.get("outer_iterations"), "part1_steps": info.get("part1_steps"),
                "part2_steps": info.get("part2_steps"),
            }
            rec["loads"] = " ".join(str(int(k)) for k in sol.loads)
            rec["warnings"] += [str(w) for w in info.get("warnings", [])]
            if spec.get("record") == "convergence":
                from .curves import convergence_curves

                rec["curves"] = convergence_curves(sol.history).to_dict("records")
    seen = set()
    for w in caught:
        msg = f"{w.category.__name__}: {w.message}"
        if msg not in seen:
            seen.add(msg)
            rec["warnings"].append(msg)
    rec["metrics"] = {k: _clean(v) for k, v in rec["metrics"].items()}
    if rec["curves"] is not None:
        rec["curves"] = [{k: _clean(v) for k, v in r.items()} for r in rec["curves"]]
    rec["wall_s"] = time.perf_counter() - t0
    return rec
