"""Review 2026-12-02: no restart dose over a recorded sirolimus toxicity (decision 0018, protocol 1.B).

A KHE child off sirolimus after the guided taper relapses (platelets 80 x 10^9/L, 2 days ago). The record
holds a sirolimus AllergyIntolerance (the protocol's "sirolimus toxicity or adverse event"). Rule 7's
return was written for a child still on the drug; restarting a stopped drug over a recorded toxicity is
the clinician's call with that record in view. Expected: the relapse card names the sign, names the
toxicity, and offers no restart dose. Was: "restart 0.13 mg (0.13 mL) twice daily", toxicity unmentioned.
"""
from datetime import date

from cds_service.clinical.decision import Phase
from tests.clinical import fhir
from tests.clinical.test_relapse_after_stop import cards_of, completed_taper, platelets
from tests.clinical.test_scenarios import run


def test_no_restart_dose_over_a_recorded_sirolimus_toxicity() -> None:
    d = run(completed_taper(platelets(80, date(2026, 11, 20)), fhir.sirolimus_allergy()))
    assert d.phase is Phase.STOPPED
    assert d.proposed_dose is None
    assert any(f.code == "restart-after-toxicity" for f in d.findings)
    (card,) = cards_of(d)
    assert "restart 0.13" not in card["summary"] and not card.get("suggestions")
    assert "toxicity" in card["summary"] + card["detail"]


def test_without_a_toxicity_the_restart_is_still_offered() -> None:
    d = run(completed_taper(platelets(80, date(2026, 11, 20))))
    assert d.proposed_dose is not None and d.proposed_dose.daily_dose_mg == 0.26
