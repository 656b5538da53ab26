"""Reproduce Fig. 3(b) of the paper: SCR of every method against the per-server bandwidth.

Run from the repository root:

    .venv/bin/python examples/reproduce_fig3b.py                 # 3 seeds, 10..100 MHz, 10 users, 2 servers
    .venv/bin/python examples/reproduce_fig3b.py --seeds 1 --users 4 --grid 10,100   # a 30-second check

It is the same as ``llmmec experiment bandwidth --seeds 3``: the runs go to a
Dask LocalCluster, each finished run is saved under ``results/fig3b/tasks/``
(rerunning resumes), and the figure is ``results/fig3b/bandwidth.png``.
"""

import argparse

from pyomo_llmmec.experiments import run_experiment


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="random scenarios (seeds 0..K-1), default 3")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes, default 2")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--grid", default="10,20,30,40,50,60,70,80,90,100", help="bandwidths per server in MHz")
    ap.add_argument("-o", "--output", default="results/fig3b")
    args = ap.parse_args()

    grid = [float(b) for b in args.grid.split(",")]
    res = run_experiment("bandwidth", seeds=args.seeds, workers=args.workers, users=args.users, servers=args.servers,
                         grid=grid, out_dir=args.output)
    # mean SCR per method (columns) and bandwidth (rows)
    scr = res.means("scr").pivot(index="bandwidth_mhz", columns="method", values="mean")
    print(scr[[m for m in ("rucaa", "gucaa", "aauco", "gucro", "dashf") if m in scr]].to_string(float_format="%.4g"))
    print(f"figure: {res.files['plots'][0]}   table: {res.files['results']}   workbook: {res.files['workbook']}")


if __name__ == "__main__":  # needed: Dask starts worker processes that import this file
    main()
