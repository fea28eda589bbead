"""One compartment, first-order absorption, superposition over the real dose history (numpy).

Time is in hours from any origin the caller chooses; doses in mg; concentrations in ng/mL
(mg/L x 1000). The formulation enters through the prior's relative bioavailability.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def steady_state_trough(dose_mg: float, tau_h: float, *, ka: float, cl: float, v: float) -> float:
    """Closed-form steady-state trough (ng/mL) of constant dosing every tau_h hours (F included in dose)."""
    k = cl / v
    factor = 1000.0 * dose_mg * ka / (v * (ka - k))
    return float(factor * (np.exp(-k * tau_h) / (1 - np.exp(-k * tau_h))
                           - np.exp(-ka * tau_h) / (1 - np.exp(-ka * tau_h))))
