"""Review 2026-12-02: a relapse sign is never silenced by an unreadable dose history.

Clinical-protocol.md 5 and decision 0002: platelets below 100 x 10^9/L during the guided taper return to
the previously effective dose (rule 7). One old sirolimus order whose dose has no unit makes the dose
history unreadable (no dose may be computed: section 3), but the sign itself is read from Observations
and Conditions, not from the orders. Expected: the possible-relapse card, with no dose and the order to
correct named. Was: patient-view gave no card at all (monitoring: nothing due) for platelets of 60.
"""
from datetime import date
from typing import Any

from cards import build_cards
from cds_service.clinical.decision import MonitoringKind
from tests.clinical.test_relapse_after_stop import completed_taper, platelets
from tests.clinical.test_scenarios import TODAY, run, taper


def _unit_less_first_order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = next(r for r in resources if r["resourceType"] == "MedicationRequest")
    quantity = first["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    quantity.pop("unit", None)
    quantity.pop("code", None)
    return resources


def _cards(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    d = run(resources)
    assert d.proposed_dose is None  # no dose from an unreadable history
    assert any(m.kind is MonitoringKind.POSSIBLE_RELAPSE for m in d.monitoring)
    return build_cards(d, hook="patient-view", draft=None, decision_url="https://cds.example/d/1", today=TODAY)


def test_a_relapse_sign_during_the_taper_with_an_unreadable_order_still_brings_the_relapse_card() -> None:
    resources = _unit_less_first_order(taper(
        date(2026, 9, 1), [(date(2024, 1, 1), 0.5), (date(2026, 10, 1), 0.45)], (date(2026, 11, 10), 5.0),
        [platelets(60, date(2026, 11, 20))]))
    cards = _cards(resources)
    relapse = next(c for c in cards if "relapse" in c["summary"].lower())
    assert relapse["indicator"] == "critical"
    assert "a readable dose on every sirolimus order" in relapse["detail"]  # what to correct


def test_a_relapse_sign_after_a_completed_taper_with_an_unreadable_order_still_brings_a_card() -> None:
    cards = _cards(_unit_less_first_order(completed_taper(platelets(60, date(2026, 11, 20)))))
    assert any("relapse" in c["summary"].lower() and c["indicator"] in {"warning", "critical"} for c in cards)
    assert not any("eligible for guided sirolimus discontinuation" in c["summary"] for c in cards)
