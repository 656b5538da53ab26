"""One AO part-2 solve of (12), joint NLP against split by server (1 and 2 processes) (issue 16, item 1).

    python benchmarks/split_part2.py                       # (200,10) and (1000,20), seed 0
    python benchmarks/split_part2.py --sizes 50x5 --seed 1

Per size: the paper's start point (Algorithm 1 line 1) through AAUCO's association is not needed; the
problem is (12) at the initial point (its association, φ, anchors, y = its SCR), as DASHF's first part-2
step meets it.  Each route solves it twice: a *cold* solve (a new association: NLPs written, no multipliers)
and a *warm* re-solve from the first solve's optimum with the anchors and y moved there (what every further
part-2 step of DASHF is).  Columns: wall seconds, Ipopt iterations, levels of the T search (split), the
objective of (12) and the evaluator's SCR after the step.  Written to benchmarks/results/split_part2.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pyomo_llmmec as lm
from pyomo_llmmec.methods.blocks import FPResources, PhaseTimer, fit_to_budgets
from pyomo_llmmec.methods.options import SolveOptions
from pyomo_llmmec.methods.split_part2 import SplitPart2
from pyomo_llmmec.model.resources import read_resources, set_association, set_point
from pyomo_llmmec.units import units_for

RESULTS = Path(__file__).resolve().parent / "results"


def _point(sc, sol, m):
    b, p, P, Fu, Fs = read_resources(m, sc)
    new = fit_to_budgets(sc, sol.copy(b=b, p=p, p_server=P, f_user=Fu, f_server=Fs, evaluation=None))
    return new, lm.evaluate(sc, new, attach=False)


def run(N, M, seed):
    sc = lm.generate_scenario(N, M, seed=seed)
    sol = lm.solve(sc, "initial")
    ev = lm.evaluate(sc, sol, attach=False)
    rows = []
    for route, workers in (("joint", 1), ("split", 1), ("split", 2)):
        fp = FPResources(sc, units_for(sc), SolveOptions(), PhaseTimer())
        m = fp.model
        set_association(m, sc, sol.assignment)
        split = None
        if route == "split":
            split = SplitPart2(sc, m, {k: v for k, v in fp.ipopt_options.items() if k != "sb"}, workers=workers)
        cur, cur_ev = sol, ev
        try:
            for phase in ("cold", "warm"):
                set_point(m, sc, cur, cur_ev, cur_ev.scr)
                levels0 = split.levels if split else 0
                t0 = time.perf_counter()
                tc, iters, obj = split.solve() if split else fp._solve_once()
                wall = time.perf_counter() - t0
                cur, cur_ev = _point(sc, cur, m)
                rows.append(dict(size=f"({N},{M})", route=route if route == "joint" else f"split, {workers} process(es)",
                                 phase=phase, wall_s=wall, iterations=iters, levels=(split.levels - levels0) if split else "",
                                 objective=obj, scr=cur_ev.scr, feasible=cur_ev.feasible, status=tc))
                print(rows[-1], flush=True)
        finally:
            if split is not None:
                split.close()
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200x10,1000x20")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = []
    for s in args.sizes.split(","):
        N, M = (int(v) for v in s.lower().split("x"))
        rows += run(N, M, args.seed)
    head = "| network | route | solve | wall (s) | Ipopt iterations | T levels | objective (12) | SCR after | status |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['size']} | {r['route']} | {r['phase']} | {r['wall_s']:.2f} | {r['iterations']} | {r['levels']} | "
                     f"{r['objective']:.10g} | {r['scr']:.10g} | {r['status']} |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "split_part2.md"
    out.write_text(f"Seed {args.seed}; `python benchmarks/split_part2.py --sizes {args.sizes}`\n\n" + text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
