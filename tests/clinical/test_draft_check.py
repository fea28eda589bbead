"""The draft compared with the protocol (issue #10 item 2): one scenario per classification row.

KHE maintenance child (tests/clinical/test_scenarios.baseline): 20 kg, 1.0 mg/day of the 1 mg/mL
solution (0.5 mL twice daily) since 2024, trough 8.1 ng/mL on 2026-11-15 (target 5-7, aim 6).
Protocol proposal by hand: 1.0 x 6 / 8.1 = 0.741 mg/day -> 0.37 mL twice daily = 0.74 mg/day.
Predicted trough of a draft D mg/day (rule 4, linear, steady state): 8.1 x D / 1.0, times 1.27 when the
draft moves from the solution to tablets (protocol data `tablet_exposure_vs_solution`).
"""
from __future__ import annotations

from datetime import date

import pytest

from cds_service.clinical.rules.draft_check import Departure, DraftVerdict
from tests.clinical import fhir
from tests.clinical.test_scenarios import RELAPSE_ORDERS, baseline, ihhe_infant, run, taper

INFANT_BORN = date(2026, 3, 1)  # 6 kg: protocol start 0.1 x 6 = 0.6 mg/day = 0.3 mL twice daily


@pytest.mark.parametrize(("draft", "verdict", "departure", "daily", "change", "predicted"), [
    # the protocol's own dose: 8.1 x 0.74 = 5.99 -> 6.0
    (fhir.draft(0.37, "mL", 2), DraftVerdict.FOLLOWS, None, 0.74, -26.0, 6.0),
    # unchanged 1.0 mg/day: the level stays 8.1, above 5-7
    (fhir.draft(0.5, "mL", 2), DraftVerdict.DEPARTS, Departure.TROUGH_ABOVE_TARGET, 1.0, 0.0, 8.1),
    # doubled: 8.1 x 2 = 16.2, above the range, and more than the linear rule asks (it asks for less)
    (fhir.draft(1.0, "mL", 2), DraftVerdict.DEPARTS, Departure.INCREASE_BEYOND_LINEAR, 2.0, 100.0, 16.2),
    # halved: 8.1 x 0.5 = 4.05 -> 4.0 (round half even of 4.05 in binary is 4.0 or 4.1; checked approx)
    (fhir.draft(0.25, "mL", 2), DraftVerdict.DEPARTS, Departure.TROUGH_BELOW_TARGET, 0.5, -50.0, 4.05),
    # issue #11 item 5: once daily at half the daily dose: 0.37 mg/day, 8.1 x 0.37 = 3.0
    (fhir.draft(0.37, "mL", 1), DraftVerdict.DEPARTS, Departure.TROUGH_BELOW_TARGET, 0.37, -63.0, 3.0),
    # the same 1 mg/day as 0.5 mg tablets: 8.1 x 1.0 x 1.27 = 10.3 (tablets give 27 % more exposure)
    (fhir.draft(1, "{tbl}", 2, product=fhir.TAB_05), DraftVerdict.DEPARTS, Departure.TROUGH_ABOVE_TARGET,
     1.0, 0.0, 10.3),
    # 10 mL twice daily = 20 mg/day: beyond the 4 mg/day sanity limit and 10 x the current dose
    (fhir.draft(10, "mL", 2), DraftVerdict.DANGEROUS, None, 20.0, 1900.0, 162.0),
])
def test_maintenance_drafts_are_classified_with_their_predicted_trough(draft, verdict, departure, daily, change,
                                                                      predicted) -> None:
    d = run(baseline(8.1), draft)
    check = d.draft_check
    assert check is not None
    assert check.verdict is verdict
    if departure is not None:
        assert departure in check.departures
    assert check.draft_daily_mg == pytest.approx(daily)
    assert check.change_percent == pytest.approx(change, abs=0.05)
    assert check.predicted_trough_ng_ml == pytest.approx(predicted, abs=0.06)
    assert (check.target_low_ng_ml, check.target_high_ng_ml) == (5.0, 7.0)


def test_a_switch_to_tablets_states_the_exposure_factor_and_its_source() -> None:
    check = run(baseline(8.1), fhir.draft(1, "{tbl}", 2, product=fhir.TAB_05)).draft_check
    assert check is not None and check.exposure_factor == pytest.approx(1.27)
    assert "not bioequivalent" in check.exposure_source
    same_form = run(baseline(8.1), fhir.draft(0.5, "mL", 2)).draft_check
    assert same_form is not None and same_form.exposure_factor == 1.0 and same_form.exposure_source == ""


@pytest.mark.parametrize(("ml_per_dose", "per_day", "verdict"), [
    (0.3, 2, DraftVerdict.FOLLOWS),   # 0.6 mg/day = 0.1 mg/kg/day
    (0.6, 2, DraftVerdict.DEPARTS),   # issue #11 item 5: twice the infant dose, 0.2 mg/kg/day (+100 %)
    (0.19, 2, DraftVerdict.DEPARTS),  # 0.38 mg/day = 0.063 mg/kg/day (-37 %), beyond +-20 %
    (0.3, 1, DraftVerdict.DEPARTS),   # once daily at half the daily dose: 0.05 mg/kg/day (-50 %)
    (0.34, 2, DraftVerdict.FOLLOWS),  # 0.68 mg/day = 0.113 mg/kg/day (+13 %), within +-20 %
])
def test_an_ihhe_start_more_than_20_percent_from_0_1_mg_per_kg_departs(ml_per_dose, per_day, verdict) -> None:
    d = run(ihhe_infant(), fhir.draft(ml_per_dose, "mL", per_day), born=INFANT_BORN)
    check = d.draft_check
    assert check is not None and check.verdict is verdict
    assert check.predicted_trough_ng_ml is None  # a start: no level to scale
    assert check.protocol_start_mg_per_kg_day == 0.1
    assert check.draft_mg_per_kg_day == pytest.approx(ml_per_dose * per_day / 6, abs=1e-4)
    assert (Departure.START_OFF_WEIGHT_DOSE in check.departures) is (verdict is DraftVerdict.DEPARTS)


def test_a_taper_step_over_the_10_percent_cap_departs_and_the_10_percent_step_follows() -> None:
    resources = taper(date(2026, 11, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0))
    over = run(resources, fhir.draft(0.4, "mL", 2)).draft_check  # 0.8 mg/day: -20 %
    assert over is not None and over.verdict is DraftVerdict.DEPARTS
    assert Departure.STEP_OVER_CAP in over.departures
    step = run(resources, fhir.draft(0.45, "mL", 2)).draft_check  # 0.9 mg/day: the protocol's step
    assert step is not None and step.verdict is DraftVerdict.FOLLOWS
    assert step.predicted_trough_ng_ml == pytest.approx(5.4)  # 6 x 0.9 / 1.0


def test_a_taper_step_sooner_than_the_spacing_departs() -> None:
    # cut to 0.9 mg/day on 2026-11-15; a further cut 7 days later is sooner than the spacing
    resources = taper(date(2026, 11, 1), [(date(2024, 1, 1), 0.5), (date(2026, 11, 15), 0.45)],
                      (date(2026, 11, 10), 6.0))
    check = run(resources, fhir.draft(0.43, "mL", 2)).draft_check
    assert check is not None and check.verdict is DraftVerdict.DEPARTS
    assert Departure.STEP_TOO_SOON in check.departures


def test_a_reduction_during_the_stabilisation_departs() -> None:
    orders = [*RELAPSE_ORDERS, (date(2026, 10, 13), 0.45)]  # returned to 0.9 mg/day 40 days ago
    check = run(taper(date(2025, 6, 1), orders, (date(2026, 11, 20), 5.0)), fhir.draft(0.43, "mL", 2)).draft_check
    assert check is not None and check.verdict is DraftVerdict.DEPARTS
    assert Departure.REDUCTION_DURING_STABILISATION in check.departures


def test_a_draft_without_a_dose_is_not_classified() -> None:
    draft = fhir.draft(0.5, "mL", 2)
    del draft["dosageInstruction"]
    assert run(baseline(8.1), draft).draft_check is None


def test_an_absurd_tablet_count_is_a_regimen_without_a_tablet_list_not_a_crash() -> None:
    """Found by the malformed-resource property test: 3,173,053,068 tablets once exhausted memory."""
    from cds_service.clinical.reading.draft import DraftOrder

    draft = DraftOrder(resource_id="d", kind="sirolimus", medication="Sirolimus 0.5 MG Oral Tablet",
                       formulation="tablet", strength_mg=0.5,
                       mg_per_administration=0.5 * 3173053068, ml_per_administration=None,
                       tablets_per_administration=3173053068.0, administrations_per_day=2, missing=(),
                       unknown_unit=None, reason_valuesets=(), text_mg=None, text_ml=None)
    regimen = draft.regimen()
    assert regimen is not None and regimen.tablet_strengths_mg == ()
    two = DraftOrder(**{**draft.__dict__, "tablets_per_administration": 2.0, "mg_per_administration": 1.0})
    assert two.regimen().tablet_strengths_mg == (0.5, 0.5)  # type: ignore[union-attr]
