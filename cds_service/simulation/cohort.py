"""Virtual children for `sirolimus-cds simulate`: who they are, how their body handles sirolimus, and
when their disease comes back. Every number here is an assumption stated in decision 0163.

- Ages and weights come from the protocols' populations: IHHE infants after failed propranolol (3-10
  months), KHE children 2.5-9.5 years after at least 2 years of remission (the trial enrols 0-12 years;
  the upper bound keeps a 24-month course inside the WHO growth table). Weight: WHO median for age
  times a per-child size factor (log-normal, SD 0.10), growing month by month.
- Sirolimus clearance: the Chen 2020 prior (the service's default) with the child's weight and age
  (maturation below 2 years), CYP3A5 expresser drawn with the prior's share, and a between-child
  deviation exp(omega x z). V/F and ka: the prior's typical values.
- A measured trough: the true concentration at the moment of the draw (drawn 5-120 minutes before the
  08:00 dose; 5 % of draws taken 1-3 h after it by mistake) times a log-normal assay and day-to-day
  error (SD 0.20). Never below the assay's 0.3 ng/mL.
- Relapse (KHE): monthly hazard 5.6 % off sirolimus (more than half of KHE children relapse within a
  year of stopping: 1 - 0.5^(1/12)), scaled by how far the dose is below the effective dose the child
  started from: hazard = 5.6 % x (1 - dose / effective dose). A relapse shows as platelets 60 x 10^9/L
  at the next visit, until the dose goes back up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from cds_service.clinical.pk.model import Dose, concentrations, dose_arrays, regimen, steady_state_trough
from cds_service.clinical.pk.priors import Prior
from cds_service.simulation import IHHE, KHE_GUIDED, KHE_MAINTENANCE
from cds_service.synthetic.builder import DoseStep, who_median

AGE_RANGE_DAYS = {IHHE: (91, 304), KHE_MAINTENANCE: (913, 3470), KHE_GUIDED: (913, 3470)}
SIZE_FACTOR_SD = 0.10
ASSAY_SD = 0.20  # log scale: assay and day-to-day variation of one child's trough
DRAW_MINUTES_BEFORE_DOSE = (5.0, 120.0)
DRAWN_AFTER_DOSE_SHARE = 0.05
DRAWN_AFTER_DOSE_HOURS = (1.0, 3.0)
ASSAY_FLOOR_NG_ML = 0.3
OFF_DRUG_MONTHLY_RELAPSE = 1 - 0.5 ** (1 / 12)
RELAPSE_PLATELETS = 60.0
KHE_EFFECTIVE_TROUGH_NG_ML = 6.0  # the maintenance dose the child is on: true trough about 6 (SD 0.25 log)
KHE_EFFECTIVE_TROUGH_SD = 0.25
DOSE_HOURS = {1: (8.0,), 2: (8.0, 20.0)}


@dataclass(frozen=True, kw_only=True)
class VirtualPatient:
    """One simulated child: who they are, and the truth the service cannot see."""

    arm: str
    index: int
    birth_date: date
    female: bool
    size_factor: float
    cyp3a5_expresser: bool
    eta_cl: float  # between-child deviation of log CL/F from the prior's typical value

    @property
    def patient_id(self) -> str:
        return f"sim-{self.arm}-{self.index:04d}"

    def weight_kg(self, day: date) -> float:
        weight, _ = who_median((day - self.birth_date).days)
        return weight * self.size_factor * (0.95 if self.female else 1.0)

    def cl_l_per_h(self, prior: Prior, day: date) -> float:
        age_years = (day - self.birth_date).days / 365.25
        typical = prior.typical_cl(self.weight_kg(day), age_years, self.cyp3a5_expresser)
        return typical * math.exp(self.eta_cl)

    def steady_trough_per_mg(self, prior: Prior, day: date, per_day: int) -> float:
        """True steady-state trough (ng/mL) per mg per administration of the solution on that day."""
        return steady_state_trough(prior.bioavailability["solution"], 24.0 / per_day, ka=prior.ka_per_h,
                                   cl=self.cl_l_per_h(prior, day), v=prior.typical_v(self.weight_kg(day)))


def draw_patient(arm: str, index: int, day0: date, prior: Prior, rng: np.random.Generator) -> VirtualPatient:
    low, high = AGE_RANGE_DAYS[arm]
    age_days = int(rng.integers(low, high + 1))
    expresser = bool(rng.random() < prior.cyp3a5_share_unknown) if prior.cyp3a5_effect > 0 else False
    return VirtualPatient(
        arm=arm, index=index, birth_date=day0 - timedelta(days=age_days), female=bool(rng.random() < 0.5),
        size_factor=float(math.exp(SIZE_FACTOR_SD * rng.standard_normal())), cyp3a5_expresser=expresser,
        eta_cl=float(prior.omega_cl * rng.standard_normal()))


def effective_dose_mg(patient: VirtualPatient, prior: Prior, day0: date, rng: np.random.Generator,
                      max_mg_per_kg_day: float) -> Decimal:
    """The KHE child's maintenance dose per administration (twice daily, 0.01 mL of 1 mg/mL): the dose
    that gave them a trough near 6 ng/mL, as found by their clinicians before the simulation starts."""
    aim = KHE_EFFECTIVE_TROUGH_NG_ML * math.exp(KHE_EFFECTIVE_TROUGH_SD * rng.standard_normal())
    dose = aim / patient.steady_trough_per_mg(prior, day0, 2)
    dose = min(dose, max_mg_per_kg_day * patient.weight_kg(day0) / 2)
    return max(Decimal("0.01"), Decimal(str(round(dose, 2))))


def dose_list(steps: list[DoseStep], stop: date | None, origin: date, until: date) -> list[Dose]:
    """Every administration of the orders (solution, 08:00 and 20:00 twice daily), hours from origin."""
    doses: list[Dose] = []
    for i, step in enumerate(steps):
        end = steps[i + 1].start if i + 1 < len(steps) else (stop or until)
        start = max(step.start, origin)
        if end <= start:
            continue
        mg = float(step.daily_mg) / step.per_day
        first_h = (start - origin).days * 24.0 + DOSE_HOURS[step.per_day][0]
        last_h = (end - origin).days * 24.0 + DOSE_HOURS[step.per_day][0]
        doses += regimen(first_h, last_h, mg, step.per_day, "solution" if step.product == "solution" else "tablet")
    return doses


def measured_trough(patient: VirtualPatient, prior: Prior, doses: list[Dose], origin: date, day: date,
                    rng: np.random.Generator) -> tuple[float, float]:
    """(value ng/mL, hour of the draw): the true concentration at the draw, with assay error."""
    if rng.random() < DRAWN_AFTER_DOSE_SHARE:
        hour = 8.0 + float(rng.uniform(*DRAWN_AFTER_DOSE_HOURS))
    else:
        hour = 8.0 - float(rng.uniform(*DRAW_MINUTES_BEFORE_DOSE)) / 60
    true = true_concentration(patient, prior, doses, origin, day, np.array([hour]))[0]
    value = max(ASSAY_FLOOR_NG_ML, float(true) * math.exp(ASSAY_SD * rng.standard_normal()))
    return round(value, 1), hour


def true_concentration(patient: VirtualPatient, prior: Prior, doses: list[Dose], origin: date, day: date,
                       hours: np.ndarray) -> np.ndarray:
    """True whole-blood concentrations (ng/mL) on `day` at the given clock hours (CL of that day)."""
    if not doses:
        return np.zeros(len(hours))
    times, amounts = dose_arrays(doses, prior.bioavailability)
    sample = (day - origin).days * 24.0 + np.asarray(hours, dtype=np.float64)
    return concentrations(sample, times, amounts, ka=prior.ka_per_h, cl=patient.cl_l_per_h(prior, day),
                          v=prior.typical_v(patient.weight_kg(day)))


def relapses(patient: VirtualPatient, daily_mg: float, effective_daily_mg: float, days: int,
             rng: np.random.Generator) -> bool:
    """Whether the KHE comes back over `days` days at this dose (hazard scaled by the missing dose)."""
    if patient.arm == IHHE or effective_daily_mg <= 0:
        return False
    shortfall = min(1.0, max(0.0, 1 - daily_mg / effective_daily_mg))
    monthly = OFF_DRUG_MONTHLY_RELAPSE * shortfall
    return bool(rng.random() < 1 - (1 - monthly) ** (days / 30.0))
