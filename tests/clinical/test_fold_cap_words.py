"""The largest change one level may ask for (decision 0012) is protocol data: when a site changes
`titration.max_fold_change`, the reason and the card say the site's number, never a "2-fold" of the code's
own (review finding 3, issue #14).

Child: 20 kg, KHE maintenance (target 5-7, aim 6), 1.0 mg/day of solution, trough 2.0 ng/mL:
1.0 x 6 / 2 = 3.0 mg/day, a 3-fold change, beyond both 2-fold (shipped) and 2.5-fold (the site's),
so the same decision is made (no dose, repeat the trough) and only the number said changes.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from cards import build_cards
from cds_service.clinical import protocols as protocol_module
from cds_service.clinical.decide import decide_dosing, decide_monitoring
from cds_service.clinical.decision import Decision
from cds_service.clinical.protocols import KHE_MAINTENANCE, load_protocols
from cds_service.clinical.reading.record import build_record
from tests.clinical import fhir

TODAY = date(2026, 11, 22)


@pytest.fixture(params=[2.0, 2.5], ids=["shipped-2-fold", "site-2.5-fold"])
def fold_cap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    shipped_load = protocol_module.load_json

    def site_load(path: str) -> Any:
        data = shipped_load(path)
        if path != f"protocols/{KHE_MAINTENANCE}.json":
            return data
        changed = copy.deepcopy(data)
        changed["titration"]["max_fold_change"] = request.param
        return changed

    monkeypatch.setattr(protocol_module, "load_json", site_load)
    load_protocols.cache_clear()
    try:
        yield float(request.param)
    finally:
        monkeypatch.undo()
        load_protocols.cache_clear()


def _child() -> list[dict[str, Any]]:
    return [fhir.weight(20, date(2026, 11, 15)), fhir.khe(), fhir.sirolimus(date(2024, 1, 1), 0.5),
            fhir.trough(2.0, date(2026, 11, 15))]


def _decide(*, draft: bool) -> Decision:
    record = build_record(fhir.patient(date(2020, 6, 1)), _child(), TODAY)
    if draft:
        return decide_dosing(record, fhir.draft(0.5, "mL", 2), load_protocols(), TODAY)
    return decide_monitoring(record, load_protocols(), TODAY)


def test_the_reason_for_no_dose_names_the_sites_fold(fold_cap: float) -> None:
    d = _decide(draft=True)
    assert load_protocols()[KHE_MAINTENANCE].titration_max_fold_change == fold_cap
    assert d.proposed_dose is None
    assert f"one level asks for more than a {fold_cap:g}-fold change: repeat the trough to confirm it" \
        in d.no_proposal_reasons
    other = 2.5 if fold_cap == 2.0 else 2.0
    assert not any(f"{other:g}-fold" in reason for reason in d.no_proposal_reasons)


@pytest.mark.parametrize("hook", ["order-select", "patient-view"])
def test_the_cards_title_names_the_sites_fold(fold_cap: float, hook: str) -> None:
    d = _decide(draft=hook != "patient-view")
    cards = build_cards(d, hook=hook, draft=fhir.draft(0.5, "mL", 2) if hook != "patient-view" else None,
                        decision_url="https://cds.example/decisions/x", today=TODAY)
    summaries = [c["summary"] for c in cards]
    assert any(f"One level would change the dose more than {fold_cap:g}-fold" in s for s in summaries), summaries
    other = 2.5 if fold_cap == 2.0 else 2.0
    assert f"{other:g}-fold" not in json.dumps(cards)
