"""Exceptions of pyomo_llmmec.

Every error that a user can cause or meet is one of these, with a one-line
message; the command line prints that line and exits non-zero (2 for bad input,
1 for a failed solve).
"""

from __future__ import annotations


class LLMMECError(Exception):
    """Base class of every error this package raises on purpose."""


class InputError(LLMMECError, ValueError):
    """Bad input data: the message names the file, sheet, row and column.

    ``row`` is the Excel row number (the header is row 1), so a user can go
    straight to the cell.
    """

    def __init__(self, message: str, *, path=None, sheet=None, row=None, column=None):
        self.path = None if path is None else str(path)
        self.sheet = sheet
        self.row = row
        self.column = column
        self.detail = message
        where = []
        if self.path:
            where.append(self.path)
        if sheet is not None:
            where.append(f"sheet '{sheet}'")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__((": ".join([", ".join(where), message])) if where else message)


class OutputError(InputError):
    """An output path that cannot (or must not) be written: missing or read-only
    directory, a directory where a file is expected, a read-only file, or the
    same file as an input.  Checked before any work; exit status 2 like bad input.
    """


class SolverUnavailable(LLMMECError, RuntimeError):
    """A solver the chosen method needs is not installed or not licensed."""


class SolveFailed(LLMMECError, RuntimeError):
    """A solver ran but did not deliver a usable (feasible, evaluated) answer.

    ``status`` is why, from one vocabulary (:class:`pyomo_llmmec.status.Failure`, given as the enum or its text);
    ``termination`` is the failing subsolver's own termination (e.g. HiGHS's ``maxTimeLimit``), when there is one.
    """

    def __init__(self, message: str, *, status="solver_failure", termination=None, solution=None):
        from .status import Failure

        self.status = Failure.parse(status)
        self.termination = None if termination is None else str(getattr(termination, "name", termination))
        self.solution = solution
        super().__init__(message)
