"""Review 2026-12-02: a draft is never said to follow a protocol whose phase the record does not show.

A KHE child on the guided-discontinuation arm whose CarePlan has no start date: the taper's start is
unknown, so neither rule 1 (at most 10 % a month) nor rule 7 can be checked. Unknown is never treated as
met (clinical-protocol.md 1.B): a draft doubling or halving the dose "cannot be compared", not "follows".
"""
from datetime import date

import pytest

from cds_service.clinical.rules.draft_check import DraftVerdict
from tests.clinical import fhir
from tests.clinical.test_scenarios import run, taper


@pytest.mark.parametrize("ml", [0.9, 0.25])  # 1.8 and 0.5 mg/day against 1.0 mg/day
def test_a_draft_with_the_taper_start_unknown_does_not_follow(ml: float) -> None:
    resources = taper(date(2026, 9, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 10), 5.0))
    for resource in resources:
        if resource["resourceType"] == "CarePlan":
            resource["period"].pop("start")
    d = run(resources, fhir.draft(ml, "mL", 2))
    assert d.phase is None and d.proposed_dose is None
    assert d.draft_check is not None and d.draft_check.verdict is not DraftVerdict.FOLLOWS
