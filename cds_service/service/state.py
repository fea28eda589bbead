"""AppState: the typed dependencies a request handler shares (settings, adapters, the clock), in a
module of its own so that the HTTP layer and the service layer import it without importing the app
factory (no cycle). `create_app` builds it once; `app_state()` is the one way to reach it."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from cds_service.audit.store import Store
from cds_service.config import Settings
from cds_service.fhir.client import FhirClient
from cds_service.service.recent import RecentReads

if TYPE_CHECKING:
    from cds_service.http.auth.verify import JwtVerifier

EXTENSION = "sirolimus_cds"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class AppState:
    """What request handlers share: settings, adapters and the clock (injected so tests can fix it)."""

    settings: Settings
    store: Store
    fhir: FhirClient
    verifier: JwtVerifier | None
    clock: Callable[[], dt.datetime]
    recent: RecentReads[Any]


def app_state(app: Flask | None = None) -> AppState:
    """The AppState of `app` (default: the app handling the current request)."""
    state: AppState = (app or current_app).extensions[EXTENSION]
    return state
