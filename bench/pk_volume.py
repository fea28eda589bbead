"""Does fitting V/F as well as CL/F help, from the troughs the service sees? (decision 0164)

    python -m bench.pk_volume [--children 300] [--seed 16]

Virtual children whose true V/F varies between children (log-normal, SD 0.3: an assumption, neither prior
reports it) on 0.8 mg/m2 twice daily; troughs on days 14, 45 and 75 (prior's residual error); the dose is
changed by the linear rule towards 12.5 ng/mL; the next trough 28 days later. Compared: the service's fit
(CL/F only, V/F typical) and a 2-parameter MAP (CL/F and V/F, the same assumed SD 0.3 as V/F's prior).
Printed: CL/F recovery, V/F recovery and the next trough's median absolute error vs the true level.
"""
from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.optimize import minimize

from cds_service.clinical.pk import fit_map, load_prior, regimen, steady_state_trough
from cds_service.clinical.pk.model import Child, Dose, concentrations, dose_arrays
from cds_service.clinical.pk.priors import Prior
from cds_service.clinical.pk.virtual import draw_child, starting_regimen

OMEGA_V = 0.3
DAYS = (14, 45, 75)


def _fit_cl_and_v(prior: Prior, child: Child, doses: list[Dose], sample_h: list[float], levels: list[float]
                  ) -> tuple[float, float]:
    cl0 = prior.typical_cl(child.weight_kg, child.age_years, None)
    v0 = prior.typical_v(child.weight_kg)
    omega = prior.omega(None)
    times, amounts = dose_arrays(doses, prior.bioavailability)
    obs = np.asarray(levels)

    def objective(x: np.ndarray) -> float:
        pred = concentrations(np.asarray(sample_h), times, amounts, ka=prior.ka_per_h, cl=cl0 * math.exp(x[0]),
                              v=v0 * math.exp(x[1]))
        sd = np.maximum(prior.proportional_error * pred, 1e-3)
        return float(np.sum(((obs - pred) / sd) ** 2 / 2 + np.log(sd)) + x[0] ** 2 / (2 * omega**2)
                     + x[1] ** 2 / (2 * OMEGA_V**2))

    result = minimize(objective, np.zeros(2), method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6})
    return cl0 * math.exp(result.x[0]), v0 * math.exp(result.x[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=300)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    prior = load_prior("chen-2020-khe")
    errors: dict[str, list[float]] = {k: [] for k in ("cl1", "cl2", "v2", "next1", "next2", "linear")}
    for _ in range(args.children):
        vc = draw_child(prior, rng)
        v_true = vc.v_l * math.exp(OMEGA_V * rng.standard_normal())
        old = starting_regimen(vc.child, DAYS[-1])
        sample_h = [24.0 * d - 0.1 for d in DAYS]
        times, amounts = dose_arrays(old, prior.bioavailability)
        true = concentrations(np.asarray(sample_h), times, amounts, ka=prior.ka_per_h, cl=vc.cl_l_per_h, v=v_true)
        levels = [max(0.3, float(t) * (1 + prior.proportional_error * rng.standard_normal())) for t in true]
        old_mg = old[-1].amount_mg
        new_mg = round(old_mg * min(2.0, max(0.5, 12.5 / levels[-1])), 2)
        doses = old + regimen(24.0 * DAYS[-1], 24.0 * (DAYS[-1] + 29), new_mg, 2)
        t_next = np.array([24.0 * (DAYS[-1] + 28) - 0.1])
        times, amounts = dose_arrays(doses, prior.bioavailability)
        next_true = float(concentrations(t_next, times, amounts, ka=prior.ka_per_h, cl=vc.cl_l_per_h, v=v_true)[0])
        one = fit_map(prior, vc.child, old, sample_h, levels)
        cl2, v2 = _fit_cl_and_v(prior, vc.child, old, sample_h, levels)
        f = prior.bioavailability["solution"]
        pred1 = steady_state_trough(new_mg * f, 12.0, ka=prior.ka_per_h, cl=one.cl_l_per_h, v=one.v_l)
        pred2 = steady_state_trough(new_mg * f, 12.0, ka=prior.ka_per_h, cl=cl2, v=v2)
        errors["cl1"].append(abs(math.log(one.cl_l_per_h / vc.cl_l_per_h)))
        errors["cl2"].append(abs(math.log(cl2 / vc.cl_l_per_h)))
        errors["v2"].append(abs(math.log(v2 / v_true)))
        errors["next1"].append(abs(pred1 / next_true - 1))
        errors["next2"].append(abs(pred2 / next_true - 1))
        errors["linear"].append(abs(levels[-1] * new_mg / old_mg / next_true - 1))
    med = {k: float(np.median(v)) for k, v in errors.items()}
    print(f"N={args.children}, true V/F varies (SD {OMEGA_V}), 3 troughs:")
    print(f"  CL/F median |log error|: CL only {med['cl1']:.3f}, CL and V {med['cl2']:.3f}")
    print(f"  V/F median |log error| when fitted: {med['v2']:.3f} (prior alone: about {0.6745 * OMEGA_V:.3f})")
    print(f"  next trough median |error| vs true: linear {100 * med['linear']:.1f} %, CL only "
          f"{100 * med['next1']:.1f} %, CL and V {100 * med['next2']:.1f} %")


if __name__ == "__main__":
    main()
