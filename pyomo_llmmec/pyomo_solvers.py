"""pyomo_llmmec's methods as Pyomo solvers: ``SolverFactory('llmmec.<method>')``.

Importing :mod:`pyomo_llmmec` registers one solver per method of
:data:`pyomo_llmmec.methods.METHOD_NAMES` (``llmmec.dashf``, ``llmmec.lns``,
``llmmec.gucaa``, ...), the way Pyomo's MindtPy and GDPopt register
themselves::

    import pyomo.environ as pe
    import pyomo_llmmec as lm

    model = lm.build_model(lm.read_scenario("data/toy_3x2.xlsx"))
    results = pe.SolverFactory("llmmec.dashf").solve(model, assoc="milp", time_limit=60)
    print(results.solver.termination_condition, results.problem.lower_bound)

``solve(model, **options)`` runs :func:`pyomo_llmmec.solve` on the scenario the
model was built from (``model.scenario``), loads the evaluated solution into
the model's variables (:func:`pyomo_llmmec.model.full.load_solution`) and
returns a :class:`pyomo.opt.SolverResults`.  The options are those of
:class:`~pyomo_llmmec.methods.options.SolveOptions` — the solvers' ``CONFIG``
is generated from that dataclass, so defaults, allowed values and
documentation are declared once — plus Pyomo's ``tee`` (print progress) and
``load_solutions``.

The problem bounds in the results are bounds on the SCR (2), the quantity the
methods maximise: ``lower_bound`` is the SCR of the returned (feasible)
point, ``upper_bound`` a proven upper bound where the method has one
(``global``), else +inf.  They are not bounds on ``model.obj`` (the Dinkelbach
objective at the model's own ``y``).

Importing this module (and so :mod:`pyomo_llmmec`) loads only ``pyomo.opt``:
the method names and one-line docs are read from the source of
:mod:`pyomo_llmmec.methods`, which (with ``pyomo.environ``) is imported at the
first use of a solver's ``CONFIG``, i.e. when a solver is created.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import math
import time
from pathlib import Path

from pyomo.opt import ProblemSense, SolverFactory, SolverResults, SolverStatus, TerminationCondition

from .errors import SolveFailed
from .status import ALIASES, Status

PREFIX = "llmmec."

#: Solution.status text → (TerminationCondition, SolverStatus), generated from the one vocabulary
#: (:class:`~pyomo_llmmec.status.Status`) and its older spellings (``max_iter``, ``ok``)
TERMINATION = {**{s.value: (s.termination_condition, s.solver_status) for s in Status},
               **{old: (Status(new).termination_condition, Status(new).solver_status) for old, new in ALIASES.items()}}
UNKNOWN_STATUS = TERMINATION[Status.UNKNOWN.value]

#: Pyomo's own keyword arguments, added to the generated CONFIG
PYOMO_KWARGS = {
    "tee": (False, "print the method's progress (sets verbose=True)"),
    "load_solutions": (True, "load the solution into the model's variables (False: only return the results)"),
}

_METHODS_SOURCE = Path(__file__).with_name("methods") / "__init__.py"


# ---------------------------------------------------------------------------------------
# the method names, without importing pyomo_llmmec.methods
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _method_catalogue() -> tuple[tuple[str, ...], dict[str, str]]:
    """(METHOD_NAMES, {name: first line of its docstring}) of pyomo_llmmec.methods.

    Read from the module's source with :mod:`ast` (a few milliseconds), so that
    ``import pyomo_llmmec`` does not import the methods and ``pyomo.environ``;
    if the source cannot be read that way, the module is imported instead.
    """
    try:
        tree = ast.parse(_METHODS_SOURCE.read_text(encoding="utf-8"))
        names = None
        docs = {}
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "METHOD_NAMES" for t in node.targets):
                names = tuple(ast.literal_eval(node.value))
            elif isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    if (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Name) and deco.func.id == "register"
                            and deco.args and isinstance(deco.args[0], ast.Constant)):
                        docs[deco.args[0].value] = (ast.get_docstring(node) or "").strip().splitlines()[0:1]
        if not names or not all(isinstance(n, str) for n in names):
            raise ValueError("METHOD_NAMES not found")
        return names, {k: v[0] for k, v in docs.items() if v}
    except (OSError, SyntaxError, ValueError):
        from . import methods

        return tuple(methods.METHOD_NAMES), {k: (fn.__doc__ or "").strip().splitlines()[0] for k, fn in methods.METHODS.items() if fn.__doc__}


# ---------------------------------------------------------------------------------------
# CONFIG, generated from SolveOptions
# ---------------------------------------------------------------------------------------


def _domain(f: dataclasses.Field):
    """The pyomo.common.config domain of one SolveOptions field, from its default and metadata."""
    from pyomo.common.config import (Bool, In, NonNegativeFloat, NonNegativeInt, PositiveFloat,
                                     PositiveInt)

    md, default = f.metadata, f.default
    if md.get("choices"):
        return In(tuple(md["choices"]))
    if isinstance(default, bool):
        return Bool
    if md.get("integer") or isinstance(default, int):
        return PositiveInt if md.get("positive") else NonNegativeInt if md.get("nonneg") else int
    if isinstance(default, float):
        return PositiveFloat if md.get("positive") else NonNegativeFloat if md.get("nonneg") else float
    if isinstance(default, str):
        return str
    return None  # SolveOptions validates whatever it is


def config_from_options(cls=None, method: str | None = None):
    """A ConfigDict with one ConfigValue per field of ``cls`` (default SolveOptions): default, domain, doc.

    With ``method``, the defaults are that method's own where it declares one
    (:meth:`~pyomo_llmmec.methods.options.SolveOptions.method_defaults`, e.g. ``time_limit`` of global)."""
    from pyomo.common.config import ConfigDict, ConfigValue

    if cls is None:
        from .methods.options import SolveOptions as cls
    own = cls.method_defaults(method) if method else {}
    cfg = ConfigDict(description=f"options of pyomo_llmmec.solve (SolveOptions){f' for method {method!r}' if method else ''}")
    for f in dataclasses.fields(cls):
        cfg.declare(f.name, ConfigValue(default=own.get(f.name, f.default), domain=_domain(f), doc=f.metadata.get("doc", "")))
    return cfg


@functools.lru_cache(maxsize=None)
def solver_config(method: str | None = None):
    """The CONFIG of the ``llmmec.<method>`` solver (built once per method): the shared base — SolveOptions' fields and
    Pyomo's tee/load_solutions — with the method's own defaults; ``method=None``: the base itself."""
    from pyomo.common.config import Bool, ConfigValue, document_kwargs_from_configdict

    cfg = config_from_options(method=method)
    for name, (default, doc) in PYOMO_KWARGS.items():
        cfg.declare(name, ConfigValue(default=default, domain=Bool, doc=doc))
    if method is None:
        document_kwargs_from_configdict(cfg, doc=_SOLVE_DOC)(LLMMECSolver.solve)
    return cfg


class _ConfigAttribute:
    """``CONFIG`` as a class attribute that is built on first access (it imports the methods)."""

    def __get__(self, obj, cls=None):
        method = getattr(cls if cls is not None else type(obj), "method", "") or None
        if method is not None:
            solver_config()  # the base documents LLMMECSolver.solve
        return solver_config(method)


# ---------------------------------------------------------------------------------------
# requirements
# ---------------------------------------------------------------------------------------


def requirements(method: str, options=None, scenario=None) -> tuple[str, ...]:
    """The checks of :mod:`pyomo_llmmec.solvers` that ``method`` needs with these options.

    ``options``: a mapping (or ConfigDict) of SolveOptions fields, default the
    defaults.  ``assoc='auto'`` needs the SDR's solver unless ``scenario`` is
    given and too large for the SDR.
    """
    from pyomo.common.config import ConfigDict

    cfg = options if isinstance(options, ConfigDict) else solver_config(method)(dict(options or {}))

    def assoc_needs(assoc=None):
        from .methods.blocks import choose_assoc

        assoc = assoc or cfg.assoc
        if assoc == "auto":  # without a scenario: as for a small one (the SDR, the route that needs most)
            assoc = choose_assoc(assoc, scenario, cfg) if scenario is not None else "sdr"
        return {"sdr": ("highs", "sdp"), "milp": ("highs",), "lp": ("highs",), "gap": ("highs",), "gurobi": ("highs", "gurobi")}[assoc]

    def needs(name, seen=(), assoc=None):
        if name in ("initial", "rucaa", "gucaa"):
            return ()
        if name == "gucro":
            return ("ipopt",)
        if name == "aauco":
            return assoc_needs()
        if name == "dashf":
            return ("ipopt",) + assoc_needs(assoc)
        if name == "global":
            from . import solvers

            own = {"gurobi": ("gurobi",), "scip": ("scip",)}.get(cfg.solver) or (
                ("gurobi",) if solvers.available("gurobi") and not solvers.available("scip") else ("scip",))
            return own + (needs(cfg.warm_start_method) if cfg.warm_start else ())
        if name == "mindtpy":
            return ("ipopt", "highs", "mindtpy")
        if name == "lns":
            from .methods import LNS_STARTS

            # unknown names: the method reports the bad option
            starts = [LNS_STARTS[s.strip()] for s in cfg.lns_starts.split(",") if s.strip() in LNS_STARTS]
            return ("ipopt",) + tuple(r for method, extra in starts for r in needs(method, assoc=extra.get("assoc")))
        raise ValueError(f"unknown method {name!r}")

    return tuple(dict.fromkeys(needs(method)))


# ---------------------------------------------------------------------------------------
# the solver
# ---------------------------------------------------------------------------------------

_SOLVE_DOC = """Solve ``model`` (built by :func:`pyomo_llmmec.build_model`) with this method.

Runs :func:`pyomo_llmmec.solve` on ``model.scenario``, loads the evaluated
solution into the model's variables (unless ``load_solutions=False``) and
returns a :class:`pyomo.opt.SolverResults`.  The problem bounds are bounds
on the SCR (2).  A failed solve (:class:`~pyomo_llmmec.errors.SolveFailed`)
returns results with termination condition ``error``; a missing solver
raises :class:`~pyomo_llmmec.errors.SolverUnavailable`.  Options may also be
given as ``options={...}``; keyword arguments take precedence.

Args:
    model (ConcreteModel): a model of :func:`pyomo_llmmec.build_model`
"""


def _count(model):
    import pyomo.environ as pyo

    vars_ = list(model.component_data_objects(pyo.Var, descend_into=True))
    n_bin = sum(1 for v in vars_ if v.is_binary())
    n_int = sum(1 for v in vars_ if v.is_integer() and not v.is_binary())
    n_con = sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    return len(vars_), n_con, n_bin, n_int


class LLMMECSolver:
    """A pyomo_llmmec method as a Pyomo solver (subclassed once per method: ``llmmec.<method>``)."""

    method: str = ""
    name: str = ""
    CONFIG = _ConfigAttribute()

    def __init__(self, **kwds):
        options = kwds.pop("options", None) or {}
        self.config = self.CONFIG(options)
        self.config.set_value(kwds)
        self.last_solution = None  # the pyomo_llmmec Solution of the last solve (history, info)

    # -- Pyomo's solver protocol ---------------------------------------------------------
    def available(self, exception_flag=False) -> bool:
        """Whether every solver this method needs (with this solver's options) works here."""
        from . import solvers

        need = requirements(self.method, self.config)
        ok = all(solvers.available(r) for r in need)
        if not ok and exception_flag:
            for r in need:
                solvers.require(r)  # raises SolverUnavailable with the fix
        return ok

    def license_is_valid(self) -> bool:
        return self.available()

    def version(self) -> tuple:
        from . import __version__

        return tuple(int(p) if p.isdigit() else p for p in __version__.split("."))

    def __enter__(self):
        return self

    def __exit__(self, t, v, traceback):
        pass

    def solve(self, model, **kwds):
        options = kwds.pop("options", None) or {}
        config = self.config(options)
        config.set_value(kwds)  # unknown names and bad values raise ValueError here
        scenario = getattr(model, "scenario", None)
        if scenario is None:
            raise ValueError(f"{self.name}: the model has no 'scenario' attribute; build it with "
                             "pyomo_llmmec.build_model(scenario)")
        from .methods import solve
        from .methods.options import SolveOptions

        opts = {f.name: config[f.name] for f in dataclasses.fields(SolveOptions)}
        if config.tee:
            opts["verbose"] = True

        results = SolverResults()
        results.solver.name = self.name
        results.problem.name = model.name
        results.problem.sense = ProblemSense.maximize
        nv, nc, nb, ni = _count(model)
        results.problem.number_of_variables = nv
        results.problem.number_of_constraints = nc
        results.problem.number_of_binary_variables = nb
        results.problem.number_of_integer_variables = ni
        results.problem.number_of_continuous_variables = nv - nb - ni

        t0 = time.perf_counter()
        try:
            sol = solve(scenario, self.method, **opts)
        except SolveFailed as exc:
            results.solver.status = SolverStatus.error
            results.solver.termination_condition = TerminationCondition.error
            results.solver.message = f"{self.name} failed ({exc.status}) - {exc}"
            results.solver.termination_message = results.solver.message
            results.solver.wallclock_time = time.perf_counter() - t0
            self.last_solution = None
            return results
        self.last_solution = sol
        if config.load_solutions:
            from .model.full import load_solution

            load_solution(model, sol, scenario)
        results.solver.wallclock_time = time.perf_counter() - t0

        tc, st = TERMINATION.get(sol.status, UNKNOWN_STATUS)
        results.solver.termination_condition = tc
        results.solver.status = st
        info = sol.info or {}
        results.problem.lower_bound = float(sol.scr)
        bound = info.get("bound")
        if bound is not None and math.isfinite(float(bound)):
            results.problem.upper_bound = float(bound)
        if info.get("outer_iterations") is not None:
            results.solver.iterations = int(info["outer_iterations"])
        msg = f"{self.name} {sol.status}, SCR {sol.scr:.10g}"
        if bound is not None:
            msg += f", SCR upper bound {float(bound):.10g}"
        if not config.load_solutions:
            msg += " (not loaded into the model)"
        warnings = [w for w in info.get("warnings", []) if w]
        if warnings:
            msg += "; " + "; ".join(warnings)
        results.solver.message = msg
        results.solver.termination_message = msg
        return results

    solve.__doc__ = _SOLVE_DOC  # the options are appended when CONFIG is built (solver_config)


# ---------------------------------------------------------------------------------------
# registration
# ---------------------------------------------------------------------------------------


def solver_class(method: str) -> type:
    """The LLMMECSolver subclass of one method (not registered)."""
    return type(f"LLMMEC_{method}", (LLMMECSolver,), {
        "method": method,
        "name": PREFIX + method,
        "__doc__": f"pyomo_llmmec method {method!r} as a Pyomo solver ({PREFIX}{method}); see pyomo_llmmec.pyomo_solvers.",
        "__module__": __name__,
    })


def register_all() -> tuple[str, ...]:
    """Register ``llmmec.<method>`` with Pyomo's SolverFactory for every method; returns the names (idempotent)."""
    names, docs = _method_catalogue()
    out = []
    for method in names:
        name = PREFIX + method
        cls = SolverFactory._cls.get(name)
        if not (isinstance(cls, type) and issubclass(cls, LLMMECSolver) and cls.method == method):
            summary = docs.get(method, "")
            SolverFactory.register(name, doc=f"pyomo_llmmec {method}" + (f": {summary}" if summary else ""))(solver_class(method))
        out.append(name)
    return tuple(out)


__all__ = ["LLMMECSolver", "TERMINATION", "config_from_options", "solver_config", "requirements", "register_all", "solver_class"]
