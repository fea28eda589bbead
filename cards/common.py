"""What every card shares: uuid, source naming the protocol and its version, the decision-page link,
override reasons, and the CDS Hooks rule that optional fields are never empty or null."""

from __future__ import annotations

import uuid
from typing import Any

from cards.wording import SUMMARY_MAX
from cds_service.clinical.decision import ProtocolRef, Severity

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


def override_reasons() -> list[dict[str, str]]:
    return [{"system": OVERRIDE_REASON_SYSTEM, "code": code, "display": display} for code, display in OVERRIDE_REASONS]


def new_uuid() -> str:
    return str(uuid.uuid4())


def card(
    *,
    summary: str,
    indicator: Severity,
    detail: str,
    protocol: ProtocolRef | None,
    decision_url: str,
    suggestions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One card; with suggestions it also carries `selectionBehavior: at-most-one` and `overrideReasons`."""
    if not summary or len(summary) > SUMMARY_MAX:
        raise ValueError(f"card summary must be 1-{SUMMARY_MAX} characters, got {len(summary)}: {summary!r}")
    result: dict[str, Any] = {
        "uuid": new_uuid(),
        "summary": summary,
        "indicator": indicator,
        "detail": detail,
        "source": source(protocol),
        "links": [{"label": PAGE_LINK_LABEL, "url": decision_url, "type": "absolute"}],
    }
    if suggestions:
        result["suggestions"] = suggestions
        result["selectionBehavior"] = "at-most-one"
        result["overrideReasons"] = override_reasons()
    return prune(result)


def suggestion(label: str, actions: list[dict[str, Any]], *, recommended: bool = False) -> dict[str, Any]:
    return {"label": label, "uuid": new_uuid(), "isRecommended": recommended, "actions": actions}


def prune(value: Any) -> Any:
    """Drop None, "", [] and {} members recursively: CDS Hooks forbids them in optional fields."""
    if isinstance(value, dict):
        cleaned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        cleaned_list = [prune(v) for v in value]
        return [v for v in cleaned_list if v not in (None, "", [], {})]
    return value
