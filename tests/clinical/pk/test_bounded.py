"""The bounded minimiser of the MAP fit gives SciPy's answer to the last bit (decision 0131).

SciPy stays a test dependency for this comparison only; the service does not import it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from cds_service.clinical.pk import fit as fit_module
from cds_service.clinical.pk import fit_map
from cds_service.clinical.pk.bounded import Minimum, minimize_bounded
from tests.clinical.pk.test_pk_model import _cohort


def _scipy(func, low: float, high: float, *, xatol: float = 1e-5, maxiter: int = 500) -> Minimum:
    result = optimize.minimize_scalar(func, bounds=(low, high), method="bounded",
                                      options={"xatol": xatol, "maxiter": maxiter})
    return Minimum(x=float(result.x), fun=float(result.fun), success=bool(result.success))


@pytest.mark.parametrize(("func", "low", "high"), [
    (lambda x: (x - 0.3) ** 2, -2.0, 2.0),
    (lambda x: math.cos(3 * x) + 0.1 * x, -4.0, 4.0),
    (lambda x: abs(x + 1.7), -5.0, 5.0),
    (lambda x: 1.0, -1.0, 1.0),  # flat
    (lambda x: -x, 0.0, 1.0),  # at the upper bound
    (lambda x: math.exp(x) - 2 * x, -3.0, 3.0),
    (lambda x: x**4 - 3 * x**2 + x, -2.5, 2.5),
])
def test_same_minimum_as_scipy(func, low, high):
    assert minimize_bounded(func, low, high) == _scipy(func, low, high)


def test_the_iteration_cap_is_not_a_success_as_in_scipy():
    assert minimize_bounded(math.sin, -10.0, 10.0, maxiter=3) == _scipy(math.sin, -10.0, 10.0, maxiter=3)
    assert not minimize_bounded(math.sin, -10.0, 10.0, maxiter=3).success


def test_map_fits_of_simulated_children_equal_scipy_s_to_the_last_bit(monkeypatch):
    cohort = list(_cohort(25, seed=1631))
    ours = [fit_map(prior, vc.child, doses, t, levels) for prior, vc, doses, t, levels, _ in cohort]
    monkeypatch.setattr(fit_module, "minimize_bounded", _scipy)
    theirs = [fit_map(prior, vc.child, doses, t, levels) for prior, vc, doses, t, levels, _ in cohort]
    assert [(f.eta, f.eta_sd) for f in ours] == [(f.eta, f.eta_sd) for f in theirs]
    assert len({round(f.eta, 6) for f in ours}) > 20  # different children, different fits
    assert np.isfinite([f.eta_sd for f in ours]).all()
