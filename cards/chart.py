"""The decision page's chart: daily dose and trough over time, as an SVG rendered on the server.

Left axis: dose in mg/day (a step line; solid = given, from the first dose on; dashed = proposed and
projected taper). Bottom axis: the date.
Right axis: trough in ng/mL (filled dots = used, crosses = not usable, hollow = predicted), with the
protocol's target band shaded. Vertical lines: past dose changes (solid), projected steps (dotted),
and the day of the decision. Works from the Decision's JSON form (`Decision.to_dict()`), because the
page is rendered later from the audit record.

matplotlib's object API (`Figure`, no pyplot): no global state, safe in a threaded server. Text is
drawn as paths, so the chart looks the same with no fonts installed on the client.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import matplotlib
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from cds_service.clinical.protocols import load_protocols

DOSE_COLOUR = "#1f4e9a"
TROUGH_COLOUR = "#b3461d"
BAND_COLOUR = "#2e8b57"


def target_band(protocol: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """The protocol's target trough (ng/mL) from the protocol data the service decides with; None when the
    protocol sets none (the taper), is not one of ours, or is another version than the decision's."""
    loaded = load_protocols().by_id.get(str(protocol.get("protocol_id"))) if protocol else None
    if loaded is None or protocol is None or loaded.ref.version != protocol.get("version"):
        return None
    if loaded.target_low_ng_ml is None or loaded.target_high_ng_ml is None:
        return None
    return loaded.target_low_ng_ml, loaded.target_high_ng_ml


def dose_series(decision: Mapping[str, Any], history: Iterable[Mapping[str, Any]] = ()) -> dict[str, list]:
    """(date, mg/day) points: `past` as given, `projected` from the decision day on; `changes` = past change days."""
    decided = _day(decision["decided_on"])
    past: dict[date, float] = {}
    for point in history:
        past[_day(point["on"])] = float(point["daily_dose_mg"])
    change = decision.get("last_dose_change")
    changes = sorted(past)
    if change:
        on = _day(change["changed_on"])
        if float(change["from_daily_mg"]) > 0 or any(day < on for day in past):  # a start: nothing given before
            past.setdefault(on - timedelta(days=28), float(change["from_daily_mg"]))
        past[on] = float(change["to_daily_mg"])
        changes.append(on)
    current = decision.get("current_dose")
    if current:
        daily = float(current["mg_per_administration"]) * float(current["administrations_per_day"])
        if not past:
            past[decided - timedelta(days=28)] = daily
        past[decided] = daily
    projected: list[tuple[date, float]] = []
    proposal = decision.get("proposed_dose")
    if proposal:
        projected.append((decided, float(proposal["daily_dose_mg"])))
    for step in decision.get("schedule") or ():
        projected.append((_day(step["due_on"]), float(step["daily_dose_mg"])))
    return {"past": sorted(past.items()), "projected": sorted(projected), "changes": sorted(set(changes))}


def render_chart_svg(decision: Mapping[str, Any], history: Iterable[Mapping[str, Any]] = ()) -> str:
    """An inline-ready `<svg>` element (no XML prolog), scaled to its container's width."""
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "sirolimus-cds", "font.size": 9}):
        figure = chart_figure(decision, history)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return _inline(buffer.getvalue())


def chart_figure(decision: Mapping[str, Any], history: Iterable[Mapping[str, Any]] = ()) -> Figure:
    """The decision page's chart as a matplotlib Figure (the page writes it as SVG, `plan --chart` as PNG)."""
    series = dose_series(decision, history)
    decided = _day(decision["decided_on"])
    levels = {t["observation_id"]: t for t in [*(decision.get("trough_history") or ()),
                                                *(decision.get("troughs_used") or ())]}.values()
    troughs = [t for t in levels if t.get("value_ng_ml") is not None]
    unusable = [t for t in levels if t.get("value_ng_ml") is None]

    with matplotlib.rc_context({"font.size": 9}):
        figure = Figure(figsize=(9, 3.8), dpi=100)
        dose_axis = figure.add_subplot()
        trough_axis = dose_axis.twinx()
        _draw_band(trough_axis, target_band(decision.get("protocol")))
        _draw_dose(dose_axis, series, decided)
        _draw_troughs(trough_axis, troughs, decision)
        # A level with no usable value (no unit) is shown where it was drawn, on the time axis, as a cross.
        trough_axis.plot(
            [_day(t["drawn_on"]) for t in unusable],
            [0.03] * len(unusable),
            "x",
            color=TROUGH_COLOUR,
            ms=7,
            mew=2,
            transform=trough_axis.get_xaxis_transform(),
            clip_on=False,
        )
        dose_axis.axvline(decided, color="#444", lw=1)
        dose_axis.annotate(
            "decision",
            (decided, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            color="#444",
            fontsize=8,
        )
        dose_axis.set_xlabel("Date", gid="date-axis-label")
        dose_axis.set_ylabel("Sirolimus dose, mg/day", color=DOSE_COLOUR)
        trough_axis.set_ylabel("Trough, ng/mL", color=TROUGH_COLOUR)
        dose_axis.set_ylim(bottom=0, top=_top(v for _, v in series["past"] + series["projected"]))
        trough_axis.set_ylim(bottom=0, top=_top([t["value_ng_ml"] for t in troughs] + _band_top(decision)))
        dose_axis.grid(axis="y", color="#ddd", lw=0.6)
        dose_axis.spines[["top"]].set_visible(False)
        trough_axis.spines[["top"]].set_visible(False)
        locator = AutoDateLocator(minticks=4, maxticks=9)
        dose_axis.xaxis.set_major_locator(locator)
        dose_axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        dose_axis.legend(
            handles=_legend(decision), loc="upper center", bbox_to_anchor=(0.5, -0.17), ncol=4, frameon=False,
            fontsize=8,
        )
        figure.tight_layout()
    return figure


def _draw_band(axis: Any, band: tuple[float, float] | None) -> None:
    if band is not None:
        axis.axhspan(band[0], band[1], color=BAND_COLOUR, alpha=0.15, lw=0)


def _draw_dose(axis: Any, series: dict[str, list], decided: date) -> None:
    past, projected = series["past"], series["projected"]
    if past:
        axis.step([d for d, _ in past], [v for _, v in past], where="post", color=DOSE_COLOUR, lw=2, gid="dose-given")
    if projected:
        start = [past[-1]] if past else []
        points = start + projected
        axis.step([d for d, _ in points], [v for _, v in points], where="post", color=DOSE_COLOUR, lw=2, ls="--")
        axis.plot(
            [projected[-1][0], projected[-1][0] + timedelta(days=14)],
            [projected[-1][1]] * 2,
            color=DOSE_COLOUR,
            lw=2,
            ls="--",
        )
    for day in series["changes"]:
        axis.axvline(day, color=DOSE_COLOUR, lw=0.8, alpha=0.6, gid=f"dose-change-{day.isoformat()}")
    for day, _ in projected:
        if day > decided:
            axis.axvline(day, color=DOSE_COLOUR, lw=0.8, ls=":", alpha=0.8)


def _draw_troughs(axis: Any, troughs: list[Mapping[str, Any]], decision: Mapping[str, Any]) -> None:
    used = [t for t in troughs if t.get("usable")]
    not_used = [t for t in troughs if not t.get("usable")]
    axis.plot([_day(t["drawn_on"]) for t in used], [t["value_ng_ml"] for t in used], "o", color=TROUGH_COLOUR, ms=6)
    axis.plot(
        [_day(t["drawn_on"]) for t in not_used],
        [t["value_ng_ml"] for t in not_used],
        "x",
        color=TROUGH_COLOUR,
        ms=7,
        mew=2,
    )
    for t in troughs:
        axis.annotate(
            f"{t['value_ng_ml']:g}",
            (_day(t["drawn_on"]), t["value_ng_ml"]),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            color=TROUGH_COLOUR,
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
        )
    predicted = []
    proposal = decision.get("proposed_dose")
    if proposal and proposal.get("predicted_trough_ng_ml") is not None and decision.get("next_trough_due"):
        predicted.append((_day(decision["next_trough_due"]), float(proposal["predicted_trough_ng_ml"])))
    for step in decision.get("schedule") or ():
        if step.get("predicted_trough_ng_ml") is not None:
            predicted.append((_day(step["trough_due_on"]), float(step["predicted_trough_ng_ml"])))
    axis.plot([d for d, _ in predicted], [v for _, v in predicted], "o", mfc="white", mec=TROUGH_COLOUR, mew=1.5, ms=6)
    curve = (decision.get("model") or {}).get("curve") or ()
    if curve:  # the PK model fitted to the used levels (issue #16)
        axis.plot([_day(d) for d, _ in curve], [v for _, v in curve], "-", color=TROUGH_COLOUR, lw=1, alpha=0.6)


def _legend(decision: Mapping[str, Any]) -> list[Any]:
    handles = [
        Line2D([], [], color=DOSE_COLOUR, lw=2, label="dose given"),
        Line2D([], [], color=DOSE_COLOUR, lw=2, ls="--", label="proposed / projected dose"),
        Line2D([], [], color=TROUGH_COLOUR, marker="o", ls="", label="trough"),
        Line2D([], [], color=TROUGH_COLOUR, marker="o", mfc="white", ls="", label="predicted trough"),
    ]
    if (decision.get("model") or {}).get("curve"):
        handles.append(Line2D([], [], color=TROUGH_COLOUR, lw=1, alpha=0.6, label="PK model, fitted trough"))
    band = target_band(decision.get("protocol"))
    if band is not None:
        handles.append(Patch(color=BAND_COLOUR, alpha=0.15, label=f"target {band[0]:g}–{band[1]:g} ng/mL"))
    if any(not t.get("usable") for t in decision.get("troughs_used") or ()):
        handles.append(Line2D([], [], color=TROUGH_COLOUR, marker="x", ls="", mew=2, label="trough not usable"))
    return handles


def _band_top(decision: Mapping[str, Any]) -> list[float]:
    band = target_band(decision.get("protocol"))
    return [band[1]] if band else []


def _top(values: Iterable[float]) -> float:
    highest = max(values, default=0.0)
    return highest * 1.25 if highest > 0 else 1.0


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value[:10])


def _inline(svg: str) -> str:
    """Drop the XML prolog and DOCTYPE; make the root scale to the page and describe itself."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(
        r'^<svg([^>]*?) width="[^"]*" height="[^"]*"',
        r'<svg\1 width="100%" preserveAspectRatio="xMidYMid meet"',
        svg,
        count=1,
    )
    return svg.replace(
        "<svg",
        '<svg role="img" aria-label="Sirolimus dose (mg/day) and trough levels (ng/mL) over time" class="chart"',
        1,
    )
