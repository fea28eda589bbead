"""The tablet/solution exposure is one number (review finding 4, issue #14; decision 0023): a site that
changes fhir_profiles/pharmacology/sirolimus.json changes the draft check and solution proposals of every
protocol and the relative bioavailability of every PK prior together."""
from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.clinical import pharmacology as pharmacology_module
from cds_service.clinical.pharmacology import PHARMACOLOGY_FILE, load_pharmacology
from cds_service.clinical.pk.priors import PRIOR_IDS, load_prior
from cds_service.clinical.protocols import PROTOCOL_IDS, load_protocols


def _clear() -> None:
    load_pharmacology.cache_clear()
    load_protocols.cache_clear()
    load_prior.cache_clear()


@pytest.fixture(params=[1.27, 1.1], ids=["shipped", "site-1.1"])
def exposure(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    shipped_load = pharmacology_module.load_json

    def site_load(path: str) -> Any:
        data = shipped_load(path)
        if path != PHARMACOLOGY_FILE:
            return data
        changed = copy.deepcopy(data)
        changed["tablet_exposure_vs_solution"] = request.param
        return changed

    monkeypatch.setattr(pharmacology_module, "load_json", site_load)
    _clear()
    try:
        yield float(request.param)
    finally:
        monkeypatch.undo()
        _clear()


def test_every_protocol_and_every_prior_read_the_one_figure(exposure: float) -> None:
    for protocol_id in PROTOCOL_IDS:
        assert load_protocols()[protocol_id].measuring.tablet_exposure_vs_solution == exposure
    for prior_id in PRIOR_IDS:
        assert load_prior(prior_id).bioavailability == {"solution": 1.0, "tablet": exposure}
