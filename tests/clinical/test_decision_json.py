"""Decision.to_dict: the audit trail's JSON holds every field `dataclasses.asdict` would, converted."""
from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date
from typing import Any

import pytest

from cds_service.clinical.decide import decide_dosing, decide_monitoring, load_protocols
from tests.cards import card_gallery


def _by_asdict(value: Any) -> Any:
    """The former serialisation: asdict, then dates as ISO strings and enums as values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _by_asdict(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {k: _by_asdict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_by_asdict(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return value


@pytest.mark.parametrize("name", card_gallery.scenario_names())
def test_to_dict_is_asdict_converted_for_every_synthetic_patient(name: str) -> None:
    record, resources = card_gallery.scenario_record(name)
    protocols = load_protocols()
    draft = card_gallery.current_order(resources) or card_gallery.solution_draft(0.4, 2)
    for decision in (decide_monitoring(record, protocols, card_gallery.TODAY),
                     decide_dosing(record, draft, protocols, card_gallery.TODAY)):
        stored = decision.to_dict()
        assert repr(stored) == repr(_by_asdict(decision))  # same keys, values and types, same order
        json.dumps(stored)  # JSON-ready as it is
