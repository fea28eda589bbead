"""Which eligibility criteria may pause a taper already under way (decision 0016).

Enrolment criteria (age 0-12, 2 years of remission, consent, the exclusions as read at entry) decide
whether the guided discontinuation may START. Once its CarePlan is active, only the criteria that protect
the child DURING it (organ function, infection, a toxicity or exclusion diagnosis recorded since the
taper began) may pause it; the card names the criterion and what to do. The role of each criterion is
protocol data (`eligibility.criterion_roles`). Unknown is never met (decision 0019): a `during` lab that is
unknown pauses too; a `during` criterion the prescriber may confirm (no infectious disease) goes with the
step as an item to confirm.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from ..decision import CriterionResult, Eligibility


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
    """The criteria that pause a started taper: not met (enrolment-only ones never do), or a `during`
    criterion unknown that the prescriber cannot confirm at the bedside (a lab: decision 0019)."""
    pauses = []
    for criterion in eligibility.not_met:
        role = _role(criterion, roles)
        if role is CriterionRole.ENROLMENT:
            continue
        if role is CriterionRole.NEW_DURING and not _is_new(criterion, taper_started_on):
            continue
        pauses.append(_pause(criterion, role))
    for criterion in eligibility.unknown:
        if _role(criterion, roles) is CriterionRole.DURING \
                and criterion.criterion_id not in eligibility.prescriber_can_confirm:
            settle = criterion.settle_by or "record it"
            pauses.append(TaperPause(criterion=criterion, why=f"{criterion.text} unknown",
                                     what_to_do=f"{criterion.text} unknown ({settle}): keep the current dose and "
                                                "take the step when the result is normal"))
    return tuple(pauses)


def taper_to_confirm(eligibility: Eligibility, roles: dict[str, str]) -> tuple[CriterionResult, ...]:
    """The `during` criteria unknown that the prescriber may confirm at the bedside (e.g. no infectious
    disease, decision 0010): the step is proposed and its suggestion says the prescriber confirms them
    (decision 0019, rule 6 "regular clinical assessment")."""
    return tuple(c for c in eligibility.unknown if _role(c, roles) is CriterionRole.DURING
                 and c.criterion_id in eligibility.prescriber_can_confirm)


def _role(criterion: CriterionResult, roles: dict[str, str]) -> CriterionRole:
    return CriterionRole(roles.get(criterion.criterion_id, CriterionRole.DURING))


def _pause(criterion: CriterionResult, role: CriterionRole) -> TaperPause:
    since = " since the taper began" if role is CriterionRole.NEW_DURING else ""
    if criterion.condition is not None:  # an exclusion: what was recorded is the disease
        disease = criterion.condition
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
