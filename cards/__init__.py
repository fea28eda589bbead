"""Decision -> CDS Hooks cards. Wording and FHIR shapes only: the dose comes from the Decision.

    build_cards(decision, hook=..., draft=..., decision_url=..., today=...) -> list of card dicts

`dosing` (order-select, order-sign) gives one card; `monitoring` (patient-view) one per item due;
`incomplete_draft` an info card naming what to fill in; `not_sirolimus` and "nothing due" none.
The decision page (`cards.page`, `cards.chart`) renders the same Decision from its JSON form.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cards.dosing import dosing_cards, incomplete_draft_card
from cards.monitoring import monitoring_cards
from cds_service.clinical.decision import Decision
from cds_service.service.protocol_files import plan_definition_url


def build_cards(
    decision: Decision, *, hook: str, draft: dict[str, Any] | None, decision_url: str, today: date,
    service_url: str | None = None,
) -> list[dict[str, Any]]:
    """The cards for one hook call; `[]` when there is nothing to say. With `service_url` (the service's
    public base URL), each card's `source.url` opens the protocol's PlanDefinition served there."""
    cards = _cards(decision, hook=hook, draft=draft, decision_url=decision_url, today=today)
    if service_url is not None:
        for card in cards:
            topic = card["source"].get("topic")
            if topic:
                card["source"]["url"] = plan_definition_url(service_url, topic["code"])
    return cards


def _cards(
    decision: Decision, *, hook: str, draft: dict[str, Any] | None, decision_url: str, today: date
) -> list[dict[str, Any]]:
    if decision.kind == "not_sirolimus":
        return []
    if decision.kind == "incomplete_draft":
        return [incomplete_draft_card(decision, decision_url=decision_url)]
    if decision.kind == "monitoring":
        return monitoring_cards(decision, decision_url=decision_url, today=today)
    return dosing_cards(decision, draft=draft, decision_url=decision_url, today=today)


__all__ = ["build_cards"]
