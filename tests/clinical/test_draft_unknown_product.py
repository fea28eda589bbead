"""A draft naming only the ingredient (RxNorm 35302) cannot be compared by its predicted trough: the same
mg of tablets gives about 27 % more exposure than the oral solution (decision 0024).

KHE maintenance child of tests/clinical/test_scenarios.baseline: 1.0 mg/day of the 1 mg/mL solution,
trough 8.1 ng/mL (target 5-7); the protocol proposes 0.37 mL twice daily (0.74 mg/day).
"""
from __future__ import annotations

import pytest

from cds_service.clinical.rules.draft_check import Departure, DraftVerdict
from tests.clinical import fhir
from tests.clinical.test_scenarios import baseline, run

INGREDIENT = "35302"


@pytest.mark.parametrize("daily_mg_per_dose", [0.5, 0.37])  # unchanged 1.0 mg/day; the proposal's 0.74
def test_a_draft_of_unknown_product_gets_no_predicted_trough_and_no_verdict(daily_mg_per_dose: float) -> None:
    d = run(baseline(8.1), fhir.draft(daily_mg_per_dose, "mg", 2, product=INGREDIENT))
    check = d.draft_check
    assert check is not None
    assert check.predicted_trough_ng_ml is None  # 8.1 as solution, 10.3 as tablets: unknown
    assert check.verdict is DraftVerdict.NOT_COMPARABLE  # never "follows" on milligrams alone
    assert any("product" in m.what for m in d.missing_data)


def test_the_same_drafts_naming_the_solution_are_compared_as_before() -> None:
    unchanged = run(baseline(8.1), fhir.draft(0.5, "mg", 2)).draft_check
    assert unchanged is not None and unchanged.predicted_trough_ng_ml == pytest.approx(8.1)
    assert Departure.TROUGH_ABOVE_TARGET in unchanged.departures
    proposal = run(baseline(8.1), fhir.draft(0.37, "mg", 2)).draft_check
    assert proposal is not None and proposal.verdict is DraftVerdict.FOLLOWS


def test_a_dangerous_draft_of_unknown_product_is_still_dangerous() -> None:
    check = run(baseline(8.1), fhir.draft(10, "mg", 2, product=INGREDIENT)).draft_check
    assert check is not None and check.verdict is DraftVerdict.DANGEROUS  # 20 mg/day: sanity limits
