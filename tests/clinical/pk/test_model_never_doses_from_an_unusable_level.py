"""Review 2026-12-02: the PK model is no side door around the trough rules (clinical-protocol.md 3, decision 0007).

When the latest level cannot be used (drawn before a CYP3A4 inhibitor started, stale, not at steady state),
the protocol proposes no dose. The model must then offer no dose and no prediction either: it would be
computed from the very levels the protocol refuses (e.g. a level from before voriconazole, which raises
sirolimus exposure several-fold).
"""
from datetime import date, timedelta
from typing import Any

import pytest

from cards.model import lines
from tests.clinical import fhir
from tests.clinical.test_scenarios import TODAY, baseline, run

# A usable level a month earlier, so the model has something it could fit.
EARLIER = fhir.trough(6.2, date(2026, 10, 20))


@pytest.mark.parametrize("resources", [
    pytest.param([*baseline(4.0), EARLIER, fhir.drug("J02AC03", date(2026, 11, 18))], id="before-voriconazole"),
    pytest.param([*baseline(4.0, TODAY - timedelta(days=40)), fhir.trough(6.2, TODAY - timedelta(days=70))],
                 id="stale"),
    pytest.param([fhir.weight(20, date(2026, 11, 15)), fhir.khe(),
                  *fhir.chain(fhir.sirolimus(date(2024, 1, 1), 0.5), fhir.sirolimus(date(2026, 11, 10), 0.4)),
                  fhir.trough(4.0, date(2026, 11, 15)), EARLIER], id="not-at-steady-state"),
])
def test_no_model_dose_or_prediction_when_the_latest_level_is_unusable(resources: list[dict[str, Any]]) -> None:
    d = run(resources, fhir.draft(0.6, "mL", 2))
    assert d.proposed_dose is None  # the protocol: no dose from this level
    assert d.model is not None
    assert d.model.dose is None and d.model.draft is None and d.model.proposal is None
    assert d.model.unusable_reason
    assert not any("PK model's dose" in line for line in lines(d, with_proposal=False))


def test_the_model_fits_only_the_levels_drawn_since_an_interacting_drug_started() -> None:
    """Voriconazole (a strong CYP3A4 inhibitor) started 2026-11-01 lowers clearance: the levels drawn
    before it describe another clearance, so the fit reads only the one drawn since (2026-11-15)."""
    before = [fhir.trough(3.1, date(2026, 9, 20)), fhir.trough(3.4, date(2026, 10, 20))]
    d = run([*baseline(7.9), *before, fhir.drug("J02AC03", date(2026, 11, 1))], fhir.draft(0.5, "mL", 2))
    assert d.model is not None and d.model.unusable_reason is None
    assert d.model.troughs_used == 1
    without_drug = run([*baseline(7.9), *before], fhir.draft(0.5, "mL", 2))
    assert without_drug.model is not None and without_drug.model.troughs_used == 3
