"""What every card shares: uuid, source naming the protocol and its version, the decision-page link,
override reasons, and the CDS Hooks rule that optional fields are never empty or null."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cards.wording import fit
from cds_service.clinical.decision import ProtocolRef, Severity
from cds_service.clinical.protocols import KHE_GUIDED, fold, load_protocols, period, share

PROTOCOL_TOPIC_SYSTEM = "https://sirolimus-cds.org/fhir/CodeSystem/protocol"
OVERRIDE_REASON_SYSTEM = "https://sirolimus-cds.org/fhir/CodeSystem/override-reason"
OVERRIDE_REASONS = (
    ("clinical-judgement", "Clinical judgement"),
    ("patient-specific-factors", "Patient-specific factors"),
    ("suspected-lab-error", "Suspected lab error"),
    ("not-on-protocol", "Patient not on this protocol"),
)
PAGE_LINK_LABEL = "Why this dose: decision page"
SERVICE_LABEL = "Sirolimus CDS (no protocol identified)"
# Each card names its kind in a CDS Hooks extension (reverse-domain name): the audit trail keeps the
# cards as sent, so the governance report and the metrics count outcomes per kind without reading wording.
CARD_KIND_EXTENSION = "org.sirolimus-cds.card-kind"


class CardKind(enum.StrEnum):
    """What a card is about. Monitoring kinds share their values with `MonitoringKind`."""

    DOSE = "dose"  # a protocol dose proposed (order-select, order-sign)
    NO_DOSE = "no_dose"  # an order checked, no dose proposed (missing data, a finding, no step due)
    STOP = "stop"  # the taper's stop rule is met
    INCOMPLETE_DRAFT = "incomplete_draft"  # the draft order lacks medication, dose or frequency
    TROUGH_DUE = "trough_due"
    TROUGH_OVERDUE = "trough_overdue"
    TAPER_STEP_DUE = "taper_step_due"
    ELIGIBLE_FOR_DISCONTINUATION = "eligible_for_discontinuation"
    POSSIBLE_RELAPSE = "possible_relapse"
    DOSE_CHANGE_DUE = "dose_change_due"
    DATA_MISSING = "data_missing"
    FINDING = "finding"  # a warning or critical finding no monitoring item covers

    @property
    def label(self) -> str:
        return _KIND_LABELS.get(self, self.value.replace("_", " "))


_KIND_LABELS = {
    CardKind.DOSE: "dose proposal",
    CardKind.NO_DOSE: "no dose proposed",
    CardKind.STOP: "stop rule met",
    CardKind.INCOMPLETE_DRAFT: "order incomplete",
    CardKind.FINDING: "other finding",
}


def card_kind(card: dict[str, Any]) -> CardKind | None:
    """The kind a card was built as; None for a card recorded before kinds were (or one not ours)."""
    value = (card.get("extension") or {}).get(CARD_KIND_EXTENSION)
    try:
        return CardKind(value)
    except ValueError:
        return None

_SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}


def worst(*severities: Severity) -> Severity:
    """The most severe indicator of those given (info when none)."""
    return max(severities, key=_SEVERITY_ORDER.__getitem__, default="info")


def source(protocol: ProtocolRef | None) -> dict[str, Any]:
    """`label` and `topic` name the protocol and its version; `url` opens the trial registration."""
    if protocol is None:
        return {"label": SERVICE_LABEL}
    named = f"{protocol.title} v{protocol.version}"
    result: dict[str, Any] = {
        "label": named,
        "topic": {"system": PROTOCOL_TOPIC_SYSTEM, "code": protocol.protocol_id, "display": named},
    }
    if protocol.registration:
        result["url"] = f"https://clinicaltrials.gov/study/{protocol.registration}"
    return result


def smaller_step(protocol: ProtocolRef | None) -> str:
    """"5 % step": the taper's step size after a relapse (rule 8), from the protocol data."""
    loaded = load_protocols().by_id.get(protocol.protocol_id) if protocol else None
    if loaded is None or loaded.taper is None:
        return "smaller step"
    return f"{share(loaded.taper.after_relapse_max_reduction_fraction)} step"


def largest_change(protocol: ProtocolRef | None) -> str:
    """"more than 2-fold": the largest dose change one level may ask for (decision 0012), from the protocol data."""
    loaded = load_protocols().by_id.get(protocol.protocol_id) if protocol else None
    if loaded is None or loaded.titration_max_fold_change is None:
        return "more than the protocol allows"
    return f"more than {fold(loaded.titration_max_fold_change)}"


def stabilisation() -> str:
    """"3-month": the taper's stabilisation after a relapse (rule 8), from the protocol data."""
    taper = load_protocols()[KHE_GUIDED].taper
    return period(taper.stabilisation_days, adjective=True) if taper else "post-relapse"


def override_reasons() -> list[dict[str, str]]:
    return [{"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display} for code, display in OVERRIDE_REASONS]


def new_uuid() -> str:
    return str(uuid.uuid4())


ActionType = Literal["create", "update", "delete"]


@dataclass(frozen=True, kw_only=True)
class Action:
    """One CDS Hooks suggestion action: create or update a resource, or delete resources by id."""

    type: ActionType
    description: str
    resource: dict[str, Any] | None = None
    resource_id: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return prune({"type": self.type, "description": self.description, "resource": self.resource,
                      "resourceId": list(self.resource_id)})


@dataclass(frozen=True, kw_only=True)
class Suggestion:
    label: str
    actions: tuple[Action, ...]
    recommended: bool = False
    uuid: str = field(default_factory=new_uuid)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "uuid": self.uuid, "isRecommended": self.recommended,
                "actions": [a.to_json() for a in self.actions]}


@dataclass(frozen=True, kw_only=True)
class Card:
    """One card of this kind; with suggestions it also carries `selectionBehavior` and `overrideReasons`.
    The summary is cut to SUMMARY_MAX at a word (wording.fit): a long one is never an error."""

    kind: CardKind
    summary: str
    indicator: Severity
    detail: str
    protocol: ProtocolRef | None
    decision_url: str
    suggestions: tuple[Suggestion, ...] = ()
    uuid: str = field(default_factory=new_uuid)

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "uuid": self.uuid,
            "summary": fit(self.summary),
            "indicator": self.indicator,
            "detail": self.detail,
            "source": source(self.protocol),
            "links": [{"label": PAGE_LINK_LABEL, "url": self.decision_url, "type": "absolute"}],
            "extension": {CARD_KIND_EXTENSION: self.kind.value},
        }
        if self.suggestions:
            result["suggestions"] = [s.to_json() for s in self.suggestions]
            result["selectionBehavior"] = "at-most-one"
            result["overrideReasons"] = override_reasons()
        return prune(result)


def card(
    *,
    kind: CardKind,
    summary: str,
    indicator: Severity,
    detail: str,
    protocol: ProtocolRef | None,
    decision_url: str,
    suggestions: Sequence[Suggestion] | None = None,
) -> Card:
    return Card(kind=kind, summary=summary, indicator=indicator, detail=detail, protocol=protocol,
                decision_url=decision_url, suggestions=tuple(suggestions or ()))


def suggestion(label: str, actions: Sequence[Action], *, recommended: bool = False) -> Suggestion:
    return Suggestion(label=label, actions=tuple(actions), recommended=recommended)


def prune(value: Any) -> Any:
    """Drop None, "", [] and {} members recursively: CDS Hooks forbids them in optional fields."""
    if isinstance(value, dict):
        cleaned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        cleaned_list = [prune(v) for v in value]
        return [v for v in cleaned_list if v not in (None, "", [], {})]
    return value
