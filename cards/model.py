"""One card line with the PK model's predicted trough (80 % interval) next to the linear rule (issue #16).

The model informs, the protocol bounds: the line never changes the proposal. When the model cannot be
used the line says why and the linear rule stands alone.
"""
from __future__ import annotations

from cards.wording import frequency, mg, number
from cds_service.clinical.decision import Decision
from cds_service.clinical.errors import ProtocolDataError
from cds_service.clinical.pk.fit import Prediction
from cds_service.clinical.pk.informed import ModelDose
from cds_service.clinical.pk.priors import load_prior
from cds_service.clinical.protocols import load_protocols

PRIOR_NAMES = {"chen-2020-khe": "Chen 2020", "fan-2024": "Fan 2024"}


def predicted(p: Prediction) -> str:
    return (f"predicted trough {number(p.median_ng_ml, 1)} ng/mL "
            f"(80 %: {number(p.low_ng_ml, 1)}\u2013{number(p.high_ng_ml, 1)})")


def not_fitted_in(prior_id: str, protocol_id: str | None) -> str | None:
    """"fitted in KHE, not IHHE" when the prior's children had other diseases than the deciding protocol's
    (decision 0113: the model extrapolates); None when fitted in it, or when either is not known."""
    loaded = load_protocols().by_id.get(protocol_id) if protocol_id else None
    try:
        fitted_in = load_prior(prior_id).fitted_in_diseases
    except ProtocolDataError:  # a prior this release no longer ships
        return None
    disease = loaded.disease_valueset if loaded else None
    if disease is None or not fitted_in or disease in fitted_in:
        return None
    return f"fitted in {' and '.join(x.upper() for x in fitted_in)}, not {disease.upper()}"


def _disagrees(p: Prediction, linear: float | None) -> bool:
    return linear is not None and not p.low_ng_ml <= linear <= p.high_ng_ml


def model_dose_line(dose: ModelDose, caveat: str | None = None) -> str:
    """The model's own dose for the middle of the range, what held it back, and that it is not proposed (short:
    the card's detail has a budget; the decision page gives its predicted trough and interval). `caveat`:
    whom the prior was not fitted in, when no line above said it."""
    whom = f" ({caveat})" if caveat else ""
    text = (f"**PK model's dose**{whom} for {number(dose.aim_ng_ml, 1)} ng/mL: "
            f"{mg(dose.regimen.mg_per_administration)} {frequency(dose.regimen.administrations_per_day)}")
    if dose.held_by:
        text += f", held by the protocol's {' and '.join(dose.held_by)} (model alone {mg(dose.unbounded_daily_mg)}/day)"
    return text + "; not proposed."


def lines(decision: Decision, *, with_proposal: bool = True) -> list[str]:
    view = decision.model
    if view is None:
        return []
    if view.unusable_reason:
        return [f"**PK model:** not used ({view.unusable_reason}); linear rule alone."]
    name = PRIOR_NAMES.get(view.prior_id, view.prior_id)
    caveat = not_fitted_in(view.prior_id, decision.protocol.protocol_id if decision.protocol else None)
    parts = []
    linear_p = decision.proposed_dose.predicted_trough_ng_ml if decision.proposed_dose else None
    if with_proposal and view.proposal is not None:
        parts.append(f"protocol dose {predicted(view.proposal)}")
    linear_d = decision.draft_check.predicted_trough_ng_ml if decision.draft_check else None
    if view.draft is not None and view.draft != view.proposal:
        parts.append(f"draft {predicted(view.draft)}")
    if not parts:
        return [] if view.dose is None else [model_dose_line(view.dose, caveat)]
    dose_line = [] if view.dose is None else [model_dose_line(view.dose)]
    prior = f"{name}, {caveat};" if caveat else f"{name},"
    out = [f"**PK model ({prior} {view.troughs_used} trough{'s' if view.troughs_used != 1 else ''}):** "
           + "; ".join(parts) + "."]
    if (with_proposal and view.proposal is not None and _disagrees(view.proposal, linear_p)) or (
            view.draft is not None and _disagrees(view.draft, linear_d)):
        out.append("Model and linear rule disagree by more than the interval: recheck the trough early.")
    return out + dose_line
