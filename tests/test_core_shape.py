"""Issue #14's shape of the core, checked on the source: small functions in the clinical core, and
meanings compared as enums (a `Rule` compared with a plain string passes today and silently stops
matching the day the enum's value is renamed)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 50  # issue #14: "no function in clinical/ over about 50 lines"


def _trees(*folders: str) -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"))) for folder in folders
            for path in sorted((ROOT / folder).rglob("*.py"))]


def test_no_function_in_the_clinical_core_is_longer_than_50_lines() -> None:
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for path, tree in _trees("cds_service/clinical") for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, "split into named steps: " + "; ".join(long)


def _is_rule(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "rule"


def test_a_proposed_dose_rule_is_compared_with_the_rule_enum_never_a_string() -> None:
    found = []
    for path, tree in _trees("cds_service", "cards"):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            if any(_is_rule(s) for s in sides) and any(isinstance(s, ast.Constant) and isinstance(s.value, str)
                                                       for s in sides):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "compare with clinical.decision.Rule: " + ", ".join(found)
