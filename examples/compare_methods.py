"""Load a scenario workbook (yours, or the paper's default) and compare every method in one table.

Run from the repository root:

    .venv/bin/python examples/compare_methods.py                          # data/paper_default.xlsx
    .venv/bin/python examples/compare_methods.py my_scenario.xlsx -o comparison.csv

Make your own workbook with ``llmmec generate --users 8 --servers 2 -o my_scenario.xlsx``
and edit it in Excel (the format is in docs/WORKBOOKS.md).
"""

import argparse
from pathlib import Path

import pandas as pd

import pyomo_llmmec as lm

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "paper_default.xlsx"
METHODS = ["rucaa", "gucaa", "aauco", "gucro", "dashf"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(DEFAULT), help="scenario workbook (.xlsx)")
    ap.add_argument("--seed", type=int, default=0, help="RUCAA's random association seed")
    ap.add_argument("-o", "--output", help="also write the table to this CSV file")
    args = ap.parse_args()

    try:
        sc = lm.read_scenario(args.scenario)  # validated: errors name the sheet, row and column
    except lm.InputError as exc:
        raise SystemExit(f"error: {exc}")
    print(f"{args.scenario}: {sc.n_users} users, {sc.n_servers} servers")

    rows = []
    for method in METHODS:
        try:
            sol = lm.solve(sc, method, seed=args.seed)
        except (lm.SolveFailed, lm.SolverUnavailable) as exc:
            rows.append({"method": method, "status": f"failed: {exc}"})
            continue
        rows.append({"method": method, "status": sol.status, "SCR": sol.scr, "service": sol.service,
                     "delay_s": sol.delay, "energy_j": sol.energy,
                     "users_per_server": " ".join(map(str, sol.loads)),
                     "outer_iterations": sol.info.get("outer_iterations", ""), "wall_s": round(sol.wall_s, 2)})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format="%.5g"))
    if args.output:
        table.to_csv(args.output, index=False)
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
