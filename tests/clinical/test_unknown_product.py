"""A sirolimus order coded with the ingredient only (RxNorm 35302) and a dose in mg says how many mg, not
which product. Tablets give about 27 % more exposure than the oral solution (clinical-protocol.md 2), so
no dose is computed from an unknown product: the Decision says what is missing (decision 0020, review
finding 1, issue #14). The same child with the product coded (RxNorm 314230) gets the protocol's dose.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cards import build_cards
from cds_service.clinical.decision import Decision, Phase
from tests.clinical import fhir
from tests.clinical.test_relapse_after_stop import completed_taper, platelets
from tests.clinical.test_scenarios import TODAY, run

INGREDIENT = "35302"  # RxNorm sirolimus, the ingredient: no product, no strength
PRODUCT_MISSING = "the product of the sirolimus order in force (oral solution 1 mg/mL or tablets)"


def maintenance(product: str, trough: float) -> list[dict[str, Any]]:
    """20 kg, KHE maintenance (5-7 ng/mL), 0.5 mg twice daily (1.0 mg/day) written in mg."""
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe(),
            fhir.sirolimus(date(2024, 1, 1), 0.5, unit="mg", product=product), fhir.trough(trough, date(2026, 11, 15))]


def taper(product: str, extra: list[dict[str, Any]] | None = None,
          orders: tuple[tuple[date, float, str], ...] = ()) -> list[dict[str, Any]]:
    """In the guided taper since 2026-11-01 on 1.0 mg/day, trough 6.0 on 2026-11-15, normal labs."""
    chain = orders or ((date(2024, 1, 1), 0.5, product),)
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe(), fhir.careplan(date(2026, 11, 1)), *fhir.normal_labs(),
            *fhir.chain(*[fhir.sirolimus(on, mg, unit="mg", product=p) for on, mg, p in chain]),
            fhir.trough(6.0, date(2026, 11, 15)), *(extra or [])]


def missing(d: Decision) -> list[str]:
    return [m.what for m in d.missing_data]


@pytest.mark.parametrize("trough", [4.0, 6.0, 12.0])
def test_titration_proposes_no_dose_from_an_order_without_its_product(trough: float) -> None:
    d = run(maintenance(INGREDIENT, trough), fhir.draft(0.5, "mg", 2, product=fhir.SOLUTION))
    assert d.phase is Phase.MAINTENANCE
    assert d.proposed_dose is None and d.alternatives == ()
    assert PRODUCT_MISSING in missing(d)
    assert any("product of the sirolimus order in force" in r and "not bioequivalent" in r
               for r in d.no_proposal_reasons)
    assert d.current_dose is None  # "0.5 mL of oral solution" would name a product the record does not give


def test_the_same_child_with_the_product_coded_is_titrated() -> None:
    # 1.0 x 6 / 4 = 1.5 mg/day: 0.75 mL twice daily of the oral solution
    d = run(maintenance(fhir.SOLUTION, 4.0), fhir.draft(0.5, "mg", 2))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(1.5)
    assert PRODUCT_MISSING not in missing(d) and d.current_dose is not None


def test_the_card_says_the_product_is_missing_and_offers_no_dose() -> None:
    draft = fhir.draft(0.5, "mg", 2, product=fhir.SOLUTION)
    d = run(maintenance(INGREDIENT, 4.0), draft)
    [card] = build_cards(d, hook="order-select", draft=draft, decision_url="https://cds.example/d/1", today=TODAY)
    assert "product of the sirolimus order in force" in card["detail"]
    assert "314230" in card["detail"]
    assert not any(a.get("resource", {}).get("resourceType") == "MedicationRequest"
                   for s in card.get("suggestions", []) for a in s["actions"])


def test_no_taper_step_from_an_order_without_its_product() -> None:
    # with the product: 1.0 -> 0.9 mg/day (0.45 mL twice daily), due today
    coded = run(taper(fhir.SOLUTION))
    assert coded.proposed_dose is not None and coded.proposed_dose.daily_dose_mg == pytest.approx(0.9)
    d = run(taper(INGREDIENT))
    assert d.phase is Phase.TAPERING and d.proposed_dose is None and d.schedule == ()
    assert PRODUCT_MISSING in missing(d)
    assert any("product (oral solution or tablets) is unknown" in r for r in d.no_proposal_reasons)


def test_no_relapse_return_to_a_dose_whose_product_is_unknown() -> None:
    # previously effective: 1.0 mg/day from 2024-01-01, ingredient only; now 0.9 mg/day of the solution.
    # Returning to "1.0 mg of solution" would guess the product of the dose that worked.
    orders = ((date(2024, 1, 1), 0.5, INGREDIENT), (date(2026, 11, 2), 0.45, fhir.SOLUTION))
    d = run(taper(fhir.SOLUTION, [platelets(80, date(2026, 11, 20))], orders))
    assert d.proposed_dose is None
    assert any(f.code == "relapse-signal" and f.severity == "critical" for f in d.findings)
    assert any("previously effective dose" in r and "unknown" in r for r in d.no_proposal_reasons)


def test_no_restart_after_a_completed_taper_at_a_dose_whose_product_is_unknown() -> None:
    resources = completed_taper(platelets(80, date(2026, 11, 20)))
    for r in resources:  # every order coded with the ingredient only, its dose in mg (0.13 mL = 0.13 mg)
        if r["resourceType"] == "MedicationRequest":
            r["medicationCodeableConcept"]["coding"][0]["code"] = INGREDIENT
            quantity = r["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
            quantity.update(unit="mg", code="mg")
    d = run(resources)
    assert d.phase is Phase.STOPPED and d.proposed_dose is None
    assert any(w.startswith("the product of the dose given before the stop") for w in missing(d))
