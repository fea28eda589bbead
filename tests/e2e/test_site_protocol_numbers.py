"""A site that changes its protocol data sees its numbers on every card (issue #14, item 3).

The guided-discontinuation file is changed as a site's clinical team would (rule 1's cap 10 % -> 8 %,
rule 8's step 5 % -> 4 %, version raised), the protocols are loaded again, and every synthetic taper
patient goes through patient-view and order-select. Every card, its suggestions and the resources they
carry must say 8 % and 4 %, never 10 % or 5 %; with the shipped file the same cards say 10 % and 5 %
(so the check is not vacuous). Nothing in cards, chart, CLI or core may hold the step sizes itself.
"""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cds_service.cli.plan import phase_words
from cds_service.clinical import protocols as protocol_module
from cds_service.clinical.decision import Phase
from cds_service.clinical.protocols import KHE_GUIDED, load_protocols
from tests.e2e.support import call_hook, e2e_app, load_request

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

TAPER_PATIENTS = ("khe-taper-eligible", "khe-taper-step-due", "khe-taper-recent-step", "khe-taper-relapse")
SHIPPED = {"cap": "10 %", "after_relapse": "5 %"}
SITE = {"cap": "8 %", "after_relapse": "4 %"}


def _site_file(data: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    changed["version"] = "1.1.0"
    changed["taper"]["max_reduction_fraction"] = 0.08
    changed["taper"]["after_relapse_max_reduction_fraction"] = 0.04
    return changed


@pytest.fixture(params=["shipped", "site"])
def numbers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    if request.param == "site":
        shipped_load = protocol_module.load_json

        def site_load(path: str) -> Any:
            data = shipped_load(path)
            return _site_file(data) if path == f"protocols/{KHE_GUIDED}.json" else data

        monkeypatch.setattr(protocol_module, "load_json", site_load)
    load_protocols.cache_clear()
    try:
        assert load_protocols()[KHE_GUIDED].taper is not None
        yield SITE if request.param == "site" else SHIPPED
    finally:
        monkeypatch.undo()
        load_protocols.cache_clear()


def _cards(tmp_path: Path, fhir: Any) -> dict[str, list[dict[str, Any]]]:
    client = e2e_app(tmp_path, fhir, f"sqlite:///{tmp_path / 'site.db'}").test_client()
    by_call: dict[str, list[dict[str, Any]]] = {}
    for patient in TAPER_PATIENTS:
        by_call[f"{patient} patient-view"] = call_hook(
            client, load_request("sandbox-patient-view.json", patient_id=patient, fhir=fhir))
        by_call[f"{patient} order-select"] = call_hook(
            client, load_request("ehr-order-select-mg.json", patient_id=patient, fhir=fhir, dose=0.25, frequency=2,
                                 dose_text="0.25 mg (0.25 mL) by mouth twice daily"))
    return by_call


def _percentages(text: str) -> set[str]:
    """Every "N %" a card states as a protocol size, ignoring signed dose changes ("−8 %", "+4 %")."""
    return {match.group(1) + " %" for match in re.finditer(r"(?<![\u2212+\-\d.])(\d+(?:\.\d+)?) ?%", text)}


def test_every_card_says_the_sites_step_sizes(numbers: dict[str, str], tmp_path: Path, fhir: Any) -> None:
    by_call = _cards(tmp_path, fhir)
    text = {call: json.dumps(cards, ensure_ascii=False) for call, cards in by_call.items()}
    everything = " ".join(text.values())
    other = SHIPPED if numbers is SITE else SITE
    # The protocol's own sizes are the only sizes the cards state (not sizes: 27 % the tablets' exposure,
    # 80 % the PK model's interval, 0 % no change).
    stated = _percentages(everything) - {"27 %", "80 %", "0 %"}
    assert stated <= {numbers["cap"], numbers["after_relapse"]}, stated
    assert other["cap"] not in stated and other["after_relapse"] not in stated
    assert "percent" not in everything.replace("_percent", "")  # the rule ids' sizes are never read out
    # Each place that states a size states this file's: the eligibility card's start, the step's rule
    # line, the smaller step offered, the relapse card's rule 8.
    assert f"Start the guided discontinuation ({numbers['cap']} steps" in text["khe-taper-eligible patient-view"]
    assert f"Each reduction is at most {numbers['cap']} of the previous dose" in text[
        "khe-taper-step-due patient-view"]
    assert f"reductions of at most {numbers['after_relapse']} a month" in text["khe-taper-relapse patient-view"]
    assert numbers["cap"] in phase_words(Phase.TAPERING)
