"""GET /openapi.yaml: the service's OpenAPI description (fhir_profiles/openapi.yaml), self-contained.

The source file refers to the wire-format JSON Schemas (fhir_profiles/schemas/*.json) by relative
path, so that the two cannot drift apart; the served document has them moved into
`components/schemas`, so that a client (or schemathesis) needs nothing else.
"""
from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

import yaml
from flask import Blueprint, Response

openapi = Blueprint("openapi", __name__)


def _component_name(ref: str) -> str:
    stem = PurePosixPath(ref).name.removesuffix(".schema.json").removesuffix(".json")
    return "".join(part.capitalize() for part in stem.split("-"))


@cache
def _description() -> str:
    package = resources.files("fhir_profiles")
    document = yaml.safe_load(package.joinpath("openapi.yaml").read_text(encoding="utf-8"))
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})

    def inline(node: Any, folder: PurePosixPath) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                target = folder / ref
                name = _component_name(ref)
                if name not in components:
                    components[name] = {}  # reserved first: schemas may refer to each other
                    schema = json.loads(package.joinpath(*target.parts).read_text(encoding="utf-8"))
                    schema.pop("$schema", None)
                    schema.pop("$id", None)
                    components[name] = inline(schema, target.parent)
                return {**{k: v for k, v in node.items() if k != "$ref"}, "$ref": f"#/components/schemas/{name}"}
            return {key: inline(value, folder) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item, folder) for item in node]
        return node

    inlined = inline(document, PurePosixPath("."))
    return yaml.dump(inlined, Dumper=_NoAliases, sort_keys=False, allow_unicode=True)


class _NoAliases(yaml.SafeDumper):
    """Every repeated part written out in full: simpler for clients than YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def description() -> dict[str, Any]:
    """The served document, parsed (a fresh copy)."""
    return yaml.safe_load(_description())  # type: ignore[no-any-return]


@openapi.get("/openapi.yaml")
def get_openapi() -> Response:
    """Public documentation, no JWT (as the PlanDefinitions, decision 0107)."""
    response = Response(_description(), mimetype="application/yaml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
