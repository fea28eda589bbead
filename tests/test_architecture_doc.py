"""docs/architecture.md stays true: it names every module of cds_service/, and every module it names exists."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def _modules() -> set[str]:
    files = (ROOT / "cds_service").rglob("*.py")
    return {p.relative_to(ROOT).as_posix() for p in files if "__pycache__" not in p.parts}


def test_every_module_of_the_package_is_named_in_the_architecture_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(m for m in _modules() if f"`{m}`" not in text)
    assert missing == [], f"add one line for each to docs/architecture.md, 'Every module, one line each': {missing}"


def test_every_module_the_architecture_doc_names_exists() -> None:
    named = set(re.findall(r"`(cds_service/[\w/]+\.py)`", DOC.read_text(encoding="utf-8")))
    gone = sorted(named - _modules())
    assert gone == [], f"docs/architecture.md names modules that are not there: {gone}"
