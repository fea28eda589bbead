"""Phases and alternatives are named for what they are in the clinic, not for a step size a site may change
(review finding 5, issue #14; decision 0022): after a site sets rule 8's fraction to 4 %, a phase called
"five_percent" would be wrong on every audit record. The stored values are the ones decision 0022 lists.
"""
from __future__ import annotations

import re
import typing
from datetime import date

import pytest

from cds_service.clinical.decision import Alternative, Phase
from tests.clinical.test_scenarios import RELAPSE_ORDERS, run, taper

NUMBER_WORDS = re.compile(r"\d|percent|half|tenth", re.IGNORECASE)
ALTERNATIVE_KINDS = typing.get_args(typing.get_type_hints(Alternative)["kind"])


@pytest.mark.parametrize("phase", list(Phase))
def test_no_phase_names_a_step_size(phase: Phase) -> None:
    assert not NUMBER_WORDS.search(phase.name) and not NUMBER_WORDS.search(phase.value)


@pytest.mark.parametrize("kind", ALTERNATIVE_KINDS)
def test_no_alternative_kind_names_a_step_size(kind: str) -> None:
    assert not NUMBER_WORDS.search(kind)


def test_the_audit_record_names_rule_8s_phase_tapering_after_relapse() -> None:
    # returned to 0.9 mg/day on 2026-08-01, stabilised 3 months: rule 8's reductions
    d = run(taper(date(2025, 6, 1), [*RELAPSE_ORDERS, (date(2026, 8, 1), 0.45)], (date(2026, 11, 15), 5.0)))
    assert d.phase is Phase.TAPERING_AFTER_RELAPSE
    assert d.to_dict()["phase"] == "tapering_after_relapse"


def test_the_audit_record_names_the_smaller_step_alternative() -> None:
    # the first 10 % step (1.0 -> 0.9 mg/day) offers a smaller step of rule 8's size (0.95 mg/day)
    d = run(taper(date(2026, 11, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0)))
    kinds = [a["kind"] for a in d.to_dict()["alternatives"]]
    assert "smaller_step" in kinds
    [smaller] = [a for a in d.alternatives if a.kind == "smaller_step"]
    assert smaller.dose is not None and smaller.dose.daily_dose_mg == pytest.approx(0.96)
