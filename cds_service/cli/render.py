"""Cards -> readable terminal text: indicator, summary, source, each suggestion with its dose, the
rule trace (the card's Markdown detail, lightly cleaned), and the links.

Wording is the service's: this module only lays it out. A suggested dose is shown as the card states
it (the dosage text) with the daily dose read back from the FHIR resource by the core's own tolerant
reader, so that what a prescriber would accept is visible in mg/day.
"""
from __future__ import annotations

import re
import textwrap
from typing import Any

from cds_service.clinical.reading.draft import read_draft

_ANSI = {"critical": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m", "reset": "\033[0m",
         "dim": "\033[2m", "bold": "\033[1m"}
_MD_BOLD = re.compile(r"\*\*(.+?)\*\*")
_MD_TABLE_RULE = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
WIDTH = 100


def suggested_doses(card: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(suggestion, dose line) for every suggestion that puts a sirolimus dose into an order."""
    found = []
    for suggestion in card.get("suggestions", []):
        for action in suggestion.get("actions", []):
            resource = action.get("resource") or {}
            if resource.get("resourceType") != "MedicationRequest":
                continue
            found.append((suggestion, dose_line(resource)))
    return found


def dose_line(resource: dict[str, Any]) -> str:
    """`0.23 mg (0.23 mL of 1 mg/mL) twice daily = 0.46 mg/day`, from the order as written."""
    order = read_draft(resource)
    dosages = resource.get("dosageInstruction") or [{}]
    text = dosages[0].get("text") if isinstance(dosages[0], dict) else None
    daily = order.daily_dose_mg
    parts = [text or order.medication or "dose not stated"]
    if daily is not None:
        parts.append(f"= {daily:g} mg/day")
    return " ".join(parts)


def render_response(response: dict[str, Any], *, colour: bool = False, show_links: bool = True) -> str:
    cards = response.get("cards", [])
    if not cards:
        return "No cards: the service has nothing to say for this patient and hook.\n"
    blocks = [render_card(card, i + 1, len(cards), colour=colour, show_links=show_links)
              for i, card in enumerate(cards)]
    actions = response.get("systemActions") or []
    if actions:
        blocks.append(f"System actions: {len(actions)} (see --json)")
    return "\n".join(blocks)


def render_card(card: dict[str, Any], number: int, total: int, *, colour: bool = False,
                show_links: bool = True) -> str:
    def paint(style: str, text: str) -> str:
        return f"{_ANSI[style]}{text}{_ANSI['reset']}" if colour else text

    indicator = str(card.get("indicator", "info"))
    lines = [f"Card {number}/{total}  {paint(indicator, f'[{indicator.upper()}]')}  "
             f"{paint('bold', str(card.get('summary', '')))}"]
    source = card.get("source", {})
    if source.get("label"):
        lines.append(f"  Source: {source['label']}" + (f" ({source['url']})" if source.get("url") else ""))
    doses = {id(s): line for s, line in suggested_doses(card)}
    suggestions = card.get("suggestions", [])
    if suggestions:
        lines.append(f"  Suggestions ({card.get('selectionBehavior', 'any')}):")
        for suggestion in suggestions:
            mark = "*" if suggestion.get("isRecommended") else "-"
            tag = " (recommended)" if suggestion.get("isRecommended") else ""
            lines.append(f"    {mark} {suggestion.get('label', '')}{tag}")
            if id(suggestion) in doses:
                lines.append(f"        dose: {doses[id(suggestion)]}")
            for action in suggestion.get("actions", []):
                lines.extend(textwrap.wrap(f"{action.get('type', '?')}: {action.get('description', '')}",
                                           WIDTH, initial_indent="        ", subsequent_indent="          "))
    detail = card.get("detail")
    if detail:
        lines.append("  Why (rule trace):")
        lines.extend(_detail_lines(detail))
    if show_links:
        for link in card.get("links", []):
            lines.append(f"  Link: {link.get('label', '')}: {link.get('url', '')}")
    return "\n".join(lines) + "\n"


def _detail_lines(markdown: str) -> list[str]:
    """The Markdown detail, indented; bold markers dropped, table rules removed, long lines wrapped."""
    out = []
    for raw in markdown.splitlines():
        line = _MD_BOLD.sub(r"\1", raw.rstrip())
        if not line or _MD_TABLE_RULE.match(line):
            continue
        if line.startswith("|"):
            out.append("    " + "  ".join(cell.strip() for cell in line.strip("|").split("|")))
            continue
        out.extend(textwrap.wrap(line, WIDTH, initial_indent="    ", subsequent_indent="      ") or [""])
    return out
