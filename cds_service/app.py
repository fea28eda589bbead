"""create_app(settings): wiring only."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import requests
from flask import Flask

from cds_service.audit import schema
from cds_service.audit.store import Store
from cds_service.config import Settings, load_settings
from cds_service.fhir.client import FhirClient
from cds_service.service.recent import RecentReads
from cds_service.service.state import EXTENSION, AppState, utc_now


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], dt.datetime] = utc_now,
    fhir_session: requests.Session | None = None,
    upgrade_database: bool = False,
) -> Flask:
    """The app; its database must be at the newest schema revision, unless `upgrade_database`
    (`serve --dev`, tests, the in-process `check`) brings it there first (decision 0125)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.limits.max_body_bytes
    store = Store(settings.database_url, settings.database)
    if upgrade_database:
        schema.upgrade(store.engine)
    else:
        schema.require_current(store.engine)
    verifier = None
    if settings.auth.require_jwt:
        from cds_service.http.auth.replay import replay_store_for
        from cds_service.http.auth.verify import JwtVerifier

        verifier = JwtVerifier(settings.auth, replay_store_for(settings, store.engine))
    app.extensions[EXTENSION] = AppState(
        settings=settings,
        store=store,
        fhir=FhirClient(settings.fhir, session=fhir_session),
        verifier=verifier,
        clock=clock,
        recent=RecentReads(),
    )
    from cds_service.http.logs import install_request_logging
    from cds_service.http.openapi import openapi
    from cds_service.http.operations import install_metrics, operations
    from cds_service.http.pages import pages
    from cds_service.http.routes import blueprint

    app.register_blueprint(blueprint)
    app.register_blueprint(pages)
    app.register_blueprint(openapi)
    app.register_blueprint(operations)
    install_request_logging(app)
    install_metrics(app)
    return app
