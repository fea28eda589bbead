"""`sirolimus-cds serve` as a real process (gunicorn) with a TOML configuration, for tests over HTTP."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.fhir_server import free_port
from tests.support.jwt_tokens import SANDBOX_ISSUER, jwks_for


@dataclass
class ServiceProcess:
    base_url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def write_config(workdir: Path, port: int, fhir_servers: list[str], issuer_key: object, kid: str,
                 extra: str = "", database_url: str | None = None) -> Path:
    """A config trusting one issuer (the sandbox's `iss`) with a pinned key set made from `issuer_key`.

    The database is a SQLite file in `workdir` unless `database_url` names another."""
    (workdir / "jwks.json").write_text(json.dumps(jwks_for(issuer_key, kid)))
    config = workdir / "cds.toml"
    database_url = database_url or f"sqlite:///{workdir / 'cds.db'}"
    config.write_text(
        f'public_base_url = "http://127.0.0.1:{port}"\n'
        f'database_url = "{database_url}"\n'
        f"{extra}\n"
        "[fhir]\n"
        f"allowed_servers = {json.dumps(fhir_servers)}\n"
        "timeout_seconds = 5\n"
        "[auth]\n"
        "require_jwt = true\n"
        "[[auth.issuers]]\n"
        f'iss = "{SANDBOX_ISSUER}"\n'
        'jwks_file = "jwks.json"\n'
    )
    return config


@contextmanager
def running_service(workdir: Path, config: Path, port: int, workers: int = 1) -> Iterator[ServiceProcess]:
    executable = shutil.which("sirolimus-cds") or str(Path(sys.executable).with_name("sirolimus-cds"))
    log_path = workdir / "service.log"
    # As an operator deploys: the schema first (serve refuses a database that is behind), then serve.
    subprocess.run([executable, "db", "upgrade", "--config", str(config)], cwd=workdir, check=True,
                   capture_output=True, env={**os.environ}, timeout=60)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [executable, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--config", str(config)],
            cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env={**os.environ},
        )
    service = ServiceProcess(f"http://127.0.0.1:{port}", workdir, process, log_path)
    try:
        # A guard, not a measure: on a shared 2-core machine at a load of 13, two gunicorn workers importing
        # the service and warming up took over 30 s to answer /healthz (a full-suite run, 2026-12-02).
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"sirolimus-cds serve exited: {service.output()[-3000:]}")
            try:
                if requests.get(f"{service.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sirolimus-cds serve did not start in time")
            time.sleep(0.1)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


__all__ = ["ServiceProcess", "free_port", "running_service", "write_config"]
