"""The card detail: GitHub Markdown that shows the rule trace in the order a prescriber checks it.

Proposal and why -> warnings -> troughs used -> last change -> what is next -> eligibility ->
protocol and arm. The decision page repeats all of it with the chart.
"""

from __future__ import annotations

from collections.abc import Iterable

from cards.wording import change_words, daily, dose_text, md_cell, mg, number, percent, when
from cds_service.clinical.decision import (
    CriterionResult,
    Decision,
    Eligibility,
    Evidence,
    Finding,
    MissingData,
    ProposedDose,
    TroughUsed,
)

ANSWER_WORDS = {"met": "✅ met", "not_met": "❌ not met", "unknown": "❓ unknown"}
# For an exclusion, "met" means the excluding condition is absent: say that, not "met".
EXCLUSION_WORDS = {"met": "✅ absent", "not_met": "❌ present", "unknown": "❓ unknown"}
SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "⛔"}


def proposal(proposed: ProposedDose, *, label: str = "Proposed") -> list[str]:
    lines = [f"**{label}:** {dose_text(proposed.regimen)}: {daily(proposed)}"]
    if proposed.percent_change is not None:
        lines[0] += f", {percent(proposed.percent_change)} vs the current dose"
    lines[0] += "."
    lines.append(f"**Rule:** {proposed.rule.replace('_', ' ')}: “{md_text(proposed.protocol_line)}”")
    if proposed.predicted_trough_ng_ml is not None:
        lines.append(
            f"**Predicted trough:** {number(proposed.predicted_trough_ng_ml, 1)} ng/mL "
            "(linear dose–level relation, at steady state)."
        )
    if proposed.loading_dose_mg is not None:
        lines.append(f"**Loading dose, if used:** {mg(proposed.loading_dose_mg)} once (not included in the order).")
    return lines


def findings(items: Iterable[Finding]) -> list[str]:
    lines = []
    for finding in items:
        text = f"- {SEVERITY_MARK[finding.severity]} **{finding.severity}:** {md_text(finding.message)}"
        evidence = "; ".join(evidence_text(e) for e in finding.evidence)
        lines.append(text + (f" ({evidence})" if evidence else ""))
    return lines


def troughs(items: Iterable[TroughUsed]) -> list[str]:
    rows = list(items)
    if not rows:
        return ["**Troughs:** none on record."]
    lines = ["| Trough | Drawn | Used | Observation |", "|---|---|---|---|"]
    for trough in sorted(rows, key=lambda t: t.drawn_on, reverse=True):
        lines.append(
            f"| {md_cell(trough_value(trough))} | {when(trough.drawn_on)} | "
            f"{md_cell('yes' if trough.usable else 'no: ' + '; '.join(trough.reasons_unusable))} | "
            f"{md_cell(trough.observation_id)} |"
        )
    return lines


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
    lines = []
    if decision.last_dose_change is not None:
        change = decision.last_dose_change
        how = change_words(change.from_daily_mg, change.to_daily_mg)
        lines.append(
            f"**Last dose change:** {when(change.changed_on)}, {mg(change.from_daily_mg)}/day → "
            f"{mg(change.to_daily_mg)}/day ({how})."
        )
    if decision.current_dose is not None:
        lines.append(
            f"**Current dose:** {dose_text(decision.current_dose)} ({mg(decision.current_dose.daily_dose_mg)}/day)."
        )
    if decision.next_trough_due is not None:
        lines.append(
            f"**Next trough due:** {when(decision.next_trough_due)}, drawn immediately before the morning dose."
        )
    if decision.next_step_due is not None:
        lines.append(f"**Next taper step due:** {when(decision.next_step_due)}.")
    return lines


def eligibility(items: Iterable[Eligibility]) -> list[str]:
    lines: list[str] = []
    for result in items:
        lines.append(f"**Eligibility, {result.protocol_id}: {ANSWER_WORDS[result.answer]}**")
        lines.append("")
        lines += ["| Criterion | Answer | Evidence |", "|---|---|---|"]
        lines += [
            f"| {md_cell(c.text)} | {answer_text(c)} | {md_cell(criterion_evidence(c))} |" for c in result.criteria
        ]
        lines.append("")
    return lines


def answer_text(criterion: CriterionResult) -> str:
    words = EXCLUSION_WORDS if criterion.kind == "exclusion" else ANSWER_WORDS
    return words[criterion.answer]


def criterion_evidence(criterion: CriterionResult) -> str:
    parts = [evidence_text(e) for e in criterion.evidence]
    if criterion.answer == "unknown" and criterion.settle_by:
        parts.append(f"to settle: {criterion.settle_by}")
    return "; ".join(parts) or "none in the record"


def evidence_text(evidence: Evidence) -> str:
    parts = []
    if evidence.value is not None:
        value = number(evidence.value, 2) if isinstance(evidence.value, float | int) else str(evidence.value)
        parts.append(f"{value} {evidence.unit}" if evidence.unit else value)
    if evidence.on is not None:
        parts.append(f"on {when(evidence.on)}")
    if evidence.resource:
        parts.append(f"({evidence.resource})")
    if evidence.note:
        parts.append(evidence.note)
    return " ".join(parts) or "nothing recorded"


def missing(items: Iterable[MissingData]) -> list[str]:
    return [
        f"- **Missing:** {md_text(item.what)}."
        + (f" **To order or record:** {md_text(item.order)}." if item.order else "")
        for item in items
    ]


def protocol_lines(decision: Decision) -> list[str]:
    lines = []
    if decision.protocol is not None:
        p = decision.protocol
        lines.append(f"**Protocol:** {md_text(p.title)}, version {p.version} ({p.registration}).")
    if decision.arm is not None:
        arm = decision.arm
        how = {"careplan": "from", "research_subject": "from", "default_assumed": "assumed"}[arm.source]
        known = f"{how} {arm.source_reference}" if arm.source_reference else how
        lines.append(f"**Arm:** {arm.arm} ({known}){': ' + md_text(arm.note) if arm.note else ''}.")
        if arm.taper_started_on is not None:
            lines.append(f"**Taper started:** {when(arm.taper_started_on)}.")
    if decision.weight_kg is not None:
        lines.append(f"**Weight used:** {number(decision.weight_kg, 2)} kg.")
    return lines


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
