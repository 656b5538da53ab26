"""Re-solving one Pyomo NLP with changed data, without writing it again (issue 16).

``SolverFactory('cyipopt').solve(model)`` writes the model to an NL file (Pyomo's
NL writer, then PyNumero's ASL reads it back) on *every* solve.  For AO part 2
at 1000 users × 20 servers that is ~0.6 s of a ~2 s solve, and part 2 solves the
same model ~100 times with only its data changed.  :class:`PersistentIpopt`
writes it once:

* the data that change between solves (φ, y, the quadratic transform's anchors,
  the units of T and of the objective) are declared in the Pyomo model as
  **fixed variables** (``Var`` + ``fix()``).  Every other solver sees them as
  constants, exactly like mutable Params;
* here they are unfixed while PyNumero's :class:`PyomoNLP` is built, so they are
  columns of the NL file, and Ipopt sees the other columns only (:class:`_Problem`:
  the decision entries of the gradient, Jacobian and Hessian, taken by positions
  computed once per build — what PyNumero's ``ProjectedNLP`` gives, without its
  per-callback sparse-matrix construction).
  Before each solve their current values are copied into the NLP's primal
  vector; Ipopt optimises the other variables only;
* Ipopt starts from the model's current variable values and, with ``warm=True``
  and when the previous solve of the same NLP ended optimal, from its constraint
  and bound multipliers (``warm_start_init_point``).

Measured on AO part 2 (docs/DESIGN.md, "Scale"): writing the NL file once saves
little by itself (the data columns multiply the Hessian's nonzeros, 13 000 →
186 003 at 1000 users × 20 servers); the gain is the warm start it makes
possible: ~11 Ipopt iterations per re-solve instead of 45–114 for a primal-only
restart, 8× fewer over a DASHF run at (200,10) (6694 → 806).  A warm solve that does not end
optimal is repeated once from the same primal point without the multipliers
(counted in ``cold_retries``).

The NLP is rebuilt when :meth:`PersistentIpopt.invalidate` is called (the
model's structure or a variable bound changed, e.g. a new association), and
after every solve that did not end optimal: a failed solve leaves state behind
in the NLP (where exactly was not isolated — PyNumero's ASL evaluator is the
likely place; a small sequence of failed and feasible solves did not reproduce
it), and a later solve on the same NLP can then fail where a new one succeeds.
Measured on ``lns``'s server NLPs at (3,2) seed 1: 14 of 101 solves ran to the iteration limit on the reused NLP after failures,
each of which a new NLP solved in 16–21 iterations; with the rebuild, every
solve took the same iterations as on a new NLP (161 of 161).

The termination condition is Pyomo's :class:`TerminationCondition`, mapped from
Ipopt's status as Pyomo's own cyipopt interface maps it.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition

from . import interrupts

log = logging.getLogger(__name__)

#: Ipopt options for a warm re-solve (the start is the previous optimum, with its multipliers)
WARM_OPTIONS = {
    "warm_start_init_point": "yes",
    "warm_start_bound_push": 1e-9,
    "warm_start_bound_frac": 1e-9,
    "warm_start_slack_bound_push": 1e-9,
    "warm_start_slack_bound_frac": 1e-9,
    "warm_start_mult_bound_push": 1e-9,
    # the previous optimum is within Ipopt's tolerance of complementarity: restarting the barrier at 1e-8 instead of
    # 1e-6 took AO part 2 from ~18 to ~11 iterations per re-solve at (200,10) and (1000,20) (docs/DESIGN.md, "Scale")
    "mu_init": 1e-8,
}


def _termination(status_msg) -> TerminationCondition:
    from pyomo.contrib.pynumero.algorithms.solvers.cyipopt_solver import _cyipopt_status_enum, _ipopt_term_cond

    return _ipopt_term_cond[_cyipopt_status_enum[status_msg]]


class PersistentIpopt:
    """Ipopt (cyipopt) on one Pyomo model whose NL representation is built once.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        The NLP (one active objective, continuous variables).
    data_vars : iterable of Var or VarData
        The fixed variables that hold data changed between solves; they must be
        fixed (``fix()``) and appear in the model's expressions.
    options : dict
        Ipopt options for every solve (``print_level``, ``tol``, ...).
    warm : bool
        Start from the previous solve's multipliers when it ended optimal.

    Attributes
    ----------
    builds : int
        How many times the NLP was built (NL file written).
    solves, iterations : int
        Solves and Ipopt iterations so far (a cold retry counts in both).
    cold_retries : int
        Warm solves that did not end optimal and were repeated without the multipliers.
    """

    def __init__(self, model, data_vars, options: dict, *, warm: bool = True):
        self.model = model
        self.data = [v for comp in data_vars for v in (comp.values() if comp.is_indexed() else (comp,))]
        if not all(v.fixed for v in self.data):
            raise ValueError("PersistentIpopt: every data variable must be fixed (Var.fix())")
        self.options = dict(options)
        self.warm = warm
        self.builds = self.solves = self.iterations = self.cold_retries = 0
        self.build_seconds = 0.0
        self._nlp = None
        self._stale = False

    def invalidate(self) -> None:
        """Forget the NLP (rebuilt at the next solve): call after a structural or bound change."""
        self._nlp = None

    def _build(self):
        from pyomo.contrib.pynumero.interfaces.pyomo_nlp import PyomoNLP

        t0 = time.perf_counter()
        self._nlp, self._duals = None, None  # a build that raises leaves nothing half-replaced: the next solve builds
        for v in self.data:
            v.unfix()
        try:
            nlp = PyomoNLP(self.model)
        finally:
            for v in self.data:
                v.fix()
        pvars = nlp.get_pyomo_variables()
        index = {id(v): i for i, v in enumerate(pvars)}
        data_ids = {id(v) for v in self.data}
        self._data_idx = np.array([index[id(v)] for v in self.data if id(v) in index], dtype=int)
        self._data_used = [v for v in self.data if id(v) in index]  # a data var no expression uses is not in the NLP
        self._dec_vars = [v for v in pvars if id(v) not in data_ids]
        # the decision columns, in the NLP's order (so a lower-triangle entry stays one after dropping the data)
        self._dec_idx = dec = np.array([index[id(v)] for v in self._dec_vars], dtype=int)
        pos = np.full(nlp.n_primals(), -1, dtype=int)
        pos[dec] = np.arange(len(dec))
        jac = nlp.evaluate_jacobian()
        keep = np.flatnonzero(pos[jac.col] >= 0)
        self._jac_structure = (jac, keep, (jac.row[keep].astype(int), pos[jac.col[keep]]))
        hes = nlp.evaluate_hessian_lag()
        r, c = pos[hes.row], pos[hes.col]
        keep = np.flatnonzero((r >= 0) & (c >= 0) & (r >= c))
        self._hes_structure = (hes, keep, (r[keep], c[keep]))
        self._nlp = nlp
        self._duals = None  # (mult_g, zL, zU) of the last optimal solve
        self._stale = False
        self.builds += 1
        self.build_seconds += time.perf_counter() - t0

    def solve(self, *, warm: bool | None = None):
        """Solve from the model's current values; load the optimum into the model.

        Returns
        -------
        (TerminationCondition, int, float)
            Pyomo's termination condition, Ipopt's iterations, the objective's
            value at Ipopt's point in the model's sense.
        """
        if self._nlp is None or self._stale:
            self._build()
        x_full = self._nlp.get_primals().copy()
        x_full[self._data_idx] = [v.value for v in self._data_used]
        x0 = np.array([v.value for v in self._dec_vars], dtype=float)
        lo, hi = self._nlp.primals_lb()[self._dec_idx], self._nlp.primals_ub()[self._dec_idx]
        x0 = np.minimum(np.maximum(x0, lo), hi)
        x_full[self._dec_idx] = x0
        self._nlp.set_primals(x_full)
        use_warm = (self.warm if warm is None else warm) and self._duals is not None
        x, info, n_it = self._run(x0, use_warm)
        tc = _termination(info["status_msg"])
        if use_warm and tc != TerminationCondition.optimal and interrupts.requested() is None:
            # the multipliers of the previous optimum did not carry over: the same start, cold, on a new NLP
            self.cold_retries += 1
            self._build()
            self._nlp.set_primals(x_full)
            x, info, n_cold = self._run(x0, False)
            n_it += n_cold
            tc = _termination(info["status_msg"])
        for v, val in zip(self._dec_vars, x):  # as returned, NaN included: the caller's evaluator judges the point
            v.set_value(float(val), skip_validation=True)
        self._duals = (info["mult_g"].copy(), info["mult_x_L"].copy(), info["mult_x_U"].copy()) \
            if tc == TerminationCondition.optimal else None
        self._last_mult_g = info["mult_g"].copy()
        if tc != TerminationCondition.optimal:
            self._stale = True  # rebuilt before the next solve (see the module docstring)
        obj = float(info["obj_val"])
        sense = next(self.model.component_data_objects(pyo.Objective, active=True)).sense
        # PyNumero's NLP minimises: a maximisation objective is negated in it
        return tc, n_it, (-obj if sense == pyo.maximize else obj)

    def constraint_multipliers(self, constraints) -> np.ndarray:
        """The last solve's multipliers of ``constraints`` (ConstraintData), as the sensitivity of the
        model's objective to each constraint's right-hand side: the change of the objective per unit of ub
        for an active ``body <= ub`` — ≥ 0 for a maximisation (raising ub raises the objective), ≤ 0 for a
        minimisation (raising ub lowers it)."""
        idx = self._nlp.get_constraint_indices(list(constraints))
        lam = np.asarray(self._last_mult_g, dtype=float)[idx]
        return lam if self._sense() == pyo.maximize else -lam

    def _sense(self):
        return next(self.model.component_data_objects(pyo.Objective, active=True)).sense

    def _run(self, x0, use_warm: bool):
        """One Ipopt run on the decision columns from ``x0`` (the data columns as set in the NLP); returns
        (x, info, iterations)."""
        # False: Ipopt stops at once (User_Requested_Stop)
        problem = _Problem(self, lambda: interrupts.requested() is None)
        opts = {**self.options, **(WARM_OPTIONS if use_warm else {})}
        for k, v in opts.items():
            problem.add_option(k, v)
        try:
            with interrupts.deferred():
                if use_warm:
                    g, zl, zu = self._duals
                    x, info = problem.solve(x0, lagrange=g, zl=zl, zu=zu)
                else:
                    x, info = problem.solve(x0)
        finally:
            problem.close()
        self.solves += 1
        self.iterations += problem.iterations
        return x, info, problem.iterations


def _problem_base():
    from pyomo.contrib.pynumero.interfaces.cyipopt_interface import CyIpoptProblemInterface

    return CyIpoptProblemInterface


class _Problem(_problem_base()):
    """cyipopt's view of a built NLP with its data columns held at their values: the decision columns only.

    PyNumero's ``CyIpoptNLP(ProjectedNLP(nlp))`` gives the same problem; this reads the full NLP's Jacobian and
    Hessian into preallocated matrices and takes the decision entries by precomputed positions, where the
    projection builds new sparse matrices at every callback (measured: ~0.6 ms of Python per Ipopt iteration on
    lns's 18-variable server NLPs, about as much as Ipopt itself)."""

    def __init__(self, owner, callback):
        nlp, dec = owner._nlp, owner._dec_idx
        self._nlp, self._dec, self._intermediate_callback = nlp, dec, callback
        self._x_full = nlp.get_primals().copy()
        self._x = self._x_full[dec].copy()
        self._y = None
        self._obj_factor = None
        self._jac, self._jac_keep, self._jac_rc = owner._jac_structure
        self._hes, self._hes_keep, self._hes_rc = owner._hes_structure
        self.iterations = 0
        from cyipopt import CyIpoptEvaluationError
        from pyomo.contrib.pynumero.exceptions import PyNumeroEvaluationError

        self._pynumero_error, self._cyipopt_error = PyNumeroEvaluationError, CyIpoptEvaluationError
        super().__init__()

    # -- the problem's data
    def x_init(self):
        return self._x.copy()

    def x_lb(self):
        return self._nlp.primals_lb()[self._dec]

    def x_ub(self):
        return self._nlp.primals_ub()[self._dec]

    def g_lb(self):
        return self._nlp.constraints_lb()

    def g_ub(self):
        return self._nlp.constraints_ub()

    def scaling_factors(self):
        return None, None, None

    # -- evaluations (an evaluation error is a failed step for Ipopt, not an exception: halt_on_evaluation_error=False)
    def _at(self, x):
        if not np.array_equal(x, self._x):
            self._x = np.array(x, dtype=float)
            self._x_full[self._dec] = self._x
            self._nlp.set_primals(self._x_full)

    def _eval(self, what, fn):
        try:
            return fn()
        except self._pynumero_error:
            raise self._cyipopt_error(f"Error in {what} evaluation") from None

    def objective(self, x):
        self._at(x)
        return self._eval("objective function", self._nlp.evaluate_objective)

    def gradient(self, x):
        self._at(x)
        return self._eval("objective gradient", lambda: self._nlp.evaluate_grad_objective()[self._dec])

    def constraints(self, x):
        self._at(x)
        return self._eval("constraint", self._nlp.evaluate_constraints)

    def jacobianstructure(self):
        return self._jac_rc

    def jacobian(self, x):
        self._at(x)
        self._eval("constraint Jacobian", lambda: self._nlp.evaluate_jacobian(out=self._jac))
        return self._jac.data[self._jac_keep]

    def hessianstructure(self):
        return self._hes_rc

    def hessian(self, x, y, obj_factor):
        self._at(x)
        if self._y is None or not np.array_equal(y, self._y):
            self._y = np.array(y, dtype=float)
            self._nlp.set_duals(self._y)
        if obj_factor != self._obj_factor:
            self._obj_factor = obj_factor
            self._nlp.set_obj_factor(obj_factor)
        self._eval("Lagrangian Hessian", lambda: self._nlp.evaluate_hessian_lag(out=self._hes))
        return self._hes.data[self._hes_keep]

    def intermediate(self, alg_mod, iter_count, *args):
        self.iterations = int(iter_count)
        return self._intermediate_callback()

