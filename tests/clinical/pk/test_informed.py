"""The model reads the dose history as it was ordered: each order's frequency and formulation (issue #16)."""
from __future__ import annotations

from datetime import date

import pytest

from tests.clinical import fhir
from tests.clinical.test_scenarios import run


def _child(first_order: dict) -> list:
    """A level drawn under the first order, then the current order of 1 mg/day twice daily as solution."""
    later = fhir.sirolimus(date(2026, 9, 1), 0.5)
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe(), *fhir.chain(first_order, later),
            fhir.trough(6.0, date(2026, 8, 20)), fhir.trough(6.0, date(2026, 11, 15))]


def test_each_order_keeps_its_own_frequency_and_formulation_in_the_history():
    once_daily = run(_child(fhir.sirolimus(date(2024, 1, 1), 1.0, per_day=1)), fhir.draft(0.5, "mL", 2))
    first = once_daily.dose_history[0]
    assert (first.administrations_per_day, first.formulation) == (1, "solution")
    tablets = run(_child(fhir.sirolimus(date(2024, 1, 1), 1, unit="{tbl}", product=fhir.TAB_05)),
                  fhir.draft(0.5, "mL", 2))
    assert tablets.dose_history[0].formulation == "tablet"


def test_the_same_levels_under_another_regimen_give_another_fit():
    """6 ng/mL on 1 mg once daily means a lower clearance than 6 ng/mL on 0.5 mg twice daily (a once-daily
    trough falls further); as tablets (27 % more exposure) a higher clearance than as solution."""
    def predicted(first_order: dict) -> float:
        decision = run(_child(first_order), fhir.draft(0.5, "mL", 2))
        assert decision.model is not None and decision.model.proposal is not None
        return decision.model.proposal.median_ng_ml

    twice = predicted(fhir.sirolimus(date(2024, 1, 1), 0.5))
    once = predicted(fhir.sirolimus(date(2024, 1, 1), 1.0, per_day=1))
    tablet = predicted(fhir.sirolimus(date(2024, 1, 1), 1, unit="{tbl}", product=fhir.TAB_05))
    assert once > twice * 1.01
    assert tablet < twice / 1.01
    assert twice == pytest.approx(6.0, rel=0.35)
