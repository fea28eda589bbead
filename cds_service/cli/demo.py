"""`sirolimus-cds demo`: cards on this machine from one command, nothing to configure.

It starts, all on 127.0.0.1: a real FHIR R4 server (sekmet-fhir, the `[demo]` extra; simulator off,
data in a temporary folder), loads the synthetic patients into it (`seed`), and the service, allowed
to read that server, with JWT verification off (loopback only, as `serve --dev`), its audit records in
a temporary SQLite database. Before the service starts, one order-select call for a synthetic child is
made so that a decision page exists; then it prints a ready `curl` for that dosing call, the `check`
command for every synthetic patient, and the decision page's URL. Ctrl-C stops the service and the
FHIR server and removes the temporary files.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from cds_service.cli.check import build_request, current_order_draft, service_for_hook
from cds_service.cli.common import FhirReader, Progress, today
from cds_service.cli.local_fhir import FhirServer, FhirServerMissing, start_fhir_server
from cds_service.config import LOG_LEVEL_ENV, FhirSettings, Settings
from cds_service.errors import ConfigError

HOST = "127.0.0.1"
# The dosing call shown: a child on sirolimus whose trough is below target, her current order as the draft.
PATIENT = "ihhe-trough-low"
HOOK = "order-select"


@dataclass(frozen=True)
class DemoCall:
    """The dosing call the demo prints, and the decision page its first answer produced."""

    service_id: str
    request_file: Path
    decision_page: str
    cards: int


def demo_settings(workdir: Path, fhir_base_url: str) -> Settings:
    """Embedded defaults, but: reads only the local FHIR server, no JWT, audit database in `workdir`."""
    defaults = Settings()
    return replace(
        defaults,
        database_url=f"sqlite:///{workdir / 'demo.db'}",
        fhir=FhirSettings(allowed_servers=(fhir_base_url,), timeout_seconds=10.0),
        auth=replace(defaults.auth, require_jwt=False),
    )


def first_call(app: Any, fhir: FhirServer, port: int, workdir: Path, progress: Progress) -> DemoCall:
    """Make the dosing call once, in-process, as if it came to http://127.0.0.1:port (so the card's
    links point at the running service); keep its request for curl."""
    reader = FhirReader(fhir.base_url, None, 30.0, progress)
    try:
        draft, described = current_order_draft(reader, PATIENT, today())
    finally:
        reader.close()
    progress(f"draft order for Patient/{PATIENT}: {described}")
    client = app.test_client()
    base = f"http://{HOST}:{port}"
    entry = service_for_hook(client.get("/cds-services", base_url=base).get_json(), HOOK)
    document = build_request(HOOK, PATIENT, fhir.base_url, None, draft)
    request_file = workdir / f"{HOOK}-{PATIENT}.json"
    request_file.write_text(json.dumps(document, indent=2), encoding="utf-8")
    response = client.post(f"/cds-services/{entry['id']}", json=document, base_url=base)
    body = response.get_json(silent=True) or {}
    if response.status_code != 200 or not body.get("cards"):
        raise ConfigError(f"the demo's first call answered HTTP {response.status_code} with no card; "
                          f"see the FHIR server's log in {fhir.workdir}")
    pages = [link["url"] for card in body["cards"] for link in card.get("links", [])
             if link.get("url", "").startswith(f"{base}/decisions/")]
    return DemoCall(service_id=entry["id"], request_file=request_file, decision_page=pages[0] if pages else "",
                    cards=len(body["cards"]))


def next_steps(call: DemoCall, fhir: FhirServer, port: int) -> str:
    """What to do now: the curl, the check command, the decision page."""
    root = f"http://{HOST}:{port}"
    return "\n".join([
        "",
        f"sirolimus-cds demo: the service is at {root}/cds-services (JWT off, 127.0.0.1 only)",
        f"  FHIR R4 server with the synthetic patients: {fhir.base_url}",
        "",
        f"A dosing call ({HOOK} for Patient/{PATIENT}, trough below target):",
        f"  curl -s -X POST {root}/cds-services/{call.service_id} -H 'Content-Type: application/json' "
        f"--data @{call.request_file}",
        "  (each call is a new decision: each answer's cards link their own decision page (links[].url))",
        "",
        "Every synthetic patient's cards, next to the expected outcome:",
        f"  sirolimus-cds check --fhir-server {fhir.base_url} --all-synthetic --service {root}",
        "",
        "The decision page of the demo's own first call (chart and rule trace), in a browser:",
        f"  {call.decision_page}",
        "",
        "Ctrl-C stops the service and the FHIR server.",
        "",
    ])


def run_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from cds_service.app import create_app
    from cds_service.cli import database_or_one_line, env_port, port_is_free, start_logging
    from cds_service.cli.serve import run
    from cds_service.synthetic.seed import SeedError, seed

    out = out or sys.stdout
    progress = Progress(sys.stderr)
    port = args.port if args.port is not None else env_port()
    port_is_free(HOST, port)
    workdir = Path(tempfile.mkdtemp(prefix="sirolimus-cds-demo-"))
    fhir = None
    try:
        progress("starting the local FHIR R4 server (sekmet-fhir)")
        try:
            fhir = start_fhir_server(token=None)
        except FhirServerMissing as exc:
            raise ConfigError(str(exc)) from None
        except RuntimeError as exc:
            raise ConfigError(f"the local FHIR server did not start: {str(exc).splitlines()[0]}") from None
        try:
            patients = seed(fhir.base_url)
        except SeedError as exc:
            raise ConfigError(f"loading the synthetic patients failed: {exc}") from None
        progress(f"loaded {len(patients)} synthetic patients into {fhir.base_url}")
        log_level = os.environ.get(LOG_LEVEL_ENV) or "WARNING"  # the terminal is for the instructions
        start_logging(log_level)
        settings = demo_settings(workdir, fhir.base_url)
        app = database_or_one_line(settings, lambda: create_app(settings, upgrade_database=True))
        call = first_call(app, fhir, port, workdir, progress)
        app.extensions["sirolimus_cds"].fhir.session.close()  # no worker inherits the first call's sockets
        steps = next_steps(call, fhir, port)
        run(app, HOST, port, args.workers, log_level=log_level, when_ready=lambda: print(steps, file=out, flush=True))
    finally:
        # gunicorn's SIGCHLD handler outlives its arbiter: it would log the FHIR server's exit as an
        # ERROR "Worker (pid:N) was sent SIGTERM!" on every Ctrl-C.
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if fhir is not None:
            fhir.stop()
            shutil.rmtree(fhir.workdir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0

