"""The physics of MODEL.md §3, written once for numpy arrays and Pyomo expressions alike.

Each function takes numbers, numpy arrays or Pyomo expressions (variables,
Params) and returns the same kind: ``log`` dispatches to ``numpy.log`` for
numeric input and to Pyomo's ``log`` otherwise.  Units are the caller's: the
evaluator passes SI values, the Pyomo models pass the scaled values of
:mod:`pyomo_llmmec.units` (bandwidth in ``hz``, work in ``flops``·s, κ̂ = κ·flops³).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

LN2 = math.log(2.0)


def _numeric(x) -> bool:
    return isinstance(x, (numbers.Number, np.ndarray, np.generic))


def log(x):
    """Natural log of a number, array or Pyomo expression."""
    if _numeric(x):
        return np.log(x)
    from pyomo.environ import log as pyo_log

    return pyo_log(x)


def rate(b, snr_per_power, power):
    """Shannon rate r = b·log2(1 + γ·p/b) (MODEL.md §3) with γ = g/σ² per bandwidth unit."""
    return b * log(1 + snr_per_power * power / b) / LN2


def compute_delay(share, work, speed):
    """T1 = e_n t_n φ d_n / F_n and T3 = e_m t_n (1−φ) d_n / F_nm: ``share``·``work``/``speed``."""
    return share * work / speed


def link_delay(share, bits, r):
    """T2 = φ d_n ω_b / r_up and T4 = (1−φ) d_n ω_b / r_dn."""
    return share * bits / r


def compute_energy(share, work, kappa, speed):
    """E1 = e_n κ_n φ d_n t_n F_n² and E3 = e_m κ_m (1−φ) d_n t_n F_nm²."""
    return kappa * share * work * speed**2


def service_score(scale, norm, power_share, compute_share, bandwidth_share):
    """Service score (1): v = ϖ1 ln(1 + ϖ2 (P/p_max + F/F_max + b/b_max))."""
    return scale * log(1 + norm * (power_share + compute_share + bandwidth_share))
