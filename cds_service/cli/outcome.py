"""A response's cards next to a synthetic patient's expected outcome (`check --all-synthetic`).

The cards are read as values: the most severe indicator, and the daily dose of the recommended
suggestion that puts a sirolimus dose into an order (read with the service's own order reader, as
an EHR would store it). Nothing is compared as prose except `mentions`, a phrase the catalog asks for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.clinical.reading.draft import read_draft
from cds_service.synthetic import ExpectedOutcome

SEVERITY = {"info": 0, "warning": 1, "critical": 2}
MG_TOLERANCE = 0.005  # doses are given to 0.01 mg


@dataclass(frozen=True)
class Observed:
    indicator: str | None
    daily_mg: float | None


def observed(cards: list[dict[str, Any]]) -> Observed:
    indicator = max((c.get("indicator", "info") for c in cards), key=lambda i: SEVERITY.get(i, 0), default=None)
    return Observed(indicator=indicator, daily_mg=recommended_daily_mg(cards))


def recommended_daily_mg(cards: list[dict[str, Any]]) -> float | None:
    """mg/day of the recommended dose-bearing suggestion (else the first one); None when none is offered."""
    offered = [(suggestion, action["resource"]) for card in cards for suggestion in card.get("suggestions", [])
               for action in suggestion.get("actions", [])
               if action.get("resource", {}).get("resourceType") == "MedicationRequest"]
    if not offered:
        return None
    order = next((resource for suggestion, resource in offered if suggestion.get("isRecommended")), offered[0][1])
    read = read_draft(order)
    if read.mg_per_administration is None or read.administrations_per_day is None:
        return None
    return round(read.mg_per_administration * read.administrations_per_day, 4)


def differences(expected: ExpectedOutcome, cards: list[dict[str, Any]]) -> list[str]:
    """Each way the cards depart from `expected`, in words; empty when they agree."""
    seen = observed(cards)
    found = []
    if expected.indicator is None:
        if seen.indicator not in (None, "info"):
            found.append(f"most severe card {seen.indicator}, expected none above info")
    elif seen.indicator != expected.indicator:
        found.append(f"most severe card {seen.indicator or 'none'}, expected {expected.indicator}")
    if expected.daily_mg is None and seen.daily_mg is not None:
        found.append(f"a dose of {seen.daily_mg:g} mg/day offered, expected none")
    elif expected.daily_mg is not None and (seen.daily_mg is None
                                            or abs(seen.daily_mg - expected.daily_mg) > MG_TOLERANCE):
        got = "no dose" if seen.daily_mg is None else f"{seen.daily_mg:g} mg/day"
        found.append(f"{got} recommended, expected {expected.daily_mg:g} mg/day")
    if expected.mentions:
        text = " ".join(f"{c.get('summary', '')} {c.get('detail', '')}" for c in cards).lower()
        if expected.mentions.lower() not in text:
            found.append(f"no card mentions {expected.mentions!r}")
    return found
