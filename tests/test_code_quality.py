"""The style guide's promise, checked: "ruff and mypy run in CI; the clinical core type-checks strictly".

Both use the configuration in pyproject.toml (strict flags for cds_service.clinical in [tool.mypy]).
mypy keeps its incremental cache in .mypy_cache, so a re-run only re-checks what changed.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_clinical_core_type_checks_strictly() -> None:
    result = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"), "cds_service/clinical")
    assert result.returncode == 0, f"mypy failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, f"ruff failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
