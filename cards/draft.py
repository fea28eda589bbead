"""How a card says what the drafted order does (issue #10): reads the core's typed DraftCheck only."""
from __future__ import annotations

from cards.common import stabilisation
from cards.wording import number, percent
from cds_service.clinical.rules.draft_check import Departure, DraftCheck, DraftVerdict

NEEDS_TROUGH = {Departure.TROUGH_ABOVE_TARGET, Departure.TROUGH_BELOW_TARGET}
DEPARTURE_WORDS = {  # clinical words for each departure (the numbers are added from the check)
    Departure.STEP_OVER_CAP: "cuts more than the taper allows",
    Departure.STEP_TOO_SOON: "changes the dose too soon after the last change",
    Departure.REDUCTION_DURING_STABILISATION: "reduces during the {stabilisation} stabilisation",
    Departure.INCREASE_DURING_TAPER: "raises the dose during the taper without a relapse",
    Departure.INCREASE_BEYOND_LINEAR: "raises the dose more than the level asks",
    Departure.NO_RETURN_AFTER_RELAPSE: "stays below the previously effective dose after a relapse sign (rule 7)",
}


def target(check: DraftCheck) -> str:
    if check.target_low_ng_ml is None or check.target_high_ng_ml is None:
        return ""
    return f"{number(check.target_low_ng_ml, 1)}\u2013{number(check.target_high_ng_ml, 1)}"


def predicted(check: DraftCheck) -> str:
    return "" if check.predicted_trough_ng_ml is None else f"\u2248 {number(check.predicted_trough_ng_ml, 1)} ng/mL"


def problem(check: DraftCheck) -> str:
    """The first departure, in clinical words with its numbers."""
    first = check.departures[0]
    if first in NEEDS_TROUGH:
        side = "above" if first is Departure.TROUGH_ABOVE_TARGET else "below"
        return f"predicted trough {predicted(check)}, {side} {target(check)}"
    if first is Departure.START_OFF_WEIGHT_DOSE:
        per_kg, start = check.draft_mg_per_kg_day or 0.0, check.protocol_start_mg_per_kg_day or 0.0
        times = f"{round(per_kg / start, 1):g}\u00d7 the" if start else "not the"  # 2x / 0.5x: says it is off
        return f"{number(per_kg)} mg/kg/day, {times} protocol start ({number(start)} mg/kg/day)"
    words = departure_words(first)
    trough = predicted(check)
    return f"{words}; predicted trough {trough}" if trough else words


def drafted(check: DraftCheck) -> str:
    """`Draft 2 mg/day (+100 %)`."""
    change = f" ({percent(check.change_percent)})" if check.change_percent else ""
    amount = number(check.draft_daily_mg) if check.draft_daily_mg < 1e6 else "an implausible"
    return f"Draft {amount} mg/day{change}"


def summary(check: DraftCheck, protocol_dose: str | None) -> str:
    """The warning's summary (DEPARTS): the draft, its problem, the protocol's dose."""
    lead = f"{drafted(check)}: {problem(check)}"
    return f"{lead}. Protocol: {protocol_dose}" if protocol_dose else lead


def line(check: DraftCheck) -> str:
    """One detail line: the draft, its change, its predicted trough, and the verdict."""
    parts = [f"**{drafted(check)}**"]
    if check.predicted_trough_ng_ml is not None:
        trough = f"predicted trough {predicted(check)}"
        if target(check):
            trough += f" (target {target(check)})"
        if check.exposure_factor != 1.0:
            # the source (protocol data) is on the decision page; the card states the factor it applied
            trough += f", \u00d7{number(check.exposure_factor, 2)} for the change of formulation (not bioequivalent)"
        parts.append(trough)
    verdict = {
        DraftVerdict.FOLLOWS: "follows the protocol",
        DraftVerdict.DEPARTS: "departs from the protocol: " + "; ".join(
            problem_of(check, d) for d in check.departures),
        DraftVerdict.DANGEROUS: "dangerous, see the warning",
        DraftVerdict.NOT_COMPARABLE: "cannot be compared with the protocol yet",
    }[check.verdict]
    return ", ".join(parts) + f": {verdict}."


def problem_of(check: DraftCheck, departure: Departure) -> str:
    if departure in NEEDS_TROUGH:
        return f"{'above' if departure is Departure.TROUGH_ABOVE_TARGET else 'below'} the target"
    if departure is Departure.START_OFF_WEIGHT_DOSE:
        return f"the protocol starts at {number(check.protocol_start_mg_per_kg_day or 0.0)} mg/kg/day"
    return departure_words(departure)


def departure_words(departure: Departure) -> str:
    return DEPARTURE_WORDS[departure].format(stabilisation=stabilisation())
