"""Which solvers are here, and whether they really solve (``llmmec doctor``).

Each check solves a tiny problem rather than trusting an import.  Results are
cached per process.  ``require(name)`` raises :class:`SolverUnavailable` with
the command that fixes the problem.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from dataclasses import dataclass

from .errors import SolverUnavailable

FIX_SETUP = "run `make setup` (installs the packages and builds PyNumero's ASL library)"
#: the pip (size-limited) Gurobi licence: LP/MILP models up to 2000 variables and 2000 linear constraints ...
GUROBI_SIZE_LIMIT = 2000
#: ... but nonconvex quadratic (bilinear, NonConvex=2) and general nonlinear models only up to 200 variables
#: (measured with gurobipy 13.0.3: 199 solves, 201 fails with "Model too large for size-limited license")
GUROBI_NONLINEAR_SIZE_LIMIT = 200
GUROBI_LIMITS_TEXT = (f"at most {GUROBI_NONLINEAR_SIZE_LIMIT} variables for nonconvex quadratic or general nonlinear "
                      f"models, {GUROBI_SIZE_LIMIT} variables and linear constraints for LP/MILP")


_HIGHS_BANNER_DONE = False


def new_highs(**options):
    """A silent ``highspy.Highs`` with ``options`` set.

    HiGHS's constructor prints its banner on the process's standard output (file descriptor 1, from C++) the first
    time one is made in a process, before ``output_flag`` can be turned off: the first construction runs with
    descriptor 1 pointed at the null device (C's buffer flushed before it is restored)."""
    import highspy

    global _HIGHS_BANNER_DONE
    if _HIGHS_BANNER_DONE:
        h = highspy.Highs()
    else:
        import ctypes
        import os
        import sys

        sys.stdout.flush()
        try:
            saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        except OSError:  # no descriptor 1 to hide (closed): nothing can be printed on it either
            h = highspy.Highs()
        else:
            try:
                os.dup2(null, 1)
                h = highspy.Highs()
                ctypes.CDLL(None).fflush(None)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
        _HIGHS_BANNER_DONE = True
    h.setOptionValue("output_flag", False)
    for k, v in options.items():
        h.setOptionValue(k, v)
    return h


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    def line(self) -> str:
        state = "OK " if self.ok else ("FAIL" if self.required else "n/a ")
        tail = "" if self.ok or not self.fix else f" -> fix: {self.fix}"
        return f"[{state}] {self.name:<14} {self.detail}{tail}"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except Exception:  # noqa: BLE001 - a version string is informative only
        return "?"


@functools.lru_cache(maxsize=None)
def check_ipopt() -> Check:
    try:
        import cyipopt
    except ImportError:
        return Check("cyipopt/Ipopt", False, "cyipopt is not installed", "pip install cyipopt-wheels (or " + FIX_SETUP + ")")
    ipopt_v = ".".join(map(str, getattr(cyipopt, "IPOPT_VERSION", ()))) or "?"
    from pyomo.contrib.pynumero.asl import AmplInterface

    if not AmplInterface.available():
        return Check("cyipopt/Ipopt", False, f"cyipopt {cyipopt.__version__}, Ipopt {ipopt_v}, but PyNumero's ASL library is missing",
                     "python -m pyomo_llmmec.setup_tools build-pynumero (needs libamplsolver-dev cmake g++), or " + FIX_SETUP)
    try:
        import pyomo.environ as pyo

        m = pyo.ConcreteModel()
        m.x = pyo.Var(bounds=(0.1, 10), initialize=1)
        m.o = pyo.Objective(expr=(m.x - 2) ** 2 + pyo.log(m.x))
        res = pyo.SolverFactory("cyipopt").solve(m)
        ok = pyo.check_optimal_termination(res)
    except Exception as exc:  # noqa: BLE001
        return Check("cyipopt/Ipopt", False, f"test solve failed: {exc}", FIX_SETUP)
    return Check("cyipopt/Ipopt", ok, f"cyipopt {cyipopt.__version__}, Ipopt {ipopt_v}, PyNumero ASL present" + ("" if ok else "; test NLP not solved"), FIX_SETUP)


@functools.lru_cache(maxsize=None)
def check_gurobi() -> Check:
    try:
        import gurobipy as gp
    except ImportError:
        return Check("Gurobi", False, "gurobipy is not installed", "pip install gurobipy")
    ver = ".".join(map(str, gp.gurobi.version()))
    try:
        env = gp.Env(params={"OutputFlag": 0})
        m = gp.Model(env=env)
        m.addVars(GUROBI_SIZE_LIMIT + 1)
        try:
            m.optimize()
            lic = "full licence (no size limit)"
        except gp.GurobiError as exc:
            if "size-limited" in str(exc):
                lic = (f"size-limited licence ({GUROBI_LIMITS_TEXT}; larger models: HiGHS for the MILPs, SCIP for the "
                       "global method, or a full licence)")
            else:
                raise
        m.dispose()
        env.dispose()
    except Exception as exc:  # noqa: BLE001
        return Check("Gurobi", False, f"gurobipy {ver} cannot solve: {exc}", "install a Gurobi licence (grbgetkey) or pip install gurobipy for the restricted one")
    return Check("Gurobi", True, f"gurobipy {ver}, {lic}")


@functools.lru_cache(maxsize=None)
def gurobi_size_limited() -> bool:
    c = check_gurobi()
    return c.ok and "size-limited" in c.detail


@functools.lru_cache(maxsize=None)
def check_highs() -> Check:
    try:
        import highspy  # noqa: F401
        import pyomo.environ as pyo

        m = pyo.ConcreteModel()
        m.x = pyo.Var(domain=pyo.Binary)
        m.y = pyo.Var(bounds=(0, 4))
        m.c = pyo.Constraint(expr=m.y <= 3 * m.x + 0.5)
        m.o = pyo.Objective(expr=m.y - m.x, sense=pyo.maximize)
        opt = pyo.SolverFactory("appsi_highs")
        if not opt.available():
            return Check("HiGHS", False, "highspy present but Pyomo's appsi_highs is unavailable", "pip install highspy")
        opt.solve(m)
        ok = abs(pyo.value(m.o) - 2.5) < 1e-6
        ver = _version("highspy")
        return Check("HiGHS", ok, f"highspy {ver} via appsi_highs" + ("" if ok else ": wrong answer on test MILP"), "pip install -U highspy")
    except ImportError:
        return Check("HiGHS", False, "highspy is not installed", "pip install highspy")
    except Exception as exc:  # noqa: BLE001
        return Check("HiGHS", False, f"test MILP failed: {exc}", "pip install -U highspy")


@functools.lru_cache(maxsize=None)
def check_scip() -> Check:
    """SCIP through Pyomo's ``scip_direct`` (pyscipopt): solves a tiny MINLP with a log, a product and a binary."""
    try:
        import pyscipopt
    except ImportError:
        return Check("SCIP", False, "pyscipopt is not installed", "pip install pyscipopt (or " + FIX_SETUP + ")")
    try:
        import math

        import pyomo.environ as pyo
        from pyomo.contrib.solver.common.factory import SolverFactory

        opt = SolverFactory("scip_direct")
        if not opt.available():
            return Check("SCIP", False, f"pyscipopt {pyscipopt.__version__} present but Pyomo's scip_direct is unavailable",
                         "pip install -U pyomo pyscipopt")
        m = pyo.ConcreteModel()
        m.x = pyo.Var(bounds=(0, 5))
        m.w = pyo.Var(bounds=(0, 1))
        m.z = pyo.Var(domain=pyo.Binary)
        m.on = pyo.Constraint(expr=m.x <= 5 * m.z)
        m.prod = pyo.Constraint(expr=m.w * m.x <= 1)  # a bilinear term
        m.o = pyo.Objective(expr=2 * pyo.log(1 + m.x) - m.x - 0.1 * m.z + 0.5 * m.w, sense=pyo.maximize)
        res = opt.solve(m, raise_exception_on_nonoptimal_result=False)
        best = 2 * math.log(2.0) - 1 - 0.1 + 0.5  # x = 1, z = 1, w = 1
        ok = res.incumbent_objective is not None and abs(res.incumbent_objective - best) < 1e-5
        scip_v = f"{pyscipopt.Model().version():g}"
    except Exception as exc:  # noqa: BLE001
        return Check("SCIP", False, f"test MINLP failed: {exc}", "pip install -U pyscipopt")
    return Check("SCIP", ok, f"pyscipopt {pyscipopt.__version__} (SCIP {scip_v}) via scip_direct, no size limit"
                 + ("" if ok else f": wrong answer on the test MINLP ({res.incumbent_objective} != {best:.6f})"), "pip install -U pyscipopt")


@functools.lru_cache(maxsize=None)
def sdp_solvers() -> tuple:
    """cvxpy SDP-capable solvers installed here, preferred first."""
    try:
        import cvxpy as cp
    except ImportError:
        return ()
    have = set(cp.installed_solvers())
    return tuple(s for s in ("CLARABEL", "SCS", "MOSEK") if s in have)


@functools.lru_cache(maxsize=None)
def check_sdp() -> Check:
    try:
        import cvxpy as cp
        import numpy as np
    except ImportError:
        return Check("SDP (cvxpy)", False, "cvxpy is not installed", "pip install cvxpy clarabel scs")
    solvers = sdp_solvers()
    if not solvers:
        return Check("SDP (cvxpy)", False, f"cvxpy {cp.__version__} has no SDP solver", "pip install clarabel scs")
    try:
        X = cp.Variable((3, 3), PSD=True)
        C = np.diag([1.0, 2.0, 3.0])
        prob = cp.Problem(cp.Minimize(cp.trace(C @ X)), [cp.trace(X) == 1])
        prob.solve(solver=solvers[0])
        ok = prob.status == cp.OPTIMAL and abs(prob.value - 1.0) < 1e-5
    except Exception as exc:  # noqa: BLE001
        return Check("SDP (cvxpy)", False, f"test SDP failed: {exc}", "pip install -U cvxpy clarabel")
    return Check("SDP (cvxpy)", ok, f"cvxpy {cp.__version__} with {', '.join(solvers)}" + ("" if ok else ": wrong answer on test SDP"))


@functools.lru_cache(maxsize=None)
def check_dask() -> Check:
    try:
        import dask
        import distributed
    except ImportError:
        return Check("Dask", False, "dask[distributed] is not installed", 'pip install "dask[distributed]"')
    return Check("Dask", True, f"dask {dask.__version__}, distributed {distributed.__version__}")


@functools.lru_cache(maxsize=None)
def check_mindtpy() -> Check:
    try:
        import pyomo.environ as pyo

        opt = pyo.SolverFactory("mindtpy")
        ok = opt.available()
    except Exception as exc:  # noqa: BLE001
        return Check("MindtPy", False, f"unavailable: {exc}", "pip install -U pyomo", required=False)
    ip, hi = check_ipopt(), check_highs()
    if not (ok and ip.ok and hi.ok):
        return Check("MindtPy", False, "needs cyipopt (NLP) and HiGHS or Gurobi (MILP)", FIX_SETUP, required=False)
    import pyomo

    return Check("MindtPy", True, f"Pyomo {pyomo.__version__} MindtPy with nlp_solver=cyipopt, mip_solver=appsi_highs", required=False)


CHECKS = {
    "ipopt": check_ipopt,
    "gurobi": check_gurobi,
    "scip": check_scip,
    "highs": check_highs,
    "sdp": check_sdp,
    "dask": check_dask,
    "mindtpy": check_mindtpy,
}


def all_checks() -> list[Check]:
    logging.getLogger("pyomo").setLevel(logging.ERROR)
    return [f() for f in CHECKS.values()]


def require(name: str) -> None:
    """Raise SolverUnavailable (with the fix) unless solver ``name`` works here."""
    c = CHECKS[name]()
    if not c.ok:
        raise SolverUnavailable(f"{c.name} is not usable: {c.detail}" + (f" (fix: {c.fix})" if c.fix else ""))


def available(name: str) -> bool:
    return CHECKS[name]().ok
