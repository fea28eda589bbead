"""A relapse after the completed taper, through HTTP (decision 0018): the children of
tests/clinical/test_relapse_after_stop.py, seeded in the real FHIR server and asked by CDS Hooks calls.

Written as of 2026-11-22 (`WRITTEN`) and every date moved to today: sirolimus stopped at D-52 (the dose
before the stop 0.13 mg = 0.13 mL of 1 mg/mL twice daily, 26 kg), a sign at D-2, a stale one at D-33.
Rule 7: restart at the previously effective dose, 0.13 mg twice daily; the trough 14 days after (D+14).
"""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.clinical.test_relapse_after_stop import completed_taper, condition_relapse, platelets
from tests.e2e.support import (
    Child,
    actions,
    call_hook,
    check_dose,
    check_trough,
    day,
    load_request,
    no_dose_offered,
    only_card,
    seed_children,
)

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

BORN = date(2020, 6, 1)

CHILDREN: dict[str, Child] = {
    "e2e11b-condition": (BORN, "female", lambda: completed_taper(condition_relapse(date(2026, 11, 20)))),
    "e2e11b-platelets": (BORN, "female", lambda: completed_taper(platelets(80, date(2026, 11, 20)))),
    "e2e11b-no-sign": (BORN, "female", lambda: completed_taper(platelets(180, date(2026, 11, 20)))),
    "e2e11b-stale": (BORN, "female", lambda: completed_taper(platelets(80, date(2026, 10, 20)))),
}


@pytest.fixture(scope="module")
def seeded(fhir: Any) -> Any:
    return seed_children(fhir, CHILDREN)


def _view(fhir: Any, patient_id: str) -> dict[str, Any]:
    return load_request("sandbox-patient-view.json", patient_id=patient_id, fhir=fhir)


def _relapse(cards: list[dict[str, Any]]) -> dict[str, Any]:
    [card] = [c for c in cards if "relapse after sirolimus stopped" in c["summary"].lower()]
    return card


@pytest.mark.parametrize(("patient_id", "named"), [
    ("e2e11b-condition", "KHE recorded as 'relapse'"),
    ("e2e11b-platelets", "platelets 80 x 10^9/L"),
])
def test_a_relapse_after_the_stop_brings_a_restart_card_over_http(app: Any, seeded: Any, patient_id: str,
                                                                  named: str) -> None:
    card = _relapse(call_hook(app.test_client(), _view(seeded, patient_id)))
    assert card["indicator"] == "warning" and len(card["summary"]) <= 140
    assert named in card["summary"] and day(-2).isoformat() in card["summary"]
    assert "0.13 mg (0.13 mL) twice daily" in card["summary"]
    [order] = actions(card, "MedicationRequest", "create")
    check_dose(order["resource"], mg=0.13, per_day=2, patient_id=patient_id)
    [trough] = actions(card, "ServiceRequest", "create")
    check_trough(trough["resource"], due=day(14), patient_id=patient_id)


def test_a_draft_after_the_relapse_is_told_of_it_over_http(app: Any, seeded: Any) -> None:
    request = load_request("ehr-order-select-mg.json", patient_id="e2e11b-platelets", fhir=seeded, dose=0.13,
                           frequency=2, dose_text="0.13 mg (0.13 mL) by mouth twice daily")
    card = only_card(call_hook(app.test_client(), request))
    assert card["indicator"] == "warning" and len(card["summary"]) <= 140
    assert card["summary"].startswith("Relapse after sirolimus stopped: platelets 80")
    assert "0.13 mg (0.13 mL) twice daily" in card["summary"]
    assert f"{day(14).isoformat()}" in card["detail"]


def test_no_relapse_card_without_a_sign_over_http(app: Any, seeded: Any) -> None:
    cards = call_hook(app.test_client(), _view(seeded, "e2e11b-no-sign"))
    assert not any("relapse" in c["summary"].lower() for c in cards)
    no_dose_offered(cards)


def test_a_stale_sign_says_what_is_missing_over_http(app: Any, seeded: Any) -> None:
    cards = call_hook(app.test_client(), _view(seeded, "e2e11b-stale"))
    card = _relapse(cards)
    assert "missing a relapse sign from the last 14 days" in card["summary"]
    assert day(-33).isoformat() in card["summary"]
    no_dose_offered(cards)
