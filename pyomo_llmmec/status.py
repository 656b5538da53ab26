"""One status vocabulary for every method: :class:`Status` (``Solution.status`` and ``Solution.termination``),
and one for why a solve failed: :class:`Failure` (``SolveFailed.status``).

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


class Failure(str, Enum):
    """Why a solve delivered no point (``SolveFailed.status``); the solver's own word is in ``SolveFailed.termination``."""

    NUMERICS = "numerics"  #: data outside what float64 or a solver handles (a non-finite coefficient, an SNR below resolution)
    NO_SOLUTION = "no_solution"  #: the method ran but found no feasible point to start from or return
    TIME_LIMIT = "time_limit"  #: the time limit passed before any point was found
    SOLVER_FAILURE = "solver_failure"  #: a subsolver ended without a usable answer (its termination is recorded)
    INFEASIBLE = "infeasible"  #: the method's point fails the evaluator's check of (3); not returned
    BAD_OPTION = "bad_option"  #: an unknown method or an option value it cannot take

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__

    @classmethod
    def parse(cls, value) -> "Failure":
        """The failure named by ``value`` (a Failure or its text); ValueError for any other text."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown failure {value!r}: one of {', '.join(f.value for f in cls)}") from None

    @classmethod
    def from_termination(cls, termination) -> "Failure":
        """The failure for a subsolver's termination (a Pyomo ``TerminationCondition`` or its name)."""
        name = getattr(termination, "name", str(termination)).split(".")[-1]
        return cls.TIME_LIMIT if name in ("maxTimeLimit", "time_limit") else cls.SOLVER_FAILURE


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
