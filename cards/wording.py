"""How doses, dates and changes are written on cards and the decision page.

Wording only: every number here was already computed and rounded by the clinical core; this module
formats it. Conventions follow ISMP's list of error-prone abbreviations: a leading zero always
("0.5 mg", never ".5 mg"), never a trailing zero ("1 mg", never "1.0 mg", which reads as 10 mg),
and a liquid dose always in both mg and mL (the 10-fold overdose from a 1 mL vs 0.1 mL mix-up,
clinical-protocol.md section 2).
"""

from __future__ import annotations

from datetime import date

from cds_service.clinical.decision import DoseRegimen, ProposedDose
from cds_service.clinical.pharmacology import load_pharmacology
from cds_service.clinical.protocols import IHHE_SEQUENTIAL, KHE_GUIDED, KHE_MAINTENANCE
from cds_service.clinical.rules.dosing import not_bioequivalent

MINUS = "\u2212"  # a real minus sign: "−10 %" cannot be misread as a hyphenated range
SUMMARY_MAX = 139  # CDS Hooks: summary "<140 characters"

PROTOCOL_SHORT_NAMES = {
    KHE_GUIDED: "KHE taper",
    KHE_MAINTENANCE: "KHE maintenance",
    IHHE_SEQUENTIAL: "IHHE sirolimus",
}

# Read after the protocol's short name: "KHE taper step: ...", "IHHE sirolimus start: ...". The taper's
# smaller step ("5 % step") is worded from the protocol data (cards.common.smaller_step).
RULE_WORDS = {
    "taper_step_rule_1": "step",
    "taper_step_rule_1_as_solution": "step",
    "relapse_return_to_effective_dose": "return to effective dose",
    "ihhe_starting_dose": "start",
    "linear_adjustment_to_target": "level-guided change",
    "linear_adjustment_to_target_as_solution": "level-guided change",
    "within_target_keep_dose": "in target, no change",
    "keep_current_dose": "no change",
}

# The rule's name on a card's "Rule:" line; the protocol line quoted after it carries the step size of
# the protocol data (the rule ids name the protocol's rule, never a size a site may change).
RULE_NAMES = {
    "taper_step_rule_1": "taper step",
    "taper_step_rule_1_as_solution": "taper step as oral solution",
    "taper_step_rule_8": "smaller taper step",
    "taper_step_rule_8_as_solution": "smaller taper step as oral solution",
}

_TABLET_COUNT_WORDS = {0.5: "half", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def number(value: float, places: int = 3) -> str:
    """`0.72`, `1`, `0.5`: rounded for display, no trailing zero, always a leading zero."""
    text = f"{round(value, places):.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def mg(value: float) -> str:
    return f"{number(value)} mg"


def percent(value: float) -> str:
    """`−10 %`, `+5 %`, `0 %` (whole percent unless the step is finer)."""
    shown = number(abs(value), 0 if abs(value - round(value)) < 0.05 else 1)
    if shown == "0":
        return "0 %"
    return f"{MINUS if value < 0 else '+'}{shown} %"


def frequency(administrations_per_day: float) -> str:
    """`twice daily`; fractional rates read as an interval (`every 2 days`)."""
    words = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}
    if administrations_per_day in words:
        return words[int(administrations_per_day)]
    if 0 < administrations_per_day < 1:
        return f"every {number(1 / administrations_per_day, 1)} days"
    return f"{number(administrations_per_day)} times daily"


def when(day: date | str | None) -> str:
    """ISO dates everywhere: unambiguous across locales (2026-12-06, not 06/12)."""
    if day is None:
        return "not set"
    return day.isoformat() if isinstance(day, date) else str(day)


def tablets(regimen: DoseRegimen) -> str:
    """`two 0.5 mg tablets`, or the mix (`one 1 mg + one 0.5 mg tablet`)."""
    strengths = regimen.tablet_strengths_mg
    if len(set(strengths)) > 1:
        counts: dict[float, int] = {}
        for strength in strengths:
            counts[strength] = counts.get(strength, 0) + 1
        parts = [f"{_TABLET_COUNT_WORDS.get(n, str(n))} {mg(s)}" for s, n in sorted(counts.items(), reverse=True)]
        return " + ".join(parts) + " tablet" + ("s" if len(strengths) > 2 else "")
    count = regimen.tablets_per_administration
    if count is None:
        count = regimen.mg_per_administration / regimen.strength_mg
    count_word = _TABLET_COUNT_WORDS.get(count, number(count))
    return f"{count_word} {mg(regimen.strength_mg)} tablet{'s' if count != 1 else ''}"


def dose_short(regimen: DoseRegimen) -> str:
    """For summaries and labels: `0.72 mg (0.72 mL) twice daily`, `1 mg (two 0.5 mg tablets) twice daily`."""
    return f"{mg(regimen.mg_per_administration)} ({_amount(regimen)}) {frequency(regimen.administrations_per_day)}"


def dose_ml_first(regimen: DoseRegimen) -> str:
    """For the oral solution, the volume first, as it is drawn up: `0.47 mL (0.47 mg) twice daily`."""
    return f"{_ml(regimen)} ({mg(regimen.mg_per_administration)}) {frequency(regimen.administrations_per_day)}"


def dose_text(regimen: DoseRegimen) -> str:
    """The Dosage.text: `0.72 mg (0.72 mL of 1 mg/mL oral solution) by mouth twice daily`."""
    if regimen.formulation == "solution":
        amount = f"{_ml(regimen)} of {number(regimen.strength_mg)} mg/mL oral solution"
    else:
        amount = tablets(regimen)
    return f"{mg(regimen.mg_per_administration)} ({amount}) by mouth {frequency(regimen.administrations_per_day)}"


def daily(proposed: ProposedDose) -> str:
    """`1.44 mg/day (0.07 mg/kg/day)`."""
    text = f"{mg(proposed.daily_dose_mg)}/day"
    if proposed.dose_mg_per_kg_day is not None:
        text += f" ({number(proposed.dose_mg_per_kg_day)} mg/kg/day)"
    return text


def protocol_short(protocol_id: str | None, title: str | None = None) -> str:
    if protocol_id in PROTOCOL_SHORT_NAMES:
        return PROTOCOL_SHORT_NAMES[protocol_id]
    return title or "Sirolimus"


def rule_name(rule: str) -> str:
    return RULE_NAMES.get(rule, rule.replace("_", " "))


def rule_words(rule: str) -> str:
    return RULE_WORDS.get(rule, rule.replace("_", " "))


def fit(*candidates: str) -> str:
    """The first candidate that fits a card summary; else the last, cut at a word with an ellipsis."""
    for candidate in candidates:
        if len(candidate) <= SUMMARY_MAX:
            return candidate
    cut = candidates[-1][: SUMMARY_MAX - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "\u2026"


def _ml(regimen: DoseRegimen) -> str:
    ml = regimen.ml_per_administration
    if ml is None:
        ml = regimen.mg_per_administration / regimen.strength_mg
    return f"{number(ml)} mL"


def _amount(regimen: DoseRegimen) -> str:
    return _ml(regimen) if regimen.formulation == "solution" else tablets(regimen)


def change_words(from_daily_mg: float, to_daily_mg: float) -> str:
    """How a dose change reads: "started", "same daily dose, new product or frequency", or "−10 %"."""
    if from_daily_mg <= 0:
        return "started"
    if abs(to_daily_mg - from_daily_mg) < 1e-9:
        return "same daily dose, new product or frequency"
    return percent(100.0 * (to_daily_mg - from_daily_mg) / from_daily_mg)


def not_bioequivalent_sentence() -> str:
    """clinical-protocol.md 2 as the cards say it, its figure from the pharmacology data (decision 0023)."""
    return not_bioequivalent(load_pharmacology().tablet_exposure_vs_solution)
