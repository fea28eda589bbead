"""Which eligibility criteria may pause a taper already under way (decision 0016).

Enrolment criteria (age 0-12, 2 years of remission, consent, the exclusions as read at entry) decide
whether the guided discontinuation may START. Once its CarePlan is active, only the criteria that protect
the child DURING it (organ function, infection, a toxicity or exclusion diagnosis recorded since the
taper began) may pause it; the card names the criterion and what to do. The role of each criterion is
protocol data (`eligibility.criterion_roles`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from .decision import CriterionResult, Eligibility


class CriterionRole(StrEnum):
    ENROLMENT = "enrolment"  # decides the start only
    DURING = "during"  # protects the child throughout: not met pauses the taper
    NEW_DURING = "new_during"  # pauses only when its evidence was recorded since the taper began


@dataclass(frozen=True, kw_only=True)
class TaperPause:
    criterion: CriterionResult
    what_to_do: str


def _is_new(criterion: CriterionResult, taper_started_on: date) -> bool:
    """Evidence undated counts as new: the safer reading while a child's dose is being lowered."""
    return any(e.on is None or e.on >= taper_started_on for e in criterion.evidence) or not criterion.evidence


def taper_pauses(eligibility: Eligibility, roles: dict[str, str], taper_started_on: date
                 ) -> tuple[TaperPause, ...]:
    """The not-met criteria that pause a started taper; enrolment-only ones never do."""
    pauses = []
    for criterion in eligibility.not_met:
        role = CriterionRole(roles.get(criterion.criterion_id, CriterionRole.DURING))
        if role is CriterionRole.ENROLMENT:
            continue
        if role is CriterionRole.NEW_DURING and not _is_new(criterion, taper_started_on):
            continue
        pauses.append(TaperPause(criterion=criterion, what_to_do=_what_to_do(criterion)))
    return tuple(pauses)


def _what_to_do(criterion: CriterionResult) -> str:
    if criterion.kind == "exclusion":
        return (f"{criterion.text} recorded since the taper began: review it before the next reduction; "
                "keep the current dose and resume the taper when it is settled")
    return (f"{criterion.text} is not met: keep the current dose, repeat the test, and resume the taper "
            "when it is normal again")
