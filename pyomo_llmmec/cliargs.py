"""Exit codes and argparse value types shared by the command-line modules.

:mod:`pyomo_llmmec.cli` (``llmmec``) and :mod:`pyomo_llmmec.experiments.cli`
(``llmmec experiment``) both import from here, so neither imports the other
at module level (no import cycle; ``tests/test_architecture.py``).
"""

from __future__ import annotations

import argparse

#: exit status of ``llmmec``: success, a solve failed (or a required solver is missing), bad input
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


def _whole(s) -> int:
    try:
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None


def positive_int(s) -> int:
    """An argparse type: a whole number ≥ 1."""
    v = _whole(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{s!r} must be at least 1")
    return v


def nonneg_int(s) -> int:
    """An argparse type: a whole number ≥ 0."""
    v = _whole(s)
    if v < 0:
        raise argparse.ArgumentTypeError(f"{s!r} must be >= 0")
    return v


def positive_float(s) -> float:
    """An argparse type: a number > 0 (``inf`` allowed, NaN refused)."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"{s!r} must be > 0")
    return v
