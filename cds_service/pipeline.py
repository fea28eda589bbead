"""The service layer: one hook call from validated request to response, with its audit record.

    draft (order hooks) -> gather FHIR data -> PatientRecord -> decide -> cards -> audit
"""
from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from cds_service.fhir.gather import gather
from cds_service.services import CdsService
from cds_service.store import DecisionRecord


def handle_hook(state: Any, service: CdsService, request_doc: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    now: dt.datetime = state.clock()
    gathered = gather(request_doc, service.prefetch, state.fhir, state.settings.fhir.timeout_seconds)
    cards: list[dict[str, Any]] = []
    decision_id = str(uuid.uuid4())
    state.store.record_decision(
        DecisionRecord(
            id=decision_id,
            created_at=now,
            expires_at=now + dt.timedelta(days=state.settings.decision_page_days),
            service_id=service.id,
            hook=request_doc["hook"],
            hook_instance=request_doc["hookInstance"],
            patient_id=request_doc["context"].get("patientId"),
            protocol=None,
            protocol_version=None,
            read_summary={"sources": gathered.sources, "resources": len(gathered.resources)},
            decision=None,
            cards=cards,
            timings_ms={"fetch": gathered.fetch_ms, "total": (time.perf_counter() - started) * 1000},
        )
    )
    return {"cards": cards}
