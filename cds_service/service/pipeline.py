"""The service layer: one hook call from a validated request to its response and audit record.

    draft (order hooks) -> gather FHIR data -> PatientRecord -> decide -> cards -> audit
"""
from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from cards import build_cards
from cds_service.audit.store import DecisionRecord
from cds_service.clinical.decide import decide_dosing, decide_monitoring, load_protocols
from cds_service.clinical.decision import Decision
from cds_service.clinical.reading.draft import DraftOrder, draft_from_context, read_draft
from cds_service.clinical.reading.record import PatientRecord, build_record
from cds_service.errors import PreconditionFailed
from cds_service.fhir.gather import Gathered, gather
from cds_service.service.recent import read_key
from cds_service.service.relevance import is_concerned
from cds_service.service.services import CdsService
from cds_service.service.state import AppState


@dataclass(frozen=True)
class RecordRead:
    """A patient record and what was read to build it (for the audit: counts and ids, no tokens)."""

    record: PatientRecord
    summary: dict[str, Any]
    fetch_ms: float
    record_ms: float


@dataclass(frozen=True)
class HookOutcome:
    response: dict[str, Any]
    decision_id: str | None
    outcome: str  # for the request log: "no-cards", "cards", ...


def _summary(gathered: Gathered, record: PatientRecord) -> dict[str, Any]:
    return {
        "sources": gathered.sources,
        "resources": len(gathered.resources),
        "by_type": dict(Counter(str(r.get("resourceType")) for r in gathered.resources)),
        "unusable": [{"resource": u.resource, "reason": u.reason} for u in record.unusable],
    }


def clinic_today(now: dt.datetime, timezone: str) -> dt.date:
    """"Today" in the clinic's time zone (due dates, trough ages): the day every entry point decides on."""
    return now.astimezone(ZoneInfo(timezone)).date()


def patient_of(gathered: Gathered, patient_id: str) -> dict[str, Any]:
    """The Patient read, only when it is the patient asked about: a prefetch (or a server) answering for
    another patient must never be decided on."""
    if gathered.patient is None:
        raise PreconditionFailed(f"the Patient resource '{patient_id}' could not be read")
    if gathered.patient.get("id") != patient_id:
        raise PreconditionFailed("the Patient read is not the patient of the hook context (context.patientId)")
    return gathered.patient


def read_record(state: AppState, service: CdsService, request_doc: dict[str, Any], today: dt.date) -> RecordRead:
    key = read_key(service.kind.value, request_doc, today.isoformat())  # order-select and order-sign share reads
    cached = state.recent.get(key)
    if cached is not None:
        return RecordRead(cached.record, {**cached.summary, "reused_within_seconds": state.recent.ttl_seconds},
                          0.0, 0.0)
    gathered = gather(request_doc, service.prefetch, state.fhir, state.settings.fhir.timeout_seconds)
    patient = patient_of(gathered, request_doc["context"]["patientId"])
    started = time.perf_counter()
    record = build_record(patient, gathered.resources, today)
    read = RecordRead(record, _summary(gathered, record), gathered.fetch_ms, (time.perf_counter() - started) * 1000)
    state.recent.put(key, read)
    return read


def decide(service: CdsService, record: PatientRecord, draft: dict[str, Any] | None, today: dt.date,
           *, order: DraftOrder | None = None) -> Decision:
    """The clinical decision of one hook call: what the HTTP pipeline and `simulate` both call."""
    protocols = load_protocols()
    if service.checks_orders:
        return decide_dosing(record, draft, protocols, today, order=order)
    return decide_monitoring(record, protocols, today)


def handle_hook(state: AppState, service: CdsService, request_doc: dict[str, Any], base_url: str,
                check_prefetch: Callable[[], None]) -> HookOutcome:
    """`check_prefetch` checks the shape of the request's prefetch (a BadRequest if it breaks a cap):
    called only once the call is known to concern the service, before anything reads the record."""
    started = time.perf_counter()
    now: dt.datetime = state.clock()
    today = clinic_today(now, state.settings.timezone)
    draft: dict[str, Any] | None = None
    order: DraftOrder | None = None  # the draft read once, here
    if service.checks_orders:
        draft = draft_from_context(request_doc["context"].get("draftOrders"))
        order = read_draft(draft) if draft is not None else None
        if order is None or order.kind != "sirolimus":
            # Another drug, or no medication chosen yet (first load): nothing to say, nothing read.
            return HookOutcome({"cards": []}, None, "not-sirolimus")
    elif not is_concerned(request_doc, state.fhir, state.settings.fhir.timeout_seconds):
        # A chart with no sirolimus, no KHE/IHHE/KMP and no sirolimus level: nothing more is read.
        return HookOutcome({"cards": []}, None, "not-concerned")

    check_prefetch()
    read = read_record(state, service, request_doc, today)
    decide_started = time.perf_counter()
    decision = decide(service, read.record, draft, today, order=order)
    decision_id = str(uuid.uuid4())
    cards = build_cards(decision, hook=request_doc["hook"], draft=draft,
                        decision_url=f"{base_url}/decisions/{decision_id}", today=today, service_url=base_url)
    decide_ms = (time.perf_counter() - decide_started) * 1000
    state.store.record_decision(
        DecisionRecord(
            id=decision_id,
            created_at=now,
            expires_at=now + dt.timedelta(days=state.settings.decision_page_days),
            service_id=service.id,
            hook=request_doc["hook"],
            hook_instance=request_doc["hookInstance"],
            patient_id=request_doc["context"].get("patientId"),
            protocol=decision.protocol.protocol_id if decision.protocol else None,
            protocol_version=decision.protocol.version if decision.protocol else None,
            read_summary=read.summary,
            decision=decision.to_dict(),
            cards=cards,
            timings_ms={
                "fetch": round(read.fetch_ms, 2),
                "record": round(read.record_ms, 2),
                "decide_and_cards": round(decide_ms, 2),
                "total": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    )
    return HookOutcome({"cards": cards}, decision_id, f"{len(cards)} card(s)" if cards else "no-cards")
