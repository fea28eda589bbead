"""A real FHIR R4 server process (sekmet-fhir, the `[demo]` extra) on loopback: for `demo` and the tests.

The server runs with its hospital simulator off, bound to 127.0.0.1 on a free port, its data in a
temporary folder; with a bearer token when one is given (the tests use one, so that they also prove
the service forwards `fhirAuthorization.access_token`), open otherwise (the demo's, loopback only).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

INSTALL_HINT = "the local FHIR server is not installed: python -m pip install 'sirolimus-cds[demo]'"


class FhirServerMissing(RuntimeError):
    """sekmet-fhir is not installed next to this Python."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FhirServer:
    """A running sekmet-fhir process; `base_url` ends in /fhir."""

    base_url: str
    token: str
    process: subprocess.Popen[bytes]
    workdir: Path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/fhir+json"}

    def transaction(self, bundle: dict) -> dict:
        """POST a transaction Bundle and return the transaction-response."""
        response = requests.post(self.base_url, data=json.dumps(bundle), headers=self.headers(), timeout=30)
        response.raise_for_status()
        return response.json()

    def search(self, query: str) -> dict:
        response = requests.get(f"{self.base_url}/{query}", headers=self.headers(), timeout=30)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections are accepted by the kernel, nothing answers."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def sekmet_executable() -> str:
    """The `sekmet` command installed with this Python (a venv's own first), else the one on PATH."""
    beside = Path(sys.executable).with_name("sekmet")
    found = str(beside) if beside.is_file() else shutil.which("sekmet")
    if not found:
        raise FhirServerMissing(INSTALL_HINT)
    return found


def start_fhir_server(timeout_s: float = 30.0, *, token: str | None = None, log_inbound: bool = False,
                      port: int | None = None) -> FhirServer:
    """Start sekmet-fhir and wait until /metadata answers.

    `token=None` makes an open server (as the public CDS Hooks sandbox's is); `log_inbound` keeps its
    traffic log, from which a test can count the requests the service made.
    """
    executable = sekmet_executable()
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="sekmet-"))
    base_url = f"http://127.0.0.1:{port}/fhir"
    (workdir / "settings.yaml").write_text(
        "\n".join(
            [
                f"base_url: {base_url}",
                "host: 127.0.0.1",
                f"port: {port}",
                f"data_dir: {workdir / 'data'}",
                "simulator:",
                "  enabled: false",
                "server_auth:",
                *(["  types: [bearer]", f"  tokens: [{token}]"] if token else ["  types: [none]"]),
                f"log_inbound: {'true' if log_inbound else 'false'}",
                "",
            ]
        )
    )
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed with the process
    env = {**os.environ, "SEKMET_CONFIG": str(workdir / "settings.yaml")}
    process = subprocess.Popen(
        [executable, "serve", "--config", str(workdir / "settings.yaml")],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sekmet exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{base_url}/metadata", timeout=1).status_code == 200:
                return FhirServer(base_url=base_url, token=token or "", process=process, workdir=workdir)
        except requests.RequestException:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("sekmet did not start in time")
