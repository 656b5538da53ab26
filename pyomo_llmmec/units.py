"""Units inside the Pyomo models (MODEL.md §4, 'Numerics').

The workbooks are SI; the data span ~60 orders of magnitude (κ ≈ 1e-38,
F ≈ 1e15, σ² ≈ 1e-17).  Every model works in units picked from the scenario so
that the numbers Ipopt, HiGHS and Gurobi see are of order 1e-3..1e3:

* bandwidth in ``hz`` Hz (the power of 1000 just below the largest budget:
  MHz for the paper), so data sizes are in ``hz`` bits and rates in ``hz`` bit/s;
* compute speed in ``flops`` FLOP/s (power of 1000 below the geometric mean of
  the largest user and server speeds: TFLOP/s for the paper), so training work
  is in ``flops`` FLOP and ``work/speed`` is in seconds;
* power in W;
* the delay epigraph variable T in ``seconds`` s, energies in ``joules`` J and
  the objective in ``objective`` units: powers of ten near the delay, the
  energy per user and the service of a reference point (Algorithm 1's start).

The derived coefficients: SNR per W per unit of bandwidth ``γ = g/(σ²·hz)``,
and ``κ̂ = κ·flops³`` so that ``E = κ̂ · work[flops·s] · F[flops]²`` is in J.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_PREFIX = {0: "", 1: "k", 2: "M", 3: "G", 4: "T", 5: "P", 6: "E", -1: "m", -2: "µ", -3: "n"}


def engineering_unit(value: float) -> float:
    """The power of 1000 at or below ``value`` (1 for values in [1, 1000))."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    return 1000.0 ** math.floor(math.log10(value) / 3.0 + 1e-12)


def decade(value: float) -> float:
    """The power of ten nearest ``value`` (in log scale)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    return 10.0 ** round(math.log10(value))


def prefix(unit: float) -> str:
    k = round(math.log10(unit) / 3.0)
    return _PREFIX.get(k, f"1e{3 * k}·")


@dataclass(frozen=True)
class Units:
    hz: float = 1e6
    flops: float = 1e12
    seconds: float = 1.0
    joules: float = 1.0
    objective: float = 1.0

    def describe(self) -> str:
        return (
            f"bandwidth in {prefix(self.hz)}Hz, compute in {prefix(self.flops)}FLOP/s, power in W, "
            f"T in {self.seconds:g} s, energy in {self.joules:g} J, objective in {self.objective:g}"
        )

    # -- scaled data (numpy) ---------------------------------------------------------
    def snr_per_watt(self, scenario) -> np.ndarray:
        """γ_nm = g_nm / (σ² · hz): SNR per W per bandwidth unit, (N, M)."""
        return scenario.gain / (scenario.sigma2 * self.hz)

    def bits(self, scenario) -> np.ndarray:
        """d_n ω_b in units of ``hz`` bits."""
        return scenario.adapter_bits / self.hz

    def user_work(self, scenario) -> np.ndarray:
        """e_n t_n d_n in units of ``flops`` FLOP."""
        return scenario.user_work_flops / self.flops

    def server_work(self, scenario) -> np.ndarray:
        """e_m t_n d_n in units of ``flops`` FLOP, (N, M)."""
        return scenario.server_work_flops / self.flops

    def kappa_user(self, scenario) -> np.ndarray:
        return scenario.user_kappa * self.flops**3

    def kappa_server(self, scenario) -> np.ndarray:
        return scenario.server_kappa * self.flops**3


def units_for(scenario, reference=None) -> Units:
    """Units for a scenario; ``reference`` (an Evaluation) sets the time/energy/objective units."""
    hz = engineering_unit(float(np.max(scenario.bandwidth_hz)))
    flops = engineering_unit(math.sqrt(float(np.max(scenario.user_f_max_flops)) * float(np.max(scenario.server_f_max_flops))))
    if reference is None:
        return Units(hz=hz, flops=flops)
    return Units(
        hz=hz,
        flops=flops,
        seconds=decade(reference.delay),
        joules=decade(reference.energy / scenario.n_users),
        objective=decade(reference.service),
    )
