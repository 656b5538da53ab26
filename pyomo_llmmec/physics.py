"""The physics of MODEL.md §3, written once for numpy arrays and Pyomo expressions alike.

Each function takes numbers, numpy arrays or Pyomo expressions (variables,
Params) and returns the same kind: ``log`` dispatches to ``numpy.log`` for
numeric input and to Pyomo's ``log`` otherwise, ``log1p`` to ``numpy.log1p``
and to Pyomo's ``log(1 + x)`` (Pyomo has no log1p; the two agree to ~1e-16/x
relative, so to 1e-12 for x ≥ 1e-4).  Units are the caller's: the evaluator
passes SI values, the Pyomo models pass the scaled values of
:mod:`pyomo_llmmec.units` (bandwidth in ``hz``, work in ``flops``·s, κ̂ = κ·flops³).

This module is the only place where the rate formula, ln 2 and the service
score are written (``tests/test_architecture.py`` checks it).
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


def log1p(x):
    """ln(1 + x): ``numpy.log1p`` for numbers and arrays, Pyomo's ``log(1 + x)`` for expressions."""
    if _numeric(x):
        return np.log1p(x)
    from pyomo.environ import log as pyo_log

    return pyo_log(1 + x)


def spectral_efficiency(snr):
    """ln(1 + SNR), in nats per second per Hz: the rate (MODEL.md §3.1) is b · spectral_efficiency(γ p / b) / ln 2."""
    return log1p(snr)


def rate(b, snr_per_power, power):
    """Shannon rate r = b·log2(1 + γ·p/b) (MODEL.md §3.1) with γ = g/σ² per bandwidth unit.

    Parameters
    ----------
    b : float, array or Pyomo expression
        Bandwidth b_nm (Hz, or ``units.hz``).
    snr_per_power : float, array or Pyomo expression
        γ = g_nm / σ² (per W per bandwidth unit).
    power : float, array or Pyomo expression
        Transmit power p_n (uplink) or P_nm (downlink), W.

    Returns
    -------
    The rate in bit/s (or ``units.hz`` bit/s), same kind as the input.
    """
    return b * spectral_efficiency(snr_per_power * power / b) / LN2


def rate_as_modelled(b, snr_per_power, power):
    """The value :func:`rate` takes *inside a Pyomo model* (log(1 + x) rather than log1p), for numpy arrays.

    The two differ only where γ·p/b is near float64's resolution: there Pyomo's log(1 + x) is 0, and a
    caller that anchors a model at its own rates (the quadratic transform of part 2) must see that 0."""
    b, x = np.asarray(b, dtype=float), np.asarray(snr_per_power * power / b, dtype=float)
    # math.log per element, as Pyomo evaluates log: numpy's vectorised log may differ by an ulp, and part 2's
    # anchors are set from these values (an ulp there changed a DASHF run's path at (50,5))
    ln = np.fromiter((math.log(v) for v in (1.0 + x).ravel().tolist()), dtype=float, count=x.size).reshape(x.shape)
    return b * ln / LN2


def energy_per_bit_floor(noise, gain):
    """Shannon's limit σ² ln 2 / g (J/bit): p/r ≥ σ² ln 2 / g for every b, p > 0, since log2(1 + s) ≤ s/ln 2.

    So E2 + E4 ≥ D_n σ² ln 2 / g_nm for a user that sends its whole adapter over the link (MODEL.md §3.3)."""
    return noise * LN2 / gain


def linear_rate_cap(snr_per_power, power):
    """The tangent cap r ≤ γ p / ln 2 of the rate at b → ∞ (log(1 + s) ≤ s), in the rate's units."""
    return snr_per_power * power / LN2


def compute_delay(share, work, speed):
    """T1 = e_n t_n φ d_n / F_n and T3 = e_m t_n (1−φ) d_n / F_nm: ``share``·``work``/``speed`` (MODEL.md §3.2)."""
    return share * work / speed


def link_delay(share, bits, r):
    """T2 = φ d_n ω_b / r_up and T4 = (1−φ) d_n ω_b / r_dn (MODEL.md §3.2)."""
    return share * bits / r


def compute_energy(share, work, kappa, speed):
    """E1 = e_n κ_n φ d_n t_n F_n² and E3 = e_m κ_m (1−φ) d_n t_n F_nm² (MODEL.md §3.3)."""
    return kappa * share * work * speed**2


def link_energy(power, delay):
    """E2 = p_n T2_nm and E4 = P_nm T4_nm: transmit power times time on the link (MODEL.md §3.3)."""
    return power * delay


def user_delay(t1, t2, t3, t4):
    """A user's delay T1 + T2 + T3 + T4 on its own server (MODEL.md §3.2; T_total is the largest one)."""
    return t1 + t2 + t3 + t4


def user_energy(e1, e2, e3, e4):
    """A user's energy E1 + E2 + E3 + E4 on its own server (MODEL.md §3.3; E_total is their sum)."""
    return e1 + e2 + e3 + e4


def score_of_share(scale, norm, share):
    """Service score (1) from the summed resource share s = P/p_max + F/F_max + b/b_max: ϖ1 ln(1 + ϖ2 s)."""
    return scale * log1p(norm * share)


def service_score(scale, norm, power_share, compute_share, bandwidth_share):
    """Service score (1): v = ϖ1 ln(1 + ϖ2 (P/p_max + F/F_max + b/b_max)) (MODEL.md §3.4)."""
    return score_of_share(scale, norm, power_share + compute_share + bandwidth_share)


def cost(delay, energy, weight_time, weight_energy):
    """The denominator of the SCR (2): ω_t T_total + ω_e E_total (MODEL.md §3.4)."""
    return weight_time * delay + weight_energy * energy


def scr(service, delay, energy, weight_time, weight_energy):
    """The service–cost ratio (2): Σ x v / (ω_t T_total + ω_e E_total) (MODEL.md §3.4).

    For numbers: 0 when the cost is infinite, +inf when it is ≤ 0 (a zero cost only
    arises with zero weights, which validation rejects); NaN stays NaN.
    """
    c = cost(delay, energy, weight_time, weight_energy)
    if not _numeric(c):
        return service / c
    if np.ndim(c) == 0 and np.ndim(service) == 0:
        if math.isnan(c) or math.isnan(service):
            return math.nan
        if not math.isfinite(c):
            return 0.0
        return math.inf if c <= 0 else float(service / c)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isinf(c), 0.0, np.where(c <= 0, np.inf, service / c))


def dinkelbach_objective(service, y, delay, energy, weight_time, weight_energy):
    """The objective of (3) for a given y: Σ x v − y ω_e E_total − y ω_t T (MODEL.md §4)."""
    return service - y * cost(delay, energy, weight_time, weight_energy)
