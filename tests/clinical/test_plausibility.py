"""No dose from implausible levels or weights (safety review; clinical-protocol.md 2-3).

"No dose is ever proposed from missing, stale, unit-less, implausible or unverifiable data." Expected
values by hand from the protocol data (decisions 0011 censored and near-zero levels, 0012 the largest
change from one level, 0013 implausible weights and doses). Baseline: the KHE maintenance child of
test_scenarios (20 kg, oral solution 0.5 mL twice daily = 1.0 mg/day, target 5-7 ng/mL, aim 6).
"""
from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.clinical.decide import decide_monitoring
from cds_service.clinical.errors import ProtocolDataError
from cds_service.clinical.protocols import load_protocols, parse_protocol
from cds_service.clinical.reading.facts import Measurement, Trough
from cds_service.clinical.reading.record import build_record
from cds_service.clinical.rules.dosing import sanity_problems, trough_problems, weight_problems
from cds_service.clinical.rules.titration import starting_dose
from cds_service.synthetic import anchor_date, load_scenario
from fhir_profiles import load_json
from tests.clinical import fhir
from tests.clinical.test_scenarios import BORN, TODAY, baseline, codes, ihhe_infant, run

P = load_protocols()
MAINTENANCE, IHHE = P["khe-maintenance"], P["ihhe-sequential-sirolimus"]
DRAFT = fhir.draft(0.5, "mL", 2)


def censored(value: float, comparator: str, on: date = date(2026, 11, 15)) -> dict[str, Any]:
    level = fhir.trough(value, on)
    level["valueQuantity"]["comparator"] = comparator
    return level


def level(value: float | None, comparator: str | None = None, unit: str | None = "ng/mL") -> Trough:
    return Trough(resource="Observation/t", drawn_on=date(2026, 11, 15), value_ng_ml=value, original_value=value,
                  original_unit=unit, status="final", method=None, sample_text="", comparator=comparator)


# --- 1. censored levels ("<2 ng/mL") are bounds, never values -----------------------------------------

def test_the_comparator_is_carried_onto_the_trough() -> None:
    record = build_record(fhir.patient(BORN), baseline(None) + [censored(2.0, "<")], TODAY)
    assert record.troughs[0].comparator == "<" and record.troughs[0].value_ng_ml == 2.0
    exact = build_record(fhir.patient(BORN), baseline(6.0), TODAY)
    assert exact.troughs[0].comparator is None


@pytest.mark.parametrize(("value", "comparator", "side"), [
    (2.0, "<", "below"),   # read as 2: 1.0 x 6/2 = 3.0 mg/day, +200 %, before the fix
    (1.5, "<=", "below"),
    (30.0, ">", "above"),  # read as 30: 1.0 x 6/30 = 0.2 mg/day, -80 %, before the fix
    (50.0, ">=", "above"),
])
def test_a_censored_level_gives_no_dose(value: float, comparator: str, side: str) -> None:
    d = run(baseline(None) + [censored(value, comparator)], DRAFT)
    assert d.proposed_dose is None
    expected = f"reported as {comparator}{value:g} ng/mL: {side} the assay's range, not a value to scale a dose from"
    assert d.troughs_used[0].usable is False
    assert expected in d.troughs_used[0].reasons_unusable
    assert any(expected in r for r in d.no_proposal_reasons)


def test_a_censored_level_in_range_is_still_not_a_value() -> None:
    # "<6" lies inside 5-7 as a number, but it is a bound: not usable, not even to keep the dose
    assert trough_problems(level(6.0, "<"), None, MAINTENANCE.trough, TODAY) == (
        "reported as <6 ng/mL: below the assay's range, not a value to scale a dose from",)


def test_a_censored_weight_is_not_used() -> None:
    weight = fhir.weight(20, date(2026, 11, 15))
    weight["valueQuantity"]["comparator"] = ">"
    record = build_record(fhir.patient(BORN), [weight], TODAY)
    assert record.weights_kg == ()
    assert any("a bound, not a value" in u.reason for u in record.unusable)


# --- 2. near-zero levels: below the plausible minimum (1.0 ng/mL) --------------------------------------

def test_every_protocol_states_the_plausible_minimum_level() -> None:
    assert {p.trough.plausible_min_ng_ml for p in P.by_id.values()} == {1.0}


def test_a_near_zero_level_gives_no_dose() -> None:
    # IHHE, 10 kg, 0.05 mg twice daily = 0.1 mg/day, level 0.4 ng/mL: before the fix
    # 0.1 x 11.5/0.4 = 2.875 -> 1.44 mg twice daily, +2780 %
    res = ihhe_infant() + [fhir.weight(10, date(2026, 11, 20)), fhir.sirolimus(date(2026, 10, 1), 0.05),
                           fhir.trough(0.4, date(2026, 11, 18))]
    d = run(res, fhir.draft(0.05, "mL", 2), born=date(2026, 3, 1))
    assert d.proposed_dose is None
    assert any("0.4 ng/mL is below the plausible minimum of 1 ng/mL" in r for r in d.no_proposal_reasons)


@pytest.mark.parametrize(("value", "usable"), [(0.99, False), (1.0, True), (0.5, False), (60.0, True)])
def test_the_plausible_minimum_is_inclusive(value: float, usable: bool) -> None:
    problems = trough_problems(level(value), None, MAINTENANCE.trough, TODAY)
    assert (not problems) is usable
    if not usable:
        assert problems == (f"{value:g} ng/mL is below the plausible minimum of 1 ng/mL (the assays' lower "
                            "limit of quantitation): not a value to scale a dose from",)


def test_a_protocol_file_without_the_plausible_minimum_is_rejected() -> None:
    data = copy.deepcopy(load_json("protocols/khe-maintenance.json"))  # the loader's cached dict stays intact
    del data["trough"]["plausible_min_ng_ml"]
    with pytest.raises(ProtocolDataError):
        parse_protocol(data)


# --- 3. one level moves the dose at most x2 or /2 ----------------------------------------------------

def test_the_titrating_protocols_cap_one_change_at_2_fold() -> None:
    assert MAINTENANCE.titration_max_fold_change == 2.0 and IHHE.titration_max_fold_change == 2.0
    data = copy.deepcopy(load_json("protocols/khe-maintenance.json"))  # the loader's cached dict stays intact
    del data["titration"]["max_fold_change"]
    with pytest.raises(ProtocolDataError):
        parse_protocol(data)


@pytest.mark.parametrize(("trough", "shown"), [
    (2.5, "×2.4"),   # 1.0 x 6/2.5 = 2.4 mg/day (0.12 mg/kg/day, within the sanity limits): more than x2
    (13.0, "×0.46"),  # 1.0 x 6/13 = 0.46 mg/day: less than half
])
def test_a_change_beyond_2_fold_from_one_level_needs_a_repeat_trough(trough: float, shown: str) -> None:
    d = run(baseline(trough), DRAFT)
    assert d.proposed_dose is None
    (finding,) = [f for f in d.findings if f.code == "change-needs-confirmation"]
    assert finding.severity == "warning"
    assert finding.message == (f"a single level of {trough:g} ng/mL would change the dose {shown}: repeat the "
                               "trough to confirm it before a change this large")


@pytest.mark.parametrize(("trough", "daily_mg"), [
    (3.0, 2.0),   # 1.0 x 6/3 = 2.0 mg/day: exactly x2, proposed (1.0 mL twice daily)
    (12.0, 0.5),  # 1.0 x 6/12 = 0.5 mg/day: exactly /2, proposed (0.25 mL twice daily)
])
def test_a_change_of_exactly_2_fold_is_proposed(trough: float, daily_mg: float) -> None:
    d = run(baseline(trough), DRAFT)
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(daily_mg)
    assert "change-needs-confirmation" not in codes(d)


def test_ihhe_trough_of_5_on_0_6_mg_needs_confirmation() -> None:
    # 0.6 mg/day, trough 5: 0.6 x 11.5/5 = 1.38 mg/day = x2.3 > 2
    res = ihhe_infant() + [fhir.sirolimus(date(2026, 10, 1), 0.3), fhir.trough(5.0, date(2026, 11, 18))]
    d = run(res, fhir.draft(0.3, "mL", 2), born=date(2026, 3, 1))
    assert d.proposed_dose is None and "change-needs-confirmation" in codes(d)


def test_the_synthetic_ihhe_trough_low_child_still_gets_its_proposal() -> None:
    # the shipped scenario: +86 % (x1.86), within the 2-fold cap
    today = anchor_date()
    entries = [e["resource"] for e in load_scenario("ihhe-trough-low", today)["entry"]]
    (patient,) = [r for r in entries if r["resourceType"] == "Patient"]
    record = build_record(patient, [r for r in entries if r["resourceType"] != "Patient"], today)
    d = decide_monitoring(record, P, today)
    assert d.proposed_dose is not None and d.proposed_dose.percent_change == pytest.approx(86, abs=1)
    assert "change-needs-confirmation" not in codes(d)


# --- 4. a weight 10 times the one before is an entry error until confirmed ----------------------------

def weights(*kg_days_ago: tuple[float, int], on: date = TODAY) -> tuple[Measurement, ...]:
    """Newest first, as PatientRecord.weights_kg."""
    made = [Measurement(kg, kg, "kg", on - timedelta(days=ago), f"Observation/w{i}")
            for i, (kg, ago) in enumerate(kg_days_ago)]
    return tuple(sorted(made, key=lambda m: m.on, reverse=True))


def test_every_protocol_states_the_weight_limits() -> None:
    assert {(p.sanity.min_weight_kg, p.sanity.max_weight_change_fraction, p.sanity.weight_jump_window_days)
            for p in P.by_id.values()} == {(0.4, 1.0, 60)}


def test_a_tenfold_weight_jump_is_a_problem() -> None:
    # 3.5 kg 12 days ago, "35 kg" yesterday: 35/3.5 = x10 > 1 + 1.0
    assert weight_problems(weights((3.5, 12), (35.0, 1)), TODAY, IHHE.sanity) == (
        "weight 35 kg on 2026-11-21 differs from 3.5 kg on 2026-11-10 by more than 100 % (×10): "
        "confirm the weight",)


def test_a_tenfold_weight_drop_is_a_problem() -> None:
    (problem,) = weight_problems(weights((35.0, 12), (3.5, 1)), TODAY, IHHE.sanity)
    assert problem.startswith("weight 3.5 kg on 2026-11-21 differs from 35 kg on 2026-11-10")


def test_pounds_read_as_kilograms_are_caught() -> None:
    # 10 kg, then "22" (pounds) as kg two weeks later: x2.2 > 2
    assert weight_problems(weights((10.0, 15), (22.0, 1)), TODAY, MAINTENANCE.sanity)


def test_a_copied_forward_wrong_weight_stays_a_problem() -> None:
    # 3.5 kg, then 35 kg twice: the newest is still compared with the 3.5 kg of 12 days ago
    assert weight_problems(weights((3.5, 12), (35.0, 5), (35.0, 1)), TODAY, IHHE.sanity)


def test_normal_infant_growth_is_not_a_problem() -> None:
    # WHO median boy: 3.3 kg at birth, 4.5 kg at 1 month, 5.6 kg at 2 months (x1.7 in 60 days)
    assert weight_problems(weights((3.3, 60), (4.5, 30), (5.6, 0)), TODAY, IHHE.sanity) == ()
    # the older child: 20.0 then 20.1 kg
    assert weight_problems(weights((20.0, 40), (20.1, 1)), TODAY, MAINTENANCE.sanity) == ()


def test_a_weight_outside_the_window_is_not_compared() -> None:
    # 3.5 kg 70 days before the newest: beyond the 60-day window
    assert weight_problems(weights((3.5, 71), (35.0, 1)), TODAY, IHHE.sanity) == ()


def test_weights_after_the_day_are_ignored_and_none_is_no_problem() -> None:
    assert weight_problems(weights((3.5, 12), (35.0, 1)), TODAY - timedelta(days=5), IHHE.sanity) == ()
    assert weight_problems((), TODAY, IHHE.sanity) == ()


# --- 5. zero doses and implausibly small weights --------------------------------------------------------

@pytest.mark.parametrize(("kg", "ok"), [(0.005, False), (0.39, False), (0.4, True), (3.0, True)])
def test_a_weight_below_0_4_kg_is_a_problem(kg: float, ok: bool) -> None:
    problems = weight_problems(weights((kg, 1)), TODAY, IHHE.sanity)
    assert (problems == ()) is ok
    if not ok:
        assert problems == (f"weight {kg:g} kg on 2026-11-21 is below the plausible minimum of 0.4 kg: "
                            "confirm the weight and its unit",)


@pytest.mark.parametrize("daily_mg", [0.0, -0.5])
def test_a_daily_dose_at_or_below_zero_is_a_sanity_problem(daily_mg: float) -> None:
    assert sanity_problems(daily_mg, 5.0, IHHE.sanity) == (
        f"{daily_mg:g} mg/day is not a dose that can be given (it must be above 0 mg/day)",)
    assert sanity_problems(0.5, 5.0, IHHE.sanity) == ()


def test_a_start_that_rounds_to_0_mg_is_not_proposed() -> None:
    # 0.1 mg/kg/day x 0.005 kg = 0.0005 mg/day -> 0.00025 mg twice daily -> rounds to 0 mg
    proposed, found = starting_dose(IHHE, 0.005)
    assert proposed is None
    assert [(f.code, f.severity) for f in found] == [("proposal-above-limit", "critical")]
    assert "0 mg/day is not a dose that can be given" in found[0].message


def test_the_ihhe_start_for_a_5_g_weight_is_not_proposed() -> None:
    # before the fix a 0 mg start was proposed; after it, the sanity check refuses it (and, once
    # assess.py reads weight_problems, the 5 g weight itself counts as missing)
    res = [fhir.weight(5, date(2026, 11, 20), unit="g"), *ihhe_infant()[1:]]
    d = run(res, fhir.draft(0.3, "mL", 2), born=date(2026, 3, 1))
    assert d.proposed_dose is None
