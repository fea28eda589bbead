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


def test_no_leading_underscore_name_is_imported_from_another_module() -> None:
    """A leading underscore says "only this module uses it" (issue #14); importing one across modules
    hides a dependency the module's public names do not show."""
    private = [f"{path.relative_to(ROOT)}:{node.lineno} {alias.name} from {node.module}"
               for path, tree in _trees("cds_service", "cards") for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) for alias in node.names
               if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not private, "make it public, or move the caller: " + "; ".join(private)


def test_every_error_class_is_in_the_tree_of_errors_py_with_where_it_is_answered() -> None:
    """cds_service/errors.py lists every error the service raises on purpose and where each becomes an
    HTTP answer or an exit status (issue #14 item 6): a new error class must be added there."""
    tree_text = ast.get_docstring(ast.parse((ROOT / "cds_service/errors.py").read_text(encoding="utf-8"))) or ""
    unlisted = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                for path, tree in _trees("cds_service", "cards") for node in ast.walk(tree)
                if isinstance(node, ast.ClassDef)
                and any(ast.unparse(base).endswith(("Error", "Exception", "Refused", "Rejected", "FhirFetchError"))
                        for base in node.bases)
                and node.name not in tree_text]
    assert not unlisted, "add to the tree in cds_service/errors.py: " + "; ".join(unlisted)


WIDE_FIELDS = 6  # issue #14 item 4: "wide frozen dataclasses kw_only"
# CriterionResult keeps positional construction in eligibility.py (about 25 results): its kind and answer
# are Literals that mypy --strict checks, so only the id and the protocol text could be swapped.
POSITIONAL_ALLOWED = {"CriterionResult"}


def test_wide_frozen_records_are_built_by_keyword() -> None:
    """A frozen dataclass of six fields or more is kw_only: two doses, two dates or two thresholds passed
    positionally can be swapped without any check noticing."""
    def is_dataclass_call(d: ast.expr) -> bool:
        return isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", "")) == "dataclass"

    wide = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
            for path, tree in _trees("cds_service", "cards") for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.name not in POSITIONAL_ALLOWED
            for d in node.decorator_list if is_dataclass_call(d)
            and {k.arg: ast.unparse(k.value) for k in d.keywords}.get("frozen") == "True"
            and {k.arg: ast.unparse(k.value) for k in d.keywords}.get("kw_only") != "True"
            and sum(isinstance(s, ast.AnnAssign) and "ClassVar" not in ast.unparse(s.annotation)
                    for s in node.body) >= WIDE_FIELDS]
    assert not wide, "add kw_only=True and build by keyword: " + "; ".join(wide)
