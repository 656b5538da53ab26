import warnings
from pathlib import Path

import numpy as np
import pytest

import pyomo_llmmec as lm

DATA = Path(__file__).resolve().parent.parent / "data"

warnings.filterwarnings("ignore", message="Solution may be inaccurate")


@pytest.fixture(scope="session")
def data_dir():
    return DATA


@pytest.fixture(scope="session")
def paper_default():
    return lm.read_scenario(DATA / "paper_default.xlsx")


@pytest.fixture(scope="session")
def toy():
    return lm.read_scenario(DATA / "toy_3x2.xlsx")


def random_feasible_solution(sc, rng, positive=True):
    """A random point that satisfies (3b)-(3i): budgets split by random weights, each share <= 1."""
    N, M = sc.n_users, sc.n_servers
    a = rng.integers(0, M, size=N)
    phi = rng.uniform(0, 1, size=N)
    fill = rng.uniform(0.3, 1.0)  # use part of each budget

    def split(budget):
        w = rng.uniform(0.05, 1.0, size=N)
        tot = np.bincount(a, weights=w, minlength=M)
        return budget[a] * fill * w / tot[a]

    return lm.Solution.from_arrays(
        sc, a, phi,
        p=sc.user_p_max_w * rng.uniform(0.05, 1.0, size=N),
        f_user=sc.user_f_max_flops * rng.uniform(0.05, 1.0, size=N),
        b=split(sc.bandwidth_hz), p_server=split(sc.server_p_max_w), f_server=split(sc.server_f_max_flops),
    )
