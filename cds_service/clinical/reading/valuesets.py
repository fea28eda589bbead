"""Match FHIR codings against the ValueSets kept as data in fhir_profiles/valuesets/.

Sites add codes by editing those files, never this module. Supported compose features:
`include[].concept` (exact codes), `include[].filter` with op `is-a` (for ICD-10 and ICD-10-CM
this is a code prefix: the classification is hierarchical by prefix), and two extensions:
`broad-code-needs-text` on an include (a broad code counts only with supporting text, e.g.
ICD-10 C49.9 for KHE, clinical-protocol.md section 6) and `product-strength` on a concept.
Orphanet codes are compared without their `ORPHA:` prefix, so `2122` and `ORPHA:2122` both match.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_profiles import load_json

from ..decision import Formulation

TEXT_EXT = "https://sirolimus-cds.org/fhir/StructureDefinition/broad-code-needs-text"
STRENGTH_EXT = "https://sirolimus-cds.org/fhir/StructureDefinition/product-strength"
SEVERITY_EXT = "https://sirolimus-cds.org/fhir/StructureDefinition/interaction-severity"
ORPHANET = "http://www.orpha.net"
PREFIX_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"}


@dataclass(frozen=True, kw_only=True)
class CodeMatch:
    valueset: str
    system: str
    code: str
    display: str | None
    specific: bool  # False: a broad code, which counted only because supporting text named the disease
    how: str  # plain words for the card: "Orphanet 2122" / "ICD-10 C49.9 with text 'kaposiform'"
    form: Formulation | None = None
    strength_mg: float | None = None
    severity: str | None = None


@dataclass(frozen=True)
class _Include:
    system: str
    concepts: dict[str, dict[str, Any]]
    prefixes: tuple[str, ...]
    needs_text: tuple[str, ...]


def _norm(system: str, code: str) -> str:
    code = code.strip()
    if system == ORPHANET and code.upper().startswith("ORPHA:"):
        return code[6:]
    return code.upper() if system in PREFIX_SYSTEMS else code


@cache
def _includes(name: str) -> tuple[_Include, ...]:
    resource = load_json(f"valuesets/{name}.json")
    result = []
    for inc in resource["compose"]["include"]:
        system = inc["system"]
        concepts = {_norm(system, c["code"]): c for c in inc.get("concept", [])}
        prefixes = tuple(
            _norm(system, f["value"]) for f in inc.get("filter", []) if f.get("op") == "is-a"
        )
        needs_text = tuple(e["valueString"].lower() for e in inc.get("extension", []) if e["url"] == TEXT_EXT)
        result.append(_Include(system, concepts, prefixes, needs_text))
    return tuple(result)


def _strength(concept: dict[str, Any]) -> tuple[Formulation | None, float | None]:
    for ext in concept.get("extension", []):
        if ext["url"] == STRENGTH_EXT:
            parts = {e["url"]: e for e in ext["extension"]}
            form = parts["form"]["valueCode"]
            return ("solution" if form == "solution" else "tablet"), float(
                parts["strength"]["valueQuantity"]["value"]
            )
    return None, None


def _severity(concept: dict[str, Any]) -> str | None:
    for ext in concept.get("extension", []):
        if ext["url"] == SEVERITY_EXT:
            return str(ext["valueCode"])
    return None


def _texts(concept: dict[str, Any]) -> str:
    parts = [str(concept.get("text", ""))]
    parts += [str(c.get("display", "")) for c in concept.get("coding", []) or [] if isinstance(c, dict)]
    return " ".join(parts).lower()


def match_concept(name: str, concept: Any) -> CodeMatch | None:
    """Match a plain-JSON CodeableConcept against ValueSet `name`; specific matches win over broad."""
    if not isinstance(concept, dict):
        return None
    codings = concept.get("coding") or []
    if isinstance(codings, dict):  # tolerate a single object where R4 wants an array
        codings = [codings]
    broad: CodeMatch | None = None
    text = _texts(concept)
    for coding in codings:
        if not isinstance(coding, dict) or not coding.get("system") or not coding.get("code"):
            continue
        system, code = str(coding["system"]), _norm(str(coding["system"]), str(coding["code"]))
        for inc in _includes(name):
            if inc.system != system:
                continue
            entry = inc.concepts.get(code)
            hit = entry is not None or any(code.startswith(p) for p in inc.prefixes)
            if not hit:
                continue
            form, strength = _strength(entry) if entry else (None, None)
            label = f"{_system_label(system)} {coding['code']}"
            if not inc.needs_text:
                return CodeMatch(valueset=name, system=system, code=code, display=coding.get("display"),
                                 specific=True, how=label, form=form, strength_mg=strength,
                                 severity=_severity(entry) if entry else None)
            found = next((t for t in inc.needs_text if t.lower() in text), None)
            if found and broad is None:
                broad = CodeMatch(valueset=name, system=system, code=code, display=coding.get("display"),
                                  specific=False, how=f"{label} (a broad code) with text '{found}'", form=form,
                                  strength_mg=strength)
    return broad


def broad_code_without_text(name: str, concept: Any) -> str | None:
    """A broad code of ValueSet `name` present without the text that would make it count."""
    if not isinstance(concept, dict):
        return None
    codings = concept.get("coding") or []
    if isinstance(codings, dict):
        codings = [codings]
    for coding in codings:
        if not isinstance(coding, dict) or not coding.get("system") or not coding.get("code"):
            continue
        system, code = str(coding["system"]), _norm(str(coding["system"]), str(coding["code"]))
        for inc in _includes(name):
            if inc.system == system and inc.needs_text and code in inc.concepts:
                return f"{_system_label(system)} {coding['code']}"
    return None


_LABELS = {
    "http://www.orpha.net": "Orphanet",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://www.whocc.no/atc": "ATC",
    "http://terminology.hl7.org/CodeSystem/icd-o-3": "ICD-O-3",
}


def _system_label(system: str) -> str:
    return _LABELS.get(system, system)
