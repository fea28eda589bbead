"""A stop whose order records why it was halted (MedicationRequest.statusReason) gets no restart dose (0026).

Child of tests/clinical/test_relapse_after_stop.completed_taper: KHE, 26 kg, guided taper began 2025-06-01,
down to 0.13 mL twice daily (0.26 mg/day, 0.01 mg/kg/day: the stop rule's floor), sirolimus stopped on
2026-10-01; platelets 80 x 10^9/L on 2026-11-20. The stop meets the taper's own rules (decision 0021), so
a relapse brings rule 7's restart at 0.13 mg twice daily (0018). When the order says it was stopped for
grade 3 mucositis, the card offered that restart without a word of the reason: the record's reason for
the stop is shown and the restart is the clinician's decision.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cards import build_cards
from tests.clinical.test_relapse_after_stop import completed_taper, platelets
from tests.clinical.test_scenarios import TODAY, run


def _stopped_with(reason: dict[str, Any] | None) -> list[dict[str, Any]]:
    resources = completed_taper(platelets(80, date(2026, 11, 20)))
    last = [r for r in resources if r["resourceType"] == "MedicationRequest"][-1]
    last["status"] = "stopped"
    if reason is not None:
        last["statusReason"] = reason
    return resources


@pytest.mark.parametrize(("reason", "words"), [
    ({"text": "grade 3 mucositis"}, "grade 3 mucositis"),
    ({"coding": [{"system": "http://snomed.info/sct", "code": "281647001", "display": "Adverse reaction"}]},
     "Adverse reaction"),
])
def test_a_recorded_reason_for_the_stop_is_shown_and_no_restart_is_proposed(reason: dict, words: str) -> None:
    d = run(_stopped_with(reason))
    assert d.proposed_dose is None
    assert any(m.what == f"a review of why sirolimus was stopped on 2026-10-01 (recorded: \u201c{words}\u201d)"
               for m in d.missing_data)
    [card] = build_cards(d, hook="patient-view", draft=None, decision_url="https://x/d/1", today=TODAY)
    assert words in card["detail"] and "restart 0.13" not in card["summary"] and not card.get("suggestions")
    assert len(card["summary"]) <= 140


def test_a_stopped_order_without_a_reason_still_brings_the_restart() -> None:
    d = run(_stopped_with(None))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(0.26)
