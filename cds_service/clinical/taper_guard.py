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
    why: str  # short, for a card's summary: "normal liver function not met", "hypertension recorded ..."
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
        pauses.append(_pause(criterion, role))
    return tuple(pauses)


def _pause(criterion: CriterionResult, role: CriterionRole) -> TaperPause:
    since = " since the taper began" if role is CriterionRole.NEW_DURING else ""
    if criterion.kind == "exclusion":  # the text reads "no hypertension": what was recorded is the disease
        disease = criterion.text.removeprefix("no ")
        return TaperPause(criterion=criterion, why=f"{disease} recorded{since}",
                          what_to_do=f"{disease} recorded{since}: review it before the next reduction; keep the "
                                     "current dose and resume the taper when it is settled")
    if role is CriterionRole.NEW_DURING:  # e.g. a sirolimus toxicity or adverse event: nothing to repeat
        return TaperPause(criterion=criterion, why=f"{criterion.text}: not met{since}",
                          what_to_do=f"{criterion.text}: not met{since}: review it before the next reduction; "
                                     "keep the current dose and resume the taper when it is settled")
    return TaperPause(criterion=criterion, why=f"{criterion.text} not met",
                      what_to_do=f"{criterion.text} is not met: keep the current dose, repeat the test, and resume "
                                 "the taper when it is normal again")
