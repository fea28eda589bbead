"""The card detail: at most about 8 short lines of GitHub Markdown, in the order a prescriber checks them
(issue #10): the draft, what to do (mg and mL), the rule, the trough used, the predicted trough, the next
trough. Everything else (eligibility criteria, trough history, evidence, resource ids, canonicals) is on
the decision page behind the card's link. Plain words and symbols, no emoji.
"""

from __future__ import annotations

from collections.abc import Iterable

from cards.wording import daily, dose_text, mg, number, percent, protocol_short, rule_name, when
from cds_service.clinical.decision import (
    Decision,
    Eligibility,
    Finding,
    MissingData,
    ProposedDose,
    TroughUsed,
)

ANSWER_WORDS = {"met": "met", "not_met": "not met", "unknown": "unknown"}
SEVERITY_WORDS = {"info": "Note", "warning": "Warning", "critical": "Critical"}
FINDINGS_SHOWN = 2  # the others are on the decision page
PAGE = "the decision page"


def proposal(proposed: ProposedDose, *, label: str = "Proposed") -> list[str]:
    change = f", {percent(proposed.percent_change)}" if proposed.percent_change is not None else ""
    lines = [f"**{label}:** {dose_text(proposed.regimen)} = {daily(proposed)}{change}."]
    lines.append(f"**Rule:** {rule_name(proposed.rule)}: “{md_text(proposed.protocol_line)}”")
    if proposed.predicted_trough_ng_ml is not None:
        lines.append(f"**Predicted trough:** ≈ {number(proposed.predicted_trough_ng_ml, 1)} ng/mL at steady state.")
    if proposed.loading_dose_mg is not None:
        lines.append(f"**Loading dose, if used:** {mg(proposed.loading_dose_mg)} once (not in the order).")
    return lines


def findings(items: Iterable[Finding]) -> list[str]:
    """The first findings, one line each, critical first; how many more are on the page."""
    ordered = sorted(items, key=lambda f: ("critical", "warning", "info").index(f.severity))
    lines = [f"**{SEVERITY_WORDS[f.severity]}:** {md_text(f.message)}." .replace("..", ".")
             for f in ordered[:FINDINGS_SHOWN]]
    if len(ordered) > FINDINGS_SHOWN:
        lines.append(f"{len(ordered) - FINDINGS_SHOWN} more on {PAGE}.")
    return lines


def troughs(items: Iterable[TroughUsed]) -> list[str]:
    """The newest level, used or not (and why not); the history is on the page."""
    rows = sorted(items, key=lambda t: t.drawn_on, reverse=True)
    if not rows:
        return ["**Trough:** none on record."]
    newest = rows[0]
    if newest.usable:
        return [f"**Trough used:** {trough_value(newest)} on {when(newest.drawn_on)}."]
    why = md_text("; ".join(newest.reasons_unusable)) or "not usable"
    return [f"**Latest trough, not used:** {trough_value(newest)} on {when(newest.drawn_on)} ({why})."]


def trough_value(trough: TroughUsed) -> str:
    """`8.4 ng/mL`, with the reported value when it was converted, and the assay when known."""
    if trough.value_ng_ml is not None:
        text = f"{number(trough.value_ng_ml, 1)} ng/mL"
        if trough.original_unit and trough.original_unit not in {"ng/mL", "ug/L"} and trough.original_value is not None:
            text += f" (reported {number(trough.original_value, 2)} {trough.original_unit})"
    elif trough.original_value is not None:
        text = f"{number(trough.original_value, 2)} {trough.original_unit or '(no unit)'}"
    else:
        text = "no value"
    return text + (f", {trough.method}" if trough.method else "")


def schedule_lines(decision: Decision) -> list[str]:
    """The current dose and what is due next, in one line."""
    parts = []
    if decision.current_dose is not None:
        parts.append(f"**Now:** {dose_text(decision.current_dose)} ({mg(decision.current_dose.daily_dose_mg)}/day).")
    if decision.next_trough_due is not None:
        parts.append(f"**Next trough:** {when(decision.next_trough_due)}, before the morning dose.")
    if decision.next_step_due is not None:
        due = decision.next_step_due
        parts.append(f"**Next taper step:** due since {when(due)}." if due < decision.decided_on
                     else f"**Next taper step:** {when(due)}.")
    return [" ".join(parts)] if parts else []


def eligibility(items: Iterable[Eligibility]) -> list[str]:
    """One line per protocol: the answer and what decides it; the criteria table is on the page."""
    lines = []
    for result in items:
        if result.answer == "met":
            why = "every criterion met"
        elif result.answer == "not_met":
            first = result.not_met[0].text if result.not_met else "a criterion"
            more = f" (+{len(result.not_met) - 1} more)" if len(result.not_met) > 1 else ""
            why = f"not met: {md_text(first)}{more}"
        elif result.to_confirm:
            why = f"{len(result.unknown)} criteria for you to confirm"
        else:
            settle = "; ".join(f"{md_text(c.text)} (to settle: {md_text(c.settle_by)})" if c.settle_by
                               else md_text(c.text) for c in result.unknown[:2])
            why = f"{len(result.unknown)} criteria unknown: {settle}"
        lines.append(f"**Eligibility, {result.protocol_id}:** {why}; the criteria are on {PAGE}.")
    return lines


def missing(items: Iterable[MissingData]) -> list[str]:
    rows = list(items)
    if not rows:
        return []
    orders = [md_text(i.order) for i in rows if i.order]
    line = "**Missing:** " + "; ".join(md_text(i.what) for i in rows) + "."
    return [line + (" **To order or record:** " + "; ".join(dict.fromkeys(orders)) + "." if orders else "")]


def protocol_lines(decision: Decision) -> list[str]:
    """The protocol, arm and weight, in one line (ids and canonicals are on the page)."""
    parts = []
    if decision.protocol is not None:
        p = decision.protocol
        name = protocol_short(p.protocol_id, p.title)
        parts.append(f"**Protocol:** {md_text(name)} v{p.version} ({p.registration})")
    if decision.arm is not None:
        how = "assumed" if decision.arm.source == "default_assumed" else "recorded"
        parts.append(f"arm {decision.arm.arm} ({how})")
    if decision.weight_kg is not None:
        parts.append(f"weight {number(decision.weight_kg, 2)} kg")
    return [", ".join(parts) + "."] if parts else []


def to_confirm(decision: Decision) -> list[str]:
    """A taper step with a protecting criterion unknown (decision 0019): each one, and what settles it."""
    if not decision.taper_to_confirm:
        return []
    return ["**To confirm with this step** (not in the record; accepting the step records your confirmation): "
            + "; ".join(md_text(f"{c.text}: {c.settle_by}" if c.settle_by else c.text)
                        for c in decision.taper_to_confirm) + "."]


def confirming(decision: Decision) -> str:
    """The suffix of a taper step's label and action: the prescriber confirms the unknowns (0019)."""
    return "; prescriber confirms " + ", ".join(c.text for c in decision.taper_to_confirm) \
        if decision.taper_to_confirm else ""


def md_text(text: str) -> str:
    """Free text from the core inside Markdown: no raw HTML, no accidental emphasis or links."""
    out = text
    for char in "<>[]`":
        out = out.replace(char, "\\" + char)
    return out


def join(*sections: list[str]) -> str:
    """Sections separated by a blank line; lines inside a section kept on their own line."""
    blocks = []
    for section in sections:
        if section:
            blocks.append("\n".join(_hard_breaks(section)))
    return "\n\n".join(blocks)


def _hard_breaks(lines: list[str]) -> list[str]:
    """Bold-led lines are separate paragraphs in Markdown only with a hard break; tables and lists keep theirs."""
    out = []
    for i, line in enumerate(lines):
        follows = i + 1 < len(lines) and lines[i + 1].startswith("**") and line.startswith("**")
        out.append(line + "  " if follows else line)
    return out
