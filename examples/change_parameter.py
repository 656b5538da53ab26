"""Change one parameter of a scenario and re-solve: how does DASHF's answer move?

Run from the repository root:

    .venv/bin/python examples/change_parameter.py                         # bandwidth 10 -> 20 MHz per server
    .venv/bin/python examples/change_parameter.py --set weight_time=0.1 --set weight_energy=0.009
    .venv/bin/python examples/change_parameter.py --set noise_psd_dbm_per_hz=-174 --method gucro

``--set NAME=VALUE`` takes any scenario field (a scalar is applied to every user
or server: ``bandwidth_hz``, ``server_p_max_w``, ``user_f_max_flops``, ...) or
system constant (``weight_time``, ``weight_energy``, ``noise_psd_dbm_per_hz``, ...).
"""

import argparse
from pathlib import Path

import pyomo_llmmec as lm

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "paper_default.xlsx"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario", nargs="?", default=str(DEFAULT))
    ap.add_argument("--set", action="append", metavar="NAME=VALUE", help="the change (repeatable); default bandwidth_hz=20e6")
    ap.add_argument("--method", default="dashf")
    args = ap.parse_args()

    changes = {}
    for kv in args.set or ["bandwidth_hz=20e6"]:
        name, _, value = kv.partition("=")
        try:
            changes[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"error: --set expects NAME=NUMBER, got {kv!r}")

    base = lm.read_scenario(args.scenario)
    try:
        changed = base.replace(**changes)  # a new (immutable) scenario; the original is untouched
    except (TypeError, lm.InputError) as exc:
        raise SystemExit(f"error: {exc}")

    print(f"{args.scenario}: {base.n_users} users, {base.n_servers} servers; change: "
          + ", ".join(f"{k}={v:g}" for k, v in changes.items()))
    print(f"{'':>10} {'SCR':>10} {'delay (s)':>12} {'energy (J)':>12} {'service':>10}  users/server")
    for label, sc in (("before", base), ("after", changed)):
        sol = lm.solve(sc, args.method)
        print(f"{label:>10} {sol.scr:10.5g} {sol.delay:12.5g} {sol.energy:12.5g} {sol.service:10.5g}  {sol.loads.tolist()}")


if __name__ == "__main__":
    main()
