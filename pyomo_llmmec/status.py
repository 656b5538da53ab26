"""One status vocabulary for every method: :class:`Status` (``Solution.status`` and ``Solution.termination``).

``Status`` is a ``str`` enum, so a status still compares equal to its text
(``sol.status == "converged"``), hashes like it (a dict keyed by the text finds
it) and is written to the solution workbook as that text.  Older spellings are
mapped on the way in (:meth:`Status.parse`): ``max_iter`` → ``iteration_limit``,
``ok`` → ``evaluated``.  Each status has its Pyomo counterpart
(:attr:`Status.termination_condition`, :attr:`Status.solver_status`), which the
``SolverFactory('llmmec.*')`` results report.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """How a method ended (the ``status`` row of the solution workbook's ``summary`` sheet)."""

    OPTIMAL = "optimal"  #: global: the gap is proven closed
    CONVERGED = "converged"  #: dashf, aauco, gucro, mindtpy: the Dinkelbach stopping rule of Algorithm 1 (line 8) met
    LOCAL_OPTIMUM = "local_optimum"  #: lns: no improving move left
    FEASIBLE = "feasible"  #: a feasible point, no claim about optimality
    EVALUATED = "evaluated"  #: initial, rucaa, gucaa: a point built by a rule and evaluated, no optimisation
    TIME_LIMIT = "time_limit"  #: stopped by the time limit (with the best point so far)
    ITERATION_LIMIT = "iteration_limit"  #: stopped by the iteration limit (with the best point so far)
    SOLVER_FAILURE = "solver_failure"  #: a subsolve failed after a point was found (the point is returned)
    INFEASIBLE = "infeasible"  #: the point does not satisfy (3) (the evaluator's verdict)
    INTERRUPTED = "interrupted"  #: stopped by SIGINT / SIGTERM
    UNKNOWN = "unknown"  #: not known (e.g. a solution workbook without a status)

    def __str__(self) -> str:  # the text, also in f-strings and workbooks (not 'Status.CONVERGED')
        return self.value

    __format__ = str.__format__

    @classmethod
    def parse(cls, value) -> "Status":
        """The status named by ``value`` (a Status, its text in any case, or an older alias).

        Raises
        ------
        ValueError
            For any other text, listing the known ones.
        """
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower()
        text = ALIASES.get(text, text)
        try:
            return cls(text)
        except ValueError:
            known = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown status {value!r}: one of {known} (or {', '.join(ALIASES)})") from None

    @property
    def termination_condition(self):
        """Pyomo's ``TerminationCondition`` for this status."""
        return _pyomo()[self][0]

    @property
    def solver_status(self):
        """Pyomo's ``SolverStatus`` for this status."""
        return _pyomo()[self][1]


#: older spellings, still read from workbooks and accepted from code
ALIASES = {"max_iter": "iteration_limit", "ok": "evaluated"}


def _pyomo() -> dict:
    from pyomo.opt import SolverStatus, TerminationCondition

    tc, ss = TerminationCondition, SolverStatus
    return {
        Status.OPTIMAL: (tc.optimal, ss.ok),
        Status.CONVERGED: (tc.locallyOptimal, ss.ok),
        Status.LOCAL_OPTIMUM: (tc.locallyOptimal, ss.ok),
        Status.FEASIBLE: (tc.feasible, ss.ok),
        Status.EVALUATED: (tc.feasible, ss.ok),
        Status.TIME_LIMIT: (tc.maxTimeLimit, ss.warning),
        Status.ITERATION_LIMIT: (tc.maxIterations, ss.warning),
        Status.SOLVER_FAILURE: (tc.feasible, ss.warning),
        Status.INFEASIBLE: (tc.infeasible, ss.warning),
        Status.INTERRUPTED: (tc.userInterrupt, ss.aborted),
        Status.UNKNOWN: (tc.unknown, ss.warning),
    }
