"""A draft with a dose in mg but named by ingredient only (RxNorm 35302) has a dose: its card says the product
is what is missing (decisions 0020, 0024), never "no dose yet", which the prescriber who typed 1 mg would
read as the service not seeing the dose (#14 review, 2026-12-02).

KHE maintenance child of tests/clinical/test_scenarios.baseline: 1.0 mg/day of the 1 mg/mL solution, trough
8.1 ng/mL (target 5-7); the protocol proposes 1.0 x 6/8.1 = 0.74 mg/day = 0.37 mL twice daily (-26 %).
"""
from __future__ import annotations

import pytest

from cards import build_cards
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, baseline, run

INGREDIENT = "35302"


def _card(draft: dict) -> dict:
    decision = run(baseline(8.1), draft)
    [card] = build_cards(decision, hook="order-select", draft=draft, decision_url="https://cds.example.org/d/1",
                         today=TODAY)
    return card


@pytest.mark.parametrize(("mg_per_dose", "per_day", "daily"), [(1.0, 1, "1"), (0.37, 2, "0.74")])
def test_a_dose_by_ingredient_only_is_said_to_name_no_product_not_to_have_no_dose(
        mg_per_dose: float, per_day: int, daily: str) -> None:
    card = _card(fhir.draft(mg_per_dose, "mg", per_day, product=INGREDIENT))
    assert card["summary"].startswith(f"Draft {daily} mg/day names no product (solution or tablets).")
    assert "0.37 mg (0.37 mL) twice daily" in card["summary"] and len(card["summary"]) <= 140
    assert "no dose" not in card["summary"].lower()
    labels = [s["label"] for s in card.get("suggestions", [])]
    assert labels and not any("no dose entered yet" in label for label in labels)
    assert "cannot be compared with the protocol yet" in card["detail"]


def test_a_draft_with_no_dose_still_says_no_dose_yet() -> None:
    draft = fhir.draft(0.5, "mL", 2)
    del draft["dosageInstruction"][0]["doseAndRate"]
    card = _card(draft)
    assert card["summary"].startswith("Sirolimus order has no dose yet.")
