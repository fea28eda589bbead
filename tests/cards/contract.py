"""What every response must satisfy, whatever the clinical content: checked on every card built in tests."""

from __future__ import annotations

import uuid
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from cards.common import OVERRIDE_REASON_SYSTEM, PROTOCOL_TOPIC_SYSTEM, card_kind
from fhir_profiles.schemas import problems


def check_response(cards: list[dict[str, Any]], decision_url: str) -> None:
    """Schema-valid, uuid4 everywhere, protocol in source, the page link, override reasons, valid R4 resources."""
    assert problems("hook-response", {"cards": cards}) == []
    for card in cards:
        assert uuid.UUID(card["uuid"]).version == 4
        assert 0 < len(card["summary"]) <= 139
        assert card_kind(card) is not None, "every card names its kind (the governance report counts by it)"
        assert card["links"] == [{"label": "Why this dose: decision page", "url": decision_url, "type": "absolute"}]
        topic = card["source"].get("topic")
        if topic is not None:
            assert topic["system"] == PROTOCOL_TOPIC_SYSTEM
            assert card["source"]["label"].endswith(" v" + topic["display"].rsplit(" v", 1)[1])
        _no_empty(card)
        if "suggestions" in card:
            assert card["selectionBehavior"] == "at-most-one"
            codes = {reason["code"] for reason in card["overrideReasons"]}
            assert {"clinical-judgement", "patient-specific-factors", "suspected-lab-error", "not-on-protocol"} <= codes
            assert all(reason["system"] == OVERRIDE_REASON_SYSTEM for reason in card["overrideReasons"])
            assert sum(1 for s in card["suggestions"] if s.get("isRecommended")) <= 1
            for suggestion in card["suggestions"]:
                assert uuid.UUID(suggestion["uuid"]).version == 4
                for action in suggestion["actions"]:
                    assert action["description"]
                    if "resource" in action:
                        resource = action["resource"]
                        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        else:
            assert "overrideReasons" not in card and "selectionBehavior" not in card


def _no_empty(value: Any, path: str = "card") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            assert item not in (None, "", [], {}), f"{path}.{key} is empty"
            _no_empty(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_empty(item, f"{path}[{index}]")


def actions_of(card: dict[str, Any], resource_type: str, action_type: str | None = None) -> list[dict[str, Any]]:
    """Every action in the card's suggestions on a resource of this type."""
    return [
        action
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        if action.get("resource", {}).get("resourceType") == resource_type and action_type in (None, action["type"])
    ]


def dose_bearing(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Suggestions that would put a sirolimus dose into an order."""
    return [
        s
        for s in card.get("suggestions", [])
        if any(a.get("resource", {}).get("resourceType") == "MedicationRequest" for a in s["actions"])
    ]
