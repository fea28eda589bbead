"""Virtual children drawn from a prior, for validation and the cohort simulation (seeded numpy RNG)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .model import Child, Dose, concentrations, dose_arrays, regimen
from .priors import Prior


@dataclass(frozen=True, kw_only=True)
class VirtualChild:
    child: Child
    cl_l_per_h: float  # the true CL/F the fit should recover
    v_l: float

    def levels(self, prior: Prior, doses: list[Dose], sample_h: list[float], rng: np.random.Generator) -> list[float]:
        """Measured troughs: true concentration plus the prior's residual error, floored at 0.3 ng/mL."""
        times, amounts = dose_arrays(doses, prior.bioavailability)
        true = concentrations(np.asarray(sample_h, dtype=np.float64), times, amounts,
                              ka=prior.ka_per_h, cl=self.cl_l_per_h, v=self.v_l)
        sd = np.sqrt((prior.proportional_error * true) ** 2 + prior.additive_error_ng_ml**2)
        return [max(0.3, float(x)) for x in true + sd * rng.standard_normal(len(true))]


def draw_child(prior: Prior, rng: np.random.Generator) -> VirtualChild:
    """A child inside the prior's covariate range (age log-uniform 0.3-10 y, weight for age), with a
    between-child CL deviation drawn from the prior (genotype unknown: the mixture, decision 0162)."""
    age = float(math.exp(rng.uniform(math.log(0.3), math.log(10.0))))
    weight = float(np.clip((9.0 * (age / 1.0) ** 0.55) * math.exp(0.12 * rng.standard_normal()),
                           prior.weight_range_kg[0], prior.weight_range_kg[1]))
    expresser = bool(rng.random() < prior.cyp3a5_share_unknown) if prior.cyp3a5_effect > 0 else False
    cl = prior.typical_cl(weight, age, expresser) * math.exp(prior.omega_cl * rng.standard_normal())
    return VirtualChild(child=Child(weight_kg=weight, age_years=age), cl_l_per_h=cl,
                        v_l=prior.typical_v(weight))


def starting_regimen(child: Child, days: int, *, mg_per_m2: float = 0.8, per_day: int = 2) -> list[Dose]:
    """0.8 mg/m2 twice daily (Adams 2016) for `days` days; BSA from weight alone (Costeff 1966)."""
    bsa = (4 * child.weight_kg + 7) / (child.weight_kg + 90)
    dose = round(mg_per_m2 * bsa, 2)
    return regimen(0.0, 24.0 * days, dose, per_day)
