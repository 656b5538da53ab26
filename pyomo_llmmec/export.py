"""Write the full MINLP (3) for other solvers: AMPL .nl, GAMS .gms, BARON .bar (``llmmec export``).

:func:`export_model` builds :func:`pyomo_llmmec.build_model` (the Dinkelbach
form (3) at a given ``y``, by default the model's own — the SCR of Algorithm
1's initial point — or the ratio form (2)) and writes it with Pyomo's own
writers (``model.write``).  The output path is checked before the model is
built (:func:`pyomo_llmmec.io.check_output_path`: the suffix must match the
format, never the input file) and written atomically.

The LP format is refused: it holds linear (and quadratic) models only, and
(3) has logarithms (rates, the score (1)) and ratios (the delays) in its
constraints and objective — Pyomo's LP writer rejects it too.

Variables are numbered in the .nl file (``x1, x2, ...``; Pyomo writes no
.row/.col names); the .gms and .bar files use the model's component names
(``x_1_2_`` for ``x[1,2]``), as Pyomo mangles them for those languages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError

#: format name -> (Pyomo ProblemFormat name, file suffix, symbolic names supported)
FORMATS = {
    "nl": ("nl", ".nl", False),
    "gms": ("gams", ".gms", True),
    "bar": ("bar", ".bar", True),
    "lp": ("cpxlp", ".lp", True),
}
ALIASES = {"gams": "gms", "baron": "bar", "ampl": "nl"}

LP_REFUSED = ("the LP format holds linear (and quadratic) models only, and the MINLP (3) has logarithms (rates, score) "
              "and ratios (delays) in its constraints and objective; use --format nl, gms or bar")


@dataclass(frozen=True)
class ExportStats:
    path: str
    format: str
    form: str
    y: float | None
    variables: int
    binary_variables: int
    constraints: int

    def line(self) -> str:
        at = f" at y = {self.y:.10g}" if self.y is not None else ""
        return (f"wrote {self.path}: {self.format} file of the MINLP (3), {self.form} form{at}; "
                f"{self.variables} variables ({self.binary_variables} binary), {self.constraints} constraints")


def normalise_format(fmt: str) -> str:
    f = str(fmt).lower().lstrip(".")
    f = ALIASES.get(f, f)
    if f not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return f


def format_from_path(path) -> str:
    """The format named by a file's suffix (.nl, .gms, .bar, .lp)."""
    suffix = str(path).lower().rsplit(".", 1)[-1] if "." in str(path) else ""
    for name, (_, suf, _) in FORMATS.items():
        if suf == "." + suffix:
            return name
    raise InputError(f"{path}: cannot tell the format from the suffix; give --format ({', '.join(FORMATS)})")


def export_model(scenario, path, fmt: str | None = None, y: float | None = None, ratio: bool = False, *,
                 inputs=(), symbolic_labels: bool = True) -> ExportStats:
    """Write the MINLP (3) of ``scenario`` to ``path`` in format ``fmt`` (nl, gms, bar; default from the suffix).

    ``y``: the Dinkelbach parameter (default the model's own, the SCR of the
    initial point); ``ratio=True`` writes the ratio form (2) instead (``y``
    must then be None).  ``inputs``: files that must not be overwritten
    (the scenario workbook).  ``symbolic_labels``: readable names in .gms and
    .bar files.  Raises :class:`~pyomo_llmmec.errors.InputError` (or its
    subclass ``OutputError``) before any work for a bad format, ``y`` or path.
    Returns the counts of the model written.
    """
    from .io import atomic_path, check_output_path

    fmt = format_from_path(path) if fmt is None else normalise_format(fmt)
    if fmt == "lp":
        raise InputError(LP_REFUSED)
    if ratio and y is not None:
        raise InputError("give either y (the Dinkelbach form) or ratio=True (the ratio form), not both")
    if y is not None:
        try:
            y = float(y)
        except (TypeError, ValueError):
            raise InputError(f"y = {y!r} is not a number") from None
        if not math.isfinite(y) or y < 0:
            raise InputError(f"y = {y!r}: the Dinkelbach parameter (an SCR) must be a finite number >= 0")
    pyomo_format, suffix, symbolic = FORMATS[fmt]
    path = check_output_path(path, inputs=list(inputs), suffixes=(suffix,))

    import pyomo.environ as pyo
    from pyomo.opt import ProblemFormat

    from .model.full import build_model

    model = build_model(scenario, form="ratio" if ratio else "dinkelbach", y=y)
    io_options = {"symbolic_solver_labels": bool(symbolic_labels and symbolic)}
    with atomic_path(path) as tmp:
        model.write(str(tmp), format=getattr(ProblemFormat, pyomo_format), io_options=io_options)
    vars_ = list(model.component_data_objects(pyo.Var, descend_into=True))
    n_con = sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True, descend_into=True))
    return ExportStats(
        path=str(path), format=fmt, form="ratio" if ratio else "dinkelbach",
        y=None if ratio else float(pyo.value(model.y)),
        variables=len(vars_), binary_variables=sum(1 for v in vars_ if v.is_binary()), constraints=n_con,
    )


__all__ = ["export_model", "ExportStats", "FORMATS", "LP_REFUSED", "format_from_path", "normalise_format"]
