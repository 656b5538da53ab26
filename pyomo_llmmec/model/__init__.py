"""Pyomo models: the full MINLP (3), AO part 1 (P1, (6)) and AO part 2 ((12)).

Builders declare one family of variables or constraints per function and cite
the equation they implement; a builder never solves.
"""

from .full import build_model, constraint_violations, extract_solution, load_solution

__all__ = ["build_model", "load_solution", "extract_solution", "constraint_violations"]
