"""The decision page: why this dose, as static HTML (no JavaScript, no patient name, ids only).

Rendered from the audit record's JSON (`Decision.to_dict()`), possibly weeks after the call, so it
reads dicts, not the live dataclasses. Jinja2 with autoescape: every value from the record is escaped;
only the server-made SVG chart is marked safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from cards.chart import render_chart_svg, target_band
from cards.model import PRIOR_NAMES
from cards.wording import change_words, dose_text, frequency, mg, number, percent, when
from cds_service.clinical.decision import DoseRegimen
from cds_service.clinical.errors import ProtocolDataError
from cds_service.clinical.pk.priors import Prior, load_prior
from cds_service.clinical.protocols import load_protocols

TEMPLATES = Path(__file__).resolve().parent / "templates"
ANSWER_WORDS = {"met": "met", "not_met": "not met", "unknown": "unknown"}
EXCLUSION_WORDS = {"met": "absent", "not_met": "present", "unknown": "unknown"}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(mg=mg, number=number, percent=percent, when=when, regimen=regimen_text)
    return env


def render_decision_page(
    decision_dict: Mapping[str, Any],
    *,
    created_at: dt.datetime,
    history: Iterable[Mapping[str, Any]] = (),
    expires_at: dt.datetime | None = None,
    cards: Sequence[Mapping[str, Any]] = (),
    decision_id: str | None = None,
) -> str:
    """The whole HTML page. `history`: earlier doses as `{"on": date, "daily_dose_mg": float}`, oldest first."""
    d = decision_dict
    protocol = d.get("protocol")
    band = target_band(protocol)
    return (
        _environment()
        .get_template("decision.html")
        .render(
            d=d,
            decision_id=decision_id,
            protocol=protocol,
            band=band,
            created_at=created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            expires_at=expires_at.astimezone(dt.UTC).strftime("%Y-%m-%d") if expires_at else None,
            chart=Markup(render_chart_svg(d, history)),  # noqa: S704 - built by matplotlib from numbers, not user text
            cards=[_card_row(c) for c in cards],
            proposal=_proposal(d.get("proposed_dose")),
            alternatives=[_alternative(a) for a in d.get("alternatives") or ()],
            troughs=sorted(d.get("troughs_used") or (), key=lambda t: t["drawn_on"], reverse=True),
            trace=_trace(d),
            pk_prior=_pk_prior(d),
            answer_words=ANSWER_WORDS,
            exclusion_words=EXCLUSION_WORDS,
            indicator=_indicator(d),
        )
    )


def regimen_text(value: Mapping[str, Any] | None) -> str:
    return dose_text(_regimen(value)) if value else "–"


def _regimen(value: Mapping[str, Any]) -> DoseRegimen:
    fields = dict(value)
    fields["tablet_strengths_mg"] = tuple(fields.get("tablet_strengths_mg") or ())
    return DoseRegimen(**fields)


def _proposal(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    regimen = _regimen(value["regimen"])
    per_kg = value.get("dose_mg_per_kg_day")
    return {
        "text": dose_text(regimen),
        "daily": f"{mg(value['daily_dose_mg'])}/day" + (f" ({number(per_kg)} mg/kg/day)" if per_kg is not None else ""),
        "change": percent(value["percent_change"]) if value.get("percent_change") is not None else None,
        "frequency": frequency(regimen.administrations_per_day),
        "predicted": value.get("predicted_trough_ng_ml"),
        "rule": value["rule"],
        "protocol_line": value["protocol_line"],
        "loading": value.get("loading_dose_mg"),
    }


def _alternative(value: Mapping[str, Any]) -> dict[str, Any]:
    dose = value.get("dose")
    return {
        "kind": value["kind"].replace("_", " "),
        "text": regimen_text(dose["regimen"]) if dose else "–",
        "change": percent(dose["percent_change"]) if dose and dose.get("percent_change") is not None else "",
        "note": value.get("note") or "",
    }


def _draft_check_rows(check: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The draft compared with the protocol (decision 0106), with the exposure factor's source."""
    if not check:
        return []
    verdict = str(check["verdict"]).replace("_", " ")
    departures = ", ".join(str(x).replace("_", " ") for x in check.get("departures") or ())
    rows = [("Draft compared with the protocol", verdict + (f": {departures}" if departures else ""))]
    if check.get("predicted_trough_ng_ml") is not None:
        text = f"{number(check['predicted_trough_ng_ml'], 1)} ng/mL at steady state (linear relation)"
        if check.get("exposure_factor", 1.0) != 1.0:
            factor = number(check["exposure_factor"], 2)
            text += f", x{factor} for the change of formulation: {check['exposure_source']}"
        rows.append(("Predicted trough on the draft", text))
    return rows


def _trace(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The rule trace as label/value rows, in the order a prescriber checks them."""
    rows: list[tuple[str, str]] = []
    protocol, arm = d.get("protocol"), d.get("arm")
    if protocol:
        rows.append(("Protocol", f"{protocol['title']}, version {protocol['version']} ({protocol['registration']})"))
    if arm:
        how = (
            "assumed" if arm["source"] == "default_assumed" else f"from {arm.get('source_reference') or arm['source']}"
        )
        rows.append(("Arm", f"{arm['arm']} ({how})" + (f": {arm['note']}" if arm.get("note") else "")))
        if arm.get("taper_started_on"):
            rows.append(("Taper started", when(arm["taper_started_on"])))
    if d.get("phase"):
        rows.append(("Phase", str(d["phase"]).replace("_", " ")))
    if d.get("weight_kg") is not None:
        rows.append(("Weight used", f"{number(d['weight_kg'], 2)} kg"))
    if d.get("current_dose"):
        rows.append(("Current dose", regimen_text(d["current_dose"])))
    if d.get("draft_dose"):
        rows.append(("Dose in the draft order", regimen_text(d["draft_dose"])))
    rows += _draft_check_rows(d.get("draft_check"))
    change = d.get("last_dose_change")
    if change:
        how = change_words(change["from_daily_mg"], change["to_daily_mg"])
        rows.append(("Last dose change", f"{when(change['changed_on'])}: {mg(change['from_daily_mg'])}/day → "
                     f"{mg(change['to_daily_mg'])}/day ({how})"))
    if d.get("next_trough_due"):
        late = f" (overdue since {when(d['trough_overdue_since'])})" if d.get("trough_overdue_since") else ""
        rows.append(("Next trough due", f"{when(d['next_trough_due'])}{late}, immediately before the morning dose"))
    if d.get("next_step_due"):
        rows.append(("Next taper step due", when(d["next_step_due"])))
    return rows


def _pk_prior(d: Mapping[str, Any]) -> dict[str, str] | None:
    """Whom the PK model's prior was fitted in, and whether that is this child's disease (decision 0113)."""
    model = d.get("model")
    if not model:
        return None
    prior_id = str(model["prior_id"])
    name = PRIOR_NAMES.get(prior_id, prior_id)
    try:
        prior = load_prior(prior_id)
    except ProtocolDataError:  # a prior this release no longer ships: say only its name
        return {"heading": f"PK model ({name})", "fit": "The prior's population is not known to this release."}
    return {"heading": f"PK model: prior from {prior.population} ({name})", "fit": _prior_fit(prior, d.get("protocol"))}


def _prior_fit(prior: Prior, protocol: Mapping[str, Any] | None) -> str:
    loaded = load_protocols().by_id.get(str(protocol.get("protocol_id"))) if protocol else None
    disease = loaded.disease_valueset if loaded else None
    bounds = (f"it is used for children of {number(prior.weight_range_kg[0])}–{number(prior.weight_range_kg[1])} kg "
              f"and {number(prior.age_range_years[0])}–{number(prior.age_range_years[1])} years (decision 0161)")
    if disease is None or not prior.fitted_in_diseases:
        return f"Whether it was fitted in children with this child's disease is not known; {bounds}."
    if disease in prior.fitted_in_diseases:
        return f"Fitted in children with this child's disease ({disease.upper()}); {bounds}."
    fitted = " and ".join(x.upper() for x in prior.fitted_in_diseases)
    return (f"Not fitted in {disease.upper()}: the prior's children had {fitted}, so for this child the model "
            f"extrapolates (decision 0113); {bounds}. For information only: the proposal follows the protocol's rule.")


def _indicator(d: Mapping[str, Any]) -> str:
    order = {"info": 0, "warning": 1, "critical": 2}
    return max((f["severity"] for f in d.get("findings") or ()), key=order.__getitem__, default="info")


def _card_row(card: Mapping[str, Any]) -> dict[str, str]:
    return {"indicator": str(card.get("indicator", "info")), "summary": str(card.get("summary", ""))}
