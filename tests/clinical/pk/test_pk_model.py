"""PK model: closed form, superposition, priors validated on load, MAP recovery and interval calibration."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from cds_service.clinical.errors import ProtocolDataError
from cds_service.clinical.pk import (
    Child,
    ModelUnusable,
    fit_map,
    load_prior,
    predict_steady_trough,
    regimen,
    steady_state_trough,
)
from cds_service.clinical.pk.model import concentrations, concentrations_ascending, dose_arrays
from cds_service.clinical.pk.priors import parse_prior
from cds_service.clinical.pk.virtual import draw_child, starting_regimen
from fhir_profiles import load_json


@pytest.mark.parametrize("prior_id", ["chen-2020-khe", "fan-2024"])
@pytest.mark.parametrize("per_day", [1, 2])
def test_superposition_reaches_the_closed_form_steady_state_trough_within_1_percent(prior_id, per_day):
    prior = load_prior(prior_id)
    child = Child(weight_kg=9.0, age_years=1.0)
    cl, v = prior.typical_cl(9.0, 1.0, False), prior.typical_v(9.0)
    doses = regimen(0.0, 24.0 * 120, 0.4, per_day)
    times, amounts = dose_arrays(doses, prior.bioavailability)
    last_trough = doses[-1].time_h + 24.0 / per_day
    simulated = concentrations(np.array([last_trough]), times, amounts, ka=prior.ka_per_h, cl=cl, v=v)[0]
    closed = steady_state_trough(0.4, 24.0 / per_day, ka=prior.ka_per_h, cl=cl, v=v)
    assert simulated == pytest.approx(closed, rel=0.01)
    assert child.weight_kg == 9.0


def test_tablet_gives_27_percent_more_exposure_than_solution():
    prior = load_prior("chen-2020-khe")
    cl, v = prior.typical_cl(9.0, 1.0, False), prior.typical_v(9.0)
    sol = regimen(0.0, 24.0 * 60, 0.5, 2, "solution")
    tab = regimen(0.0, 24.0 * 60, 0.5, 2, "tablet")
    t = np.array([24.0 * 60])
    c_sol = concentrations(t, *dose_arrays(sol, prior.bioavailability), ka=prior.ka_per_h, cl=cl, v=v)[0]
    c_tab = concentrations(t, *dose_arrays(tab, prior.bioavailability), ka=prior.ka_per_h, cl=cl, v=v)[0]
    assert c_tab / c_sol == pytest.approx(1.27, rel=1e-9)


@pytest.mark.parametrize("prior_id", ["chen-2020-khe", "fan-2024"])
def test_the_chart_curve_is_the_superposition_over_every_earlier_dose(prior_id):
    """The decision page's curve (carried from sample to sample) is the dose-by-dose sum at every sample:
    two years of changing doses, frequencies and formulations, samples before the first dose, between
    doses and exactly at a dose (which has not yet counted)."""
    prior = load_prior(prior_id)
    cl, v = prior.typical_cl(9.0, 1.0, None), prior.typical_v(9.0)
    doses = [*regimen(24.0 * 3, 24.0 * 300, 0.4, 2), *regimen(24.0 * 300, 24.0 * 500, 0.9, 1, "tablet"),
             *regimen(24.0 * 520, 24.0 * 730, 0.25, 2)]
    times, amounts = dose_arrays(doses, prior.bioavailability)
    sample = np.array([0.0, 24.0 * 3, *(24.0 * d + 7.9 for d in range(4, 735)), 24.0 * 800])
    expected = concentrations(sample, times, amounts, ka=prior.ka_per_h, cl=cl, v=v)
    curve = concentrations_ascending(sample, times, amounts, ka=prior.ka_per_h, cl=cl, v=v)
    assert curve[:2].tolist() == [0.0, 0.0]
    assert curve == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_clearance_matures_in_infancy_half_at_0_44_years():
    prior = load_prior("chen-2020-khe")
    young, half, mature = (prior.maturation(a) / prior.maturation(10.0) for a in (0.1, 0.44, 2.0))
    assert young < 0.05 and half == pytest.approx(0.5, abs=0.01) and mature > 0.95


def test_unknown_cyp3a5_sits_between_genotypes_with_wider_variability():
    prior = load_prior("chen-2020-khe")
    non, exp_, unknown = (prior.typical_cl(9.0, 1.0, g) for g in (False, True, None))
    assert non < unknown < exp_
    assert prior.omega(None) > prior.omega(False) == prior.omega_cl


def test_an_invalid_prior_file_is_refused_on_load():
    data = copy.deepcopy(load_json("pk-priors/chen-2020-khe.json"))
    data["parameters"]["cl_l_per_h"] = -1
    with pytest.raises(ProtocolDataError):
        parse_prior(data)


def test_model_is_not_used_without_a_trough_or_outside_its_covariate_range():
    prior = load_prior("chen-2020-khe")
    doses = regimen(0.0, 24.0 * 30, 0.4, 2)
    with pytest.raises(ModelUnusable, match="no usable trough"):
        fit_map(prior, Child(weight_kg=9.0, age_years=1.0), doses, [], [])
    with pytest.raises(ModelUnusable, match="outside the model's range"):
        fit_map(prior, Child(weight_kg=60.0, age_years=15.0), doses, [24.0 * 30], [8.0])


def _cohort(n: int, seed: int):
    prior = load_prior("chen-2020-khe")
    rng = np.random.default_rng(seed)
    for _ in range(n):
        vc = draw_child(prior, rng)
        doses = starting_regimen(vc.child, 90)
        sample_h = [24.0 * 14 - 0.1, 24.0 * 45 - 0.1, 24.0 * 75 - 0.1]
        levels = vc.levels(prior, doses, sample_h, rng)
        yield prior, vc, doses, sample_h, levels, rng


def test_map_recovers_clearance_of_simulated_children():
    """Three troughs over 3 months: median |log error| of CL/F below the prior's own spread, no bias > 15 %."""
    errors = []
    for prior, vc, doses, sample_h, levels, _ in _cohort(40, seed=1601):
        fit = fit_map(prior, vc.child, doses, sample_h, levels)
        errors.append(math.log(fit.cl_l_per_h / vc.cl_l_per_h))
    errors_arr = np.array(errors)
    assert abs(np.median(errors_arr)) < math.log(1.15)
    assert np.median(np.abs(errors_arr)) < load_prior("chen-2020-khe").omega(None) / 2


@pytest.mark.slow
def test_80_percent_interval_covers_about_80_percent_of_next_troughs():
    """Fixed cohort of 200: the next steady-state trough after a dose change falls in the 80 % interval
    70-90 % of the time."""
    inside = 0
    n = 200
    for prior, vc, doses, sample_h, levels, rng in _cohort(n, seed=1602):
        fit = fit_map(prior, vc.child, doses, sample_h, levels)
        new_dose = round(doses[-1].amount_mg * 1.3, 2)
        pred = predict_steady_trough(fit, new_dose, 2)
        follow = doses + regimen(24.0 * 90, 24.0 * 120, new_dose, 2)
        observed = vc.levels(prior, follow, [24.0 * 120 - 0.1], rng)[0]
        inside += pred.low_ng_ml <= observed <= pred.high_ng_ml
    assert 0.70 <= inside / n <= 0.90
