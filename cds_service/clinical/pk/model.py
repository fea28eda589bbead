"""One compartment, first-order absorption, superposition over the real dose history (numpy).

Time is in hours from any origin the caller chooses; doses in mg; concentrations in ng/mL
(mg/L x 1000). The formulation enters through the prior's relative bioavailability.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class Dose:
    time_h: float
    amount_mg: float
    formulation: str = "solution"  # "solution" | "tablet"


@dataclass(frozen=True, kw_only=True)
class Child:
    weight_kg: float
    age_years: float
    cyp3a5_expresser: bool | None = None  # usually unknown


def regimen(
    start_h: float, end_h: float, dose_mg: float, per_day: int, formulation: str = "solution",
) -> list[Dose]:
    """Doses of one regimen segment [start_h, end_h): once daily every 24 h, twice daily every 12 h."""
    tau = 24.0 / per_day
    times = np.arange(start_h, end_h - 1e-9, tau)
    return [Dose(time_h=float(t), amount_mg=dose_mg, formulation=formulation) for t in times]


def dose_arrays(doses: list[Dose], bioavailability: dict[str, float]) -> tuple[FloatArray, FloatArray]:
    """Dose times and bioavailable amounts (mg), as arrays."""
    times = np.array([d.time_h for d in doses], dtype=np.float64)
    amounts = np.array([d.amount_mg * bioavailability[d.formulation] for d in doses], dtype=np.float64)
    return times, amounts


def unit_response(dt: FloatArray, ka: float, k: float, v: float) -> FloatArray:
    """Concentration (ng/mL) per mg at dt hours after an oral dose; 0 before it."""
    positive = np.maximum(dt, 0.0)
    c = 1000.0 * ka / (v * (ka - k)) * (np.exp(-k * positive) - np.exp(-ka * positive))
    return np.where(dt > 0, c, 0.0)


def concentrations(
    sample_h: FloatArray, dose_times: FloatArray, amounts: FloatArray, *, ka: float, cl: float, v: float,
) -> FloatArray:
    """Whole-blood concentrations (ng/mL) at the sample times, summed over every earlier dose."""
    dt = sample_h[:, None] - dose_times[None, :]
    return np.asarray(unit_response(dt, ka, cl / v, v) @ amounts, dtype=np.float64)


def concentrations_ascending(
    sample_h: FloatArray, dose_times: FloatArray, amounts: FloatArray, *, ka: float, cl: float, v: float,
) -> FloatArray:
    """`concentrations` at ascending sample times (a curve), in time linear in doses + samples, not their product.

    Each exponential is carried from one sample to the next (exp(-k(t2 - d)) = exp(-k(t1 - d)) exp(-k(t2 - t1)))
    instead of being recomputed for every earlier dose at every sample; the same sums to rounding error."""
    k = cl / v
    factor = 1000.0 * ka / (v * (ka - k))
    return np.asarray(factor * (_decayed_sums(sample_h, dose_times, amounts, k)
                                - _decayed_sums(sample_h, dose_times, amounts, ka)), dtype=np.float64)


def _decayed_sums(sample_h: FloatArray, dose_times: FloatArray, amounts: FloatArray, rate: float) -> FloatArray:
    """For each ascending sample time t: the sum of amount x exp(-rate (t - dose time)) over doses before t."""
    if len(sample_h) == 0:
        return np.zeros(0)
    first_after = np.searchsorted(sample_h, dose_times, side="right")  # the first sample after each dose
    kept = first_after < len(sample_h)
    slot = first_after[kept]
    arriving = np.bincount(slot, weights=amounts[kept] * np.exp(-rate * (sample_h[slot] - dose_times[kept])),
                           minlength=len(sample_h))
    carry = np.exp(-rate * np.diff(sample_h))
    sums = accumulate(zip(carry.tolist(), arriving[1:].tolist(), strict=True),
                      lambda total, step: total * step[0] + step[1], initial=float(arriving[0]))
    return np.fromiter(sums, dtype=np.float64, count=len(sample_h))


def steady_state_trough(dose_mg: float, tau_h: float, *, ka: float, cl: float, v: float) -> float:
    """Closed-form steady-state trough (ng/mL) of constant dosing every tau_h hours (F included in dose)."""
    k = cl / v
    factor = 1000.0 * dose_mg * ka / (v * (ka - k))
    return float(factor * (np.exp(-k * tau_h) / (1 - np.exp(-k * tau_h))
                           - np.exp(-ka * tau_h) / (1 - np.exp(-ka * tau_h))))
