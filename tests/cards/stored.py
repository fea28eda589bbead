"""The decision page served by a real app: the app (JWT off, its own SQLite database) and a decision
stored in its audit trail, as the pipeline stores one, for the page tests and the browser tests."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from cds_service.app import create_app
from cds_service.audit.store import DecisionRecord
from cds_service.config import AuthSettings, Settings
from cds_service.http.pages import pages


def page_app(tmp_path: Path, clock: Callable[[], dt.datetime]) -> Flask:
    """The app with GET /decisions/<id>, whose clock is `clock`."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", auth=AuthSettings(require_jwt=False))
    app = create_app(settings, clock=clock, upgrade_database=True)
    if "pages" not in app.blueprints:
        app.register_blueprint(pages)
    return app


def store_decision(app: Flask, decision: dict[str, Any] | None, *, created_at: dt.datetime, **fields: Any) -> str:
    """Record `decision` (its JSON form; None: a row whose decision is null) as an order-select call for
    khe-demo under the guided taper, kept 30 days; `fields` set other DecisionRecord fields. Its id."""
    record = DecisionRecord(
        id=str(uuid.uuid4()),
        created_at=created_at,
        expires_at=created_at + dt.timedelta(days=30),
        service_id="sirolimus-dosing",
        hook="order-select",
        hook_instance=str(uuid.uuid4()),
        patient_id="khe-demo",
        protocol=fields.pop("protocol", "khe-guided-discontinuation"),
        protocol_version=fields.pop("protocol_version", "1.0.0"),
        read_summary={},
        decision=decision,
        cards=fields.pop("cards", []),
        timings_ms={},
        **fields,
    )
    app.extensions["sirolimus_cds"].store.record_decision(record)
    return record.id
