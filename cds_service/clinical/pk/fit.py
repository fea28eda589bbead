"""MAP estimate of a child's CL/F from usable troughs and the dose history, with its uncertainty.

V/F is fixed at the prior's typical value: neither published model reports its between-child
variability, and troughs alone barely inform it (decision 0162). CL/F = typical x exp(eta); the
posterior of eta is approximated by a normal at the MAP (Laplace, curvature by finite difference).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from .model import Child, Dose, FloatArray, concentrations_ascending, dose_arrays, steady_state_trough
from .priors import Prior

_SAMPLES = 4000


class ModelUnusable(Exception):
    """The model cannot be used for this child; the message is the one line the card shows."""


@dataclass(frozen=True, kw_only=True)
class Prediction:
    median_ng_ml: float
    low_ng_ml: float    # 80 % interval of the measured trough (parameter + residual uncertainty)
    high_ng_ml: float


@dataclass(frozen=True, kw_only=True)
class Fit:
    prior: Prior
    child: Child
    eta: float
    eta_sd: float
    cl_l_per_h: float
    v_l: float
    ka_per_h: float
    troughs_used: int

    def curve(self, sample_h: FloatArray, doses: list[Dose]) -> FloatArray:
        """Fitted concentrations (ng/mL) at ascending sample times, for the decision page's chart."""
        times, amounts = dose_arrays(doses, self.prior.bioavailability)
        return concentrations_ascending(sample_h, times, amounts, ka=self.ka_per_h, cl=self.cl_l_per_h, v=self.v_l)

    def aim_dose_mg(self, target_ng_ml: float, per_day: int, formulation: str = "solution") -> float:
        """The dose per administration whose predicted steady-state trough is target_ng_ml."""
        per_mg = steady_state_trough(
            self.prior.bioavailability[formulation], 24.0 / per_day,
            ka=self.ka_per_h, cl=self.cl_l_per_h, v=self.v_l,
        )
        return target_ng_ml / per_mg


def _residual_sd(prior: Prior, pred: FloatArray) -> FloatArray:
    sd = np.sqrt((prior.proportional_error * pred) ** 2 + prior.additive_error_ng_ml**2)
    return np.asarray(np.maximum(sd, 1e-3), dtype=np.float64)


@dataclass(frozen=True, kw_only=True)
class _Levels:
    """The levels to fit and what of the dose history each sees, computed once for every eta tried."""

    prior: Prior
    observed_ng_ml: FloatArray
    after_dose: NDArray[np.bool_]  # [level, dose]: the dose was given before the level was drawn
    hours_since_dose: FloatArray  # [level, dose], 0 where the dose came after
    amounts: FloatArray  # bioavailable mg per dose
    absorbed: FloatArray  # the absorption term of each level, independent of CL
    maturation_scale: FloatArray  # each level's clearance maturation relative to today's
    typical_cl: float
    v_l: float
    ka_per_h: float
    omega: float

    def predict(self, eta: float) -> FloatArray:
        """One compartment, first-order absorption: each level under CL = typical x exp(eta)."""
        k = self.typical_cl * math.exp(eta) * self.maturation_scale / self.v_l
        eliminated = np.where(self.after_dose, np.exp(-k[:, None] * self.hours_since_dose), 0.0) @ self.amounts
        ka = self.ka_per_h
        return np.asarray(1000.0 * ka / (self.v_l * (ka - k)) * (eliminated - self.absorbed), dtype=np.float64)

    def objective(self, eta: float) -> float:
        """Minus the log posterior of eta: the residuals' likelihood and the prior on eta."""
        pred = self.predict(eta)
        sd = _residual_sd(self.prior, pred)
        return float(np.sum(((self.observed_ng_ml - pred) / sd) ** 2 / 2 + np.log(sd))
                     + eta**2 / (2 * self.omega**2))


def _refuse_unfittable(prior: Prior, child: Child, doses: list[Dose], trough_ng_ml: list[float]) -> None:
    """No level, no dose history, or a child outside the model's covariate range (decision 0161)."""
    if not trough_ng_ml:
        raise ModelUnusable("no usable trough to fit the model to")
    if not doses:
        raise ModelUnusable("no dose history to fit the model to")
    why = prior.out_of_range(child.weight_kg, child.age_years)
    if why:
        raise ModelUnusable(why)


def _levels(prior: Prior, child: Child, doses: list[Dose], trough_h: list[float], trough_ng_ml: list[float],
            trough_age_years: list[float] | None) -> _Levels:
    """The child's typical parameters and the dose-to-level design the fit evaluates."""
    times, amounts = dose_arrays(doses, prior.bioavailability)
    since = np.asarray(trough_h, dtype=np.float64)[:, None] - times[None, :]
    after_dose = since > 0
    hours = np.where(after_dose, since, 0.0)
    ka = prior.ka_per_h
    now = prior.maturation(child.age_years)
    scale = np.ones(len(trough_ng_ml)) if trough_age_years is None else np.array(
        [prior.maturation(max(age, 0.01)) / now for age in trough_age_years], dtype=np.float64)
    return _Levels(
        prior=prior, observed_ng_ml=np.asarray(trough_ng_ml, dtype=np.float64), after_dose=after_dose,
        hours_since_dose=hours, amounts=amounts, absorbed=np.where(after_dose, np.exp(-ka * hours), 0.0) @ amounts,
        maturation_scale=scale, typical_cl=prior.typical_cl(child.weight_kg, child.age_years, child.cyp3a5_expresser),
        v_l=prior.typical_v(child.weight_kg), ka_per_h=ka, omega=prior.omega(child.cyp3a5_expresser))


def _map_eta(levels: _Levels) -> tuple[float, float]:
    """The posterior mode of eta within +/- 5 omega, and its SD from the curvature there (Laplace)."""
    bound = 5 * levels.omega
    result = minimize_scalar(levels.objective, bounds=(-bound, bound), method="bounded", options={"xatol": 1e-5})
    eta = float(result.x)
    if not result.success or abs(eta) > bound * 0.999:
        raise ModelUnusable("the model fit did not converge")
    h = 1e-3
    curvature = (levels.objective(eta + h) - 2 * levels.objective(eta) + levels.objective(eta - h)) / h**2
    if not curvature > 0:
        raise ModelUnusable("the model fit did not converge")
    return eta, 1 / math.sqrt(curvature)


def fit_map(
    prior: Prior, child: Child, doses: list[Dose], trough_h: list[float], trough_ng_ml: list[float],
    trough_age_years: list[float] | None = None,
) -> Fit:
    """Fit eta (log CL deviation) to the troughs; raises ModelUnusable with the reason.

    With `trough_age_years` each level is predicted with the clearance maturation of the child's age when
    it was drawn (an infant's clearance can triple in months, decision 0164); weight stays the current.
    """
    _refuse_unfittable(prior, child, doses, trough_ng_ml)
    levels = _levels(prior, child, doses, trough_h, trough_ng_ml, trough_age_years)
    eta, eta_sd = _map_eta(levels)
    return Fit(
        prior=prior, child=child, eta=eta, eta_sd=eta_sd, cl_l_per_h=levels.typical_cl * math.exp(eta),
        v_l=levels.v_l, ka_per_h=levels.ka_per_h, troughs_used=len(trough_ng_ml),
    )


def predict_steady_trough(
    fit: Fit, dose_mg: float, per_day: int, formulation: str = "solution", *, seed: int = 16,
) -> Prediction:
    """Predicted steady-state trough for a dose: median and 80 % interval of the measured level.

    The interval samples eta from its Laplace posterior and the prior's residual error (fixed seed,
    so the same fit always prints the same interval).
    """
    prior = fit.prior
    f_dose = dose_mg * prior.bioavailability[formulation]
    tau = 24.0 / per_day
    median = steady_state_trough(f_dose, tau, ka=fit.ka_per_h, cl=fit.cl_l_per_h, v=fit.v_l)
    rng = np.random.default_rng(seed)
    etas = fit.eta + fit.eta_sd * rng.standard_normal(_SAMPLES)
    cls = fit.cl_l_per_h * np.exp(etas - fit.eta)
    k = cls / fit.v_l
    ka = fit.ka_per_h
    true = 1000.0 * f_dose * ka / (fit.v_l * (ka - k)) * (
        np.exp(-k * tau) / (1 - np.exp(-k * tau)) - math.exp(-ka * tau) / (1 - math.exp(-ka * tau)))
    measured = true + _residual_sd(prior, true) * rng.standard_normal(_SAMPLES)
    low, high = np.quantile(measured, [0.1, 0.9])
    return Prediction(median_ng_ml=median, low_ng_ml=max(float(low), 0.0), high_ng_ml=float(high))
