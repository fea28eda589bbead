"""Synthetic patients shipped with the package, for demonstrations, tests and `sirolimus-cds seed`.

Each scenario is a FHIR R4 transaction Bundle (`patients/<scenario-id>.json`) in which every entry is
a `PUT Type/id` with an id prefixed by the scenario, so uploading it again overwrites instead of
duplicating. The data are written as of an anchor date (the Bundle's `timestamp`, also in
`catalog.json`); `load_scenario(name, today)` moves every date by (today - anchor) days, so a patient
loaded on any day is as current as on the anchor day. `catalog.json` gives each scenario a one-line
description and the clinical outcome it is meant to produce.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

from cds_service.synthetic.shift import days_between, shift_dates


@dataclass(frozen=True)
class ExpectedOutcome:
    """What the cards must show, as values `check --all-synthetic` compares (the prose is for people)."""

    indicator: Literal["info", "warning", "critical"] | None  # the most severe card's; None: none above info
    daily_mg: float | None  # the recommended dose-bearing suggestion's mg/day; None: no dose offered
    mentions: str | None = None  # a phrase some card's summary or detail carries (any case)


@dataclass(frozen=True, kw_only=True)
class ScenarioInfo:
    """One catalog line: what the patient is and what the service should say about them."""

    id: str
    patient_id: str
    description: str
    expected: str
    protocol: str
    hook: str
    outcome: ExpectedOutcome


@cache
def _catalog() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8")
    return json.loads(text)


def anchor_date() -> date:
    """The day the shipped data are written as of."""
    return date.fromisoformat(_catalog()["anchor"])


def catalog() -> dict[str, ScenarioInfo]:
    """Every scenario, by id, in catalog order."""
    return {entry["id"]: ScenarioInfo(**{**entry, "outcome": ExpectedOutcome(**entry["outcome"])})
            for entry in _catalog()["scenarios"]}


def scenario_names() -> list[str]:
    """The scenario ids, in catalog order."""
    return [entry["id"] for entry in _catalog()["scenarios"]]


@cache
def _raw_bundle(name: str) -> str:
    if name not in scenario_names():
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(scenario_names())}")
    return resources.files(__package__).joinpath("patients", f"{name}.json").read_text(encoding="utf-8")


def load_scenario(name: str, today: date | None = None) -> dict[str, Any]:
    """The scenario's transaction Bundle with every date moved so that its anchor falls on `today`.

    `today` defaults to the current date; pass it explicitly wherever reproducibility matters.
    A fresh dict on every call: callers may change it freely.
    """
    bundle = json.loads(_raw_bundle(name))
    anchor = date.fromisoformat(bundle["timestamp"][:10])
    return shift_dates(bundle, days_between(anchor, today or date.today()))


__all__ = ["ExpectedOutcome", "ScenarioInfo", "anchor_date", "catalog", "load_scenario", "scenario_names"]
