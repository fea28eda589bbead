"""`sirolimus-cds --help` and every command's `--help` answer without importing what the commands use to
work (numpy, scipy, matplotlib, SQLAlchemy, Flask, the FHIR resources, requests, PyJWT): a command's
implementation is imported only when it runs. Each help still lists the command's own options."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "scipy", "matplotlib", "sqlalchemy", "flask", "fhir.resources", "requests", "jwt",
         "jsonschema", "gunicorn", "alembic")
OPTIONS = {  # a command line -> options its help must show
    (): ("serve", "db", "demo", "token", "seed", "check", "plan", "report", "simulate", "--version"),
    ("serve",): ("--port", "--workers", "--trust-sandbox", "--dev", "--metrics-port", "--config"),
    ("db", "upgrade"): ("--config",),
    ("db", "purge"): ("--config",),
    ("demo",): ("--port", "--workers"),
    ("token",): ("--new-key", "--key", "--iss", "--aud", "--lifetime"),
    ("seed",): ("--fhir-server", "--token", "--scenario", "--date", "--timeout", "--list"),
    ("check",): ("--fhir-server", "--patient", "--hook", "--draft", "--with-prefetch", "--service", "--bearer",
                 "--all-synthetic", "--json"),
    ("plan",): ("--fhir-server", "--patient", "--out", "--json"),
    ("report",): ("--since", "--out", "--csv", "--config"),
    ("simulate",): ("--patients", "--months", "--protocol", "--seed", "--out"),
}


def _help(command: tuple[str, ...]) -> tuple[str, set[str]]:
    """The help text, and the modules Python imported to print it (from -X importtime)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "cds_service", *command, "--help"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done.stdout, imported


@pytest.mark.parametrize("command", sorted(OPTIONS), ids=lambda c: " ".join(c) or "sirolimus-cds")
def test_help_shows_the_options_and_imports_nothing_the_command_needs_only_to_run(command):
    text, imported = _help(command)
    missing = [option for option in OPTIONS[command] if option not in text]
    assert missing == []
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY or m.startswith("fhir.resources"))
    assert heavy == []


def test_a_command_still_runs_its_implementation(tmp_path, capsys):
    """The parser names the implementation; running the command imports and calls it (here `token`)."""
    from cds_service.cli import main

    assert main(["token", "--new-key", str(tmp_path / "issuer")]) == 0
    assert (tmp_path / "issuer").is_dir() and "[[auth.issuers]]" in capsys.readouterr().out
