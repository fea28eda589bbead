"""Review 2026-12-02: a draft that keeps or lowers the dose while rule 7 asks to go back never "follows".

Rule 7: "If the disease relapses or worsens, go back to the previously effective dose." A KHE child whose
Condition is active again during the taper (1.0 -> 0.9 mg/day) gets the return to 1.0 mg/day proposed;
a draft that keeps 0.9 mg/day or takes the next 10 % step must be a departure (a warning card), not
"follows the protocol".
"""
from datetime import date

import pytest

from cards.dosing import dosing_cards
from cds_service.clinical.rules.draft_check import Departure, DraftVerdict
from tests.clinical import fhir
from tests.clinical.test_scenarios import run, taper

REACTIVATED = fhir.khe(status="active", abated=date(2023, 1, 1), recorded=date(2020, 5, 1))
RELAPSE = [r for r in taper(date(2026, 9, 1), [(date(2024, 1, 1), 0.5), (date(2026, 10, 1), 0.45)],
                            (date(2026, 11, 10), 5.0)) if r.get("resourceType") != "Condition"] + [REACTIVATED]


@pytest.mark.parametrize("ml", [0.45, 0.41])  # keep the tapered dose; the next 10 % step
def test_a_draft_that_does_not_go_back_after_a_relapse_departs(ml: float) -> None:
    d = run(RELAPSE, fhir.draft(ml, "mL", 2))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == pytest.approx(1.0)
    assert d.draft_check is not None
    assert d.draft_check.verdict is DraftVerdict.DEPARTS
    assert Departure.NO_RETURN_AFTER_RELAPSE in d.draft_check.departures
    draft = fhir.draft(ml, "mL", 2)
    (card, *_) = dosing_cards(d, draft=draft, decision_url="https://cds.example/d/1", today=date(2026, 11, 22))
    assert "follows the protocol" not in card["detail"]
    assert card["indicator"] in {"warning", "critical"}


def test_the_return_itself_follows() -> None:
    d = run(RELAPSE, fhir.draft(0.5, "mL", 2))
    assert d.draft_check is not None and d.draft_check.verdict is DraftVerdict.FOLLOWS
