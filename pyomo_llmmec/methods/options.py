"""Options of every method, declared once: default, allowed values, documentation."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..errors import InputError

ASSOC_CHOICES = ("auto", "sdr", "milp", "lp", "gap", "gurobi")


def opt(default, doc, choices=None, positive=False, nonneg=False, integer=False, method_defaults=None):
    """A field of :class:`SolveOptions`: its default, documentation and domain; ``method_defaults`` maps a method's name
    to that method's own default (declared here, once: :meth:`SolveOptions.for_method` applies it)."""
    return field(default=default, metadata={"doc": doc, "choices": choices, "positive": positive, "nonneg": nonneg,
                                            "integer": integer, "method_defaults": dict(method_defaults or {})})


def show_value(v) -> str:
    """An option value as the help texts show it (inf: 'none')."""
    return "none" if isinstance(v, float) and math.isinf(v) else f"{v:g}" if isinstance(v, float) else str(v)


def default_text(f) -> str:
    """A field's default as the CLI's help and :meth:`SolveOptions.doc` show it, with the methods' own defaults."""
    own = f.metadata.get("method_defaults") or {}
    return show_value(f.default) + "".join(f"; {m}: {show_value(v)}" for m, v in own.items())


@dataclass(frozen=True)
class SolveOptions:
    """Options of :func:`pyomo_llmmec.solve` (not every method uses every option)."""

    assoc: str = opt("auto", "AO part-1 solver: 'sdr' (the paper's SDR + Hungarian), 'lp' (the SDR's linear part, an LP by "
                     "HiGHS, + Hungarian; for large networks), 'milp' (exact, HiGHS), "
                     "'gap' (P1 by delay level: one assignment problem per level, HiGHS; for the largest networks), 'gurobi' (exact MIQCP), "
                     "'auto' (sdr when N·M <= sdr_max_pairs, lp when N·M <= lp_max_pairs, else gap)",
                     choices=ASSOC_CHOICES)
    tol: float = opt(1e-4, "Dinkelbach stopping rule ε of Algorithm 1: stop when y_new/y_old − 1 <= ε", positive=True)
    max_iter: int = opt(50, "outer (Dinkelbach) iteration limit", positive=True, integer=True)
    part2_tol: float = opt(1e-5, "part 2 stops when an Ipopt solve raises the SCR by at most this (relative)", positive=True)
    part2_max_iter: int = opt(30, "limit on part-2 (quadratic-transform) iterations per outer iteration", positive=True, integer=True)
    trial_part2_iter: int = opt(5, "part-2 iterations spent on trying a new association before accepting or rejecting it", positive=True, integer=True)
    time_limit: float = opt(math.inf, "wall-clock limit of the whole solve in seconds, start points and warm starts included "
                            "(checked between block solves; inf: none)", positive=True,
                            method_defaults={"global": 600.0, "mindtpy": 600.0})
    p1_time_limit: float = opt(60.0, "time limit of one P1 solve in seconds (exact MILP/MIQCP, the LP route's LP, the gap route's "
                               "levels together)", positive=True)
    p1_first_point: bool = opt(False, "assoc='milp': solve each P1 only to its first point better than the current association "
                               "(HiGHS from a MIP start there; or to the proof that there is none), and to mip_gap when that "
                               "would end the run, so a run ends only after a P1 solved in full; for large networks, where "
                               "the exact P1s take minutes (measured faster and higher at (50,5) and (200,10), lower on 9 of "
                               "26 small networks: docs/DESIGN.md 'Scale'; a run whose last iteration had a first point "
                               "reports iteration_limit or time_limit, not converged); False: every P1 to mip_gap")
    mip_gap: float = opt(1e-6, "relative MIP gap of the exact P1 solves", nonneg=True)
    gap_levels: str = opt("0.85,1,1.2", "assoc='gap': the delay levels at which P1 is solved as a generalized assignment problem, as "
                          "multiples of the incumbent's delay (comma-separated)")
    gap_mip_gap: float = opt(1e-4, "assoc='gap': relative MIP gap of each level's assignment problem (a heuristic step: every "
                             "proposal is judged by the evaluator)", nonneg=True)
    sdr_cuts: bool = opt(True, "add the valid RLT inequalities to the SDR (False: the paper's relaxation as printed)")
    sdr_max_pairs: int = opt(2000, "assoc='auto' uses the SDR when N·M <= this (the SDR's memory grows with N·M: 0.25 GB at 2000 pairs, "
                             "3.3 GB at 20 000; its LP part, route lp, gave the same or slightly better DASHF runs where both were measured)", positive=True, integer=True)
    lp_max_pairs: int = opt(20000, "assoc='auto' uses the LP route when sdr_max_pairs < N·M <= this, else gap (one LP at 20 000 pairs: "
                            "7-18 s, 0.4 GB; at 150 000 the first did not finish in 60 s)", positive=True, integer=True)
    lp_tol: float = opt(1e-7, "assoc='lp': optimality tolerance of HiGHS's interior-point method on P1's LP relaxation (its point "
                        "is only rounded; the bound it reports is the dual function's, valid at any tolerance)", positive=True)
    lp_pricing: bool = opt(True, "assoc='lp': from the second P1 on, solve the LP by pricing pairs in (from the previous LP's support, "
                           "the incumbent's pairs and each user's lowest-delay pairs; the same optimal value, docs/DESIGN.md 'Scale'); "
                           "False: the whole LP every time")
    sdr_chordal: bool = opt(True, "solve the SDR in its exact chordal form (N·M 3×3 cones) rather than as one dense matrix")
    ipopt_tol: float = opt(1e-9, "Ipopt's convergence tolerance in part 2", positive=True)
    ipopt_max_iter: int = opt(3000, "Ipopt's iteration limit per part-2 solve", positive=True, integer=True)
    part2_persistent: bool = opt(True, "part 2 writes its NLP once per association and re-solves it with new data, warm-started "
                                 "from the previous solve's primal and dual point (pyomo_llmmec.nlp; ~8x fewer Ipopt iterations, "
                                 "docs/DESIGN.md 'Scale'); False: SolverFactory('cyipopt') writes it at every solve, primal start only")
    part2: str = opt("joint", "AO part 2's solve of (12): 'joint' (one NLP) or 'split' (one NLP per server, coordinated over "
                     "the delay level T; docs/DESIGN.md 'Scale'; the same optimum to solver tolerance)", choices=("joint", "split"))
    workers: int = opt(1, "part2='split': processes for the server NLPs (1: in this process; never threads)", positive=True, integer=True)
    scheduler: str = opt("", "part2='split': run the server NLPs on this Dask scheduler's workers (e.g. tcp://host:8786) instead of local processes")
    start: str = opt("paper", "DASHF's start: 'paper' (Algorithm 1 line 1: budgets/N, round robin) or 'equal' (equal split)",
                     choices=("paper", "equal"))
    seed: int = opt(0, "random seed (RUCAA's association)", nonneg=True, integer=True)
    bound: bool = opt(False, "after the solve, compute a proven upper bound on the SCR (the Lagrangian relaxation of docs/DESIGN.md, "
                      "'Bounds at every size'; at most bound_time_limit seconds, not counted in wall_s) and the solution's gap to it; "
                      "llmmec solve and compare turn it on")
    bound_time_limit: float = opt(30.0, "time limit of the SCR bound in seconds (a stop returns a valid, looser bound)", positive=True)
    verbose: bool = opt(False, "print progress")
    progress: bool = opt(False, "show a live one-line progress bar on stderr (tqdm; the CLI turns it on when stderr is a terminal)")
    # global / mindtpy (issue 4)
    global_gap: float = opt(1e-4, "target relative gap of method 'global'", nonneg=True)
    solver: str = opt("auto", "method 'global': the global MINLP solver: 'gurobi' (gurobi_direct_minlp; the pip licence takes "
                      "nonlinear models of at most 200 variables), 'scip' (scip_direct, pyscipopt; no size limit) or 'auto' "
                      "(per model: Gurobi where it fits the licence, SCIP otherwise); the solution's info says which ran",
                      choices=("auto", "gurobi", "scip"))
    global_max_associations: int = opt(4096, "method 'global' enumerates the M^N associations up to this many, else it hands the full MINLP to Gurobi", positive=True, integer=True)
    global_lagrangian: bool = opt(True, "method 'global': before any MINLP solve, settle the associations whose Lagrangian bound "
                                  "(the relaxation of 'bound', restricted to the association) is at most the target; it also bounds "
                                  "the associations no solver reached (at most min(bound_time_limit, max(1, 2 % of the time left)) seconds)")
    warm_start: bool = opt(True, "method 'global': start from another method's solution (warm_start_method)")
    warm_start_method: str = opt("dashf", "method 'global': the method of its warm start: 'dashf', or 'lns' (a better incumbent "
                                 "prunes more associations; lns gets at most half the time limit)", choices=("dashf", "lns"))
    # lns (issue 12)
    lns_starts: str = opt("dashf,dashf-milp,gucaa,aauco", "method 'lns': the methods whose points start the search (comma-separated; "
                          "'dashf-milp' is DASHF with the exact P1 route, run only where N·M <= lns_milp_start_max_pairs)")
    lns_milp_start_max_pairs: int = opt(100, "method 'lns': the start 'dashf-milp' runs only up to this N·M (its exact P1 MILPs "
                                        "take seconds at 20 pairs, minutes at 2000)", nonneg=True, integer=True)
    lns_levels: int = opt(9, "method 'lns': delay levels T scanned per Dinkelbach step of the resource search", positive=True, integer=True)
    lns_cold_always: bool = opt(False, "method 'lns': solve each server NLP from the cold starts too, not only where the warm start fails")
    lns_level_cold: int = opt(0, "method 'lns': cold starts (equal split with φ = ½, 0, 1; at most 3) tried at a delay level of the "
                              "resource scan where the warm start from the next level fails (measured on the 30 reference "
                              "instances: 3 gave the same SCRs at ~1.5x the time; docs/DESIGN.md)", nonneg=True, integer=True)
    lns_move_cold: int = opt(0, "method 'lns': cold starts (equal split with φ = ½, 0, 1; at most 3) tried on a server of a scored "
                             "move where its warm starts fail (measured on the reference instances: never one that gave a point; "
                             "docs/DESIGN.md)", nonneg=True, integer=True)
    lns_ipopt_max_iter: int = opt(300, "method 'lns': Ipopt's iteration limit per NLP (its NLPs converge in tens of iterations; a solve that runs on is a start that failed)", positive=True, integer=True)
    lns_floor: float = opt(1e-3, "method 'lns': lower bound of every resource as a fraction of its budget in the lns NLPs, "
                           "at most 0.01/N (a larger floor than the full model's keeps φ·(1/r) away from 0/0, where Ipopt fails)", positive=True)
    lns_move_levels: str = opt("1", "method 'lns': delay levels (factors of the incumbent's T, comma-separated) at which moves are scored; "
                               "later factors are tried only at a local optimum of the earlier ones")
    lns_full_step: bool = opt(True, "method 'lns': every accepted move and every destroy/repair goes through the full resource step "
                              "(delay-level continuation); False: the joint polish only (faster, weaker)")
    lns_deep: int = opt(30, "method 'lns': at a local optimum, this many best-scored non-improving neighbours get the full resource step "
                        "(every neighbour where N(M-1) + swaps <= 30: at (6,2), 15; measured on (6,2) seed 0: 3 ended at 0.855 of the proven optimum, all 15 at 0.99989)", nonneg=True, integer=True)
    lns_polish_warm: bool = opt(True, "method 'lns': the joint polish's Dinkelbach steps after the first start from the previous step's "
                                "multipliers as well as its point")
    lns_level_dinkelbach: int = opt(1, "method 'lns': Dinkelbach steps (one NLP per server each) at every delay level of the scan", positive=True, integer=True)
    lns_refine: int = opt(8, "method 'lns': golden-section steps refining the best delay level", nonneg=True, integer=True)
    lns_edge_nlp: bool = opt(True, "method 'lns': locate the least feasible delay level of an association by one NLP per server "
                             "(min T) instead of bisection between failed levels")
    lns_edge_steps: int = opt(4, "method 'lns': bisection steps locating the least feasible delay level between the scan's lowest "
                              "feasible level and the failed one below it (the optimum often lies just above it: (10,2) seed 4, "
                              "0.83 of global's point without them)", nonneg=True, integer=True)
    lns_prune: bool = opt(True, "method 'lns': skip every association proven unable to beat the incumbent by the Lagrangian "
                          "bound's multipliers (two rounds of price improvement, deterministic; networks of at most 400 pairs)")
    lns_rounds: int = opt(3, "method 'lns': destroy/repair rounds without improvement before stopping", nonneg=True, integer=True)
    lns_destroy: float = opt(0.3, "method 'lns': users reassigned by one destroy/repair (a fraction of N if < 1, else a count)", positive=True)
    lns_max_candidates: int = opt(100000, "method 'lns': moves and swaps scored per neighbourhood scan (a seeded random sample when more)", positive=True, integer=True)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            md = f.metadata
            if md.get("choices") and v not in md["choices"]:
                raise InputError(f"option {f.name}={v!r}: choose one of {', '.join(md['choices'])}")
            if isinstance(f.default, bool):
                if not isinstance(v, bool):
                    raise InputError(f"option {f.name}={v!r}: must be True or False")
                continue
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                try:
                    x = float(v)
                except (TypeError, ValueError):
                    raise InputError(f"option {f.name}={v!r}: must be a number") from None
                if math.isnan(x) or (md.get("positive") and not x > 0) or (md.get("nonneg") and x < 0):
                    raise InputError(f"option {f.name}={v!r}: must be {'> 0' if md.get('positive') else '>= 0'}")
                if md.get("integer"):
                    if not float(x).is_integer():
                        raise InputError(f"option {f.name}={v!r}: must be a whole number")
                    object.__setattr__(self, f.name, int(x))
                else:
                    object.__setattr__(self, f.name, x)
        if (self.workers > 1 or self.scheduler) and self.part2 != "split":
            raise InputError(f"options workers={self.workers}, scheduler={self.scheduler!r} apply to part2='split' only "
                             f"(part2={self.part2!r})")
        if self.workers > 1 and self.scheduler:
            raise InputError("give workers (local processes) or scheduler (a Dask cluster), not both")
        if self.scheduler:
            from ..dask_setup import check_scheduler_address

            object.__setattr__(self, "scheduler", check_scheduler_address(self.scheduler))

    def lns_move_levels_factors(self) -> tuple[float, ...]:
        try:
            out = tuple(float(v) for v in self.lns_move_levels.split(",") if v.strip())
        except ValueError:
            out = ()
        if not out or any(not (f > 0) for f in out):
            raise InputError(f"option lns_move_levels={self.lns_move_levels!r}: give positive factors, e.g. '1,0.5,2'")
        return out

    def replace(self, **changes) -> "SolveOptions":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_kwargs(cls, **kw) -> "SolveOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(kw) - names
        if unknown:
            raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}; valid: {', '.join(sorted(names))}")
        return cls(**kw)

    @classmethod
    def method_defaults(cls, method: str) -> dict:
        """The defaults that ``method`` declares for itself (e.g. ``time_limit`` 600 s for global and mindtpy)."""
        return {f.name: f.metadata["method_defaults"][method] for f in dataclasses.fields(cls)
                if method in f.metadata["method_defaults"]}

    @classmethod
    def for_method(cls, method: str, **kw) -> "SolveOptions":
        """The options of one run of ``method``: ``kw`` over the method's own defaults over the shared ones."""
        return cls.from_kwargs(**{**cls.method_defaults(method), **kw})

    @classmethod
    def doc(cls) -> str:
        lines = []
        for f in dataclasses.fields(cls):
            lines.append(f"{f.name} (default {default_text(f)}): {f.metadata['doc']}")
        return "\n".join(lines)
