"""`sirolimus-cds plan`: the projected taper schedule of one patient, as a table and a chart.

    plan --fhir-server URL --patient ID [--out plan.png|plan.svg] [--json]

It reads the patient's record the way the service does (the service's prefetch templates, fetched
with the service's FHIR client), runs the monitoring decision of the clinical core in-process, and
prints the Decision's `schedule`: each projected step's date, daily dose, dose per administration in
mg and mL, the predicted trough and the day that trough is due. Nothing is computed here: the steps,
their spacing and their size come from the core's taper rules (protocol data file, rules 1-5). A
patient who is not tapering gets a sentence naming their phase and no table.

The chart is the decision page's own (`cards.chart`): `--out x.svg` writes exactly that SVG,
`--out x.png` the same drawing rasterised by matplotlib (Agg).
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from cds_service.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    FhirReader,
    Progress,
    ToolkitError,
    today,
    token_from,
)
from cds_service.clinical.decision import Decision, Phase, ScheduleStep
from cds_service.clinical.protocols import IHHE_SEQUENTIAL, KHE_GUIDED, KHE_MAINTENANCE, load_protocols, period, share

CHART_SUFFIXES = (".png", ".svg")
TAPER_PHASES = {Phase.TAPERING, Phase.TAPERING_AFTER_RELAPSE, Phase.READY_TO_STOP}


def phase_words(phase: Phase) -> str:
    """Where the child is in the protocol, with the target range or step size of the protocol data."""
    protocols = load_protocols()

    def target(protocol_id: str) -> str:
        p = protocols[protocol_id]
        return f"trough target {p.target_low_ng_ml:g}-{p.target_high_ng_ml:g} ng/mL"

    taper = protocols[KHE_GUIDED].taper
    step = share(taper.max_reduction_fraction) if taper else "small"
    after = share(taper.after_relapse_max_reduction_fraction) if taper else "smaller"
    stabilisation = period(taper.stabilisation_days, adjective=True) if taper else "post-relapse"
    words = {
        Phase.SEQUENTIAL: f"on IHHE sequential sirolimus ({target(IHHE_SEQUENTIAL)})",
        Phase.MAINTENANCE: f"on KHE maintenance ({target(KHE_MAINTENANCE)})",
        Phase.TAPERING: f"in the KHE guided discontinuation ({step} steps)",
        Phase.RETURNED_AFTER_RELAPSE: "back on the previously effective dose after a possible relapse",
        Phase.STABILISING: f"in the {stabilisation} stabilisation after a relapse",
        Phase.TAPERING_AFTER_RELAPSE: f"in the KHE guided discontinuation, {after} steps after a relapse",
        Phase.READY_TO_STOP: "at the end of the KHE guided discontinuation (the stop rule is met)",
        Phase.STOPPED: "off sirolimus after the taper",
    }
    return words.get(phase, phase.value)


def decide(reader: FhirReader, patient_id: str) -> Decision:
    """The monitoring Decision for the patient, as the service would make it today: the same prefetch,
    the same patient check and the same decision as a patient-view call (pipeline.py)."""
    from cds_service.clinical.reading.record import build_record
    from cds_service.errors import PreconditionFailed
    from cds_service.service import pipeline
    from cds_service.service.services import MONITORING, services

    service = services()[MONITORING]
    gathered = reader.record_data(patient_id, dict(service.prefetch))
    try:
        patient = pipeline.patient_of(gathered, patient_id)
    except PreconditionFailed as exc:
        raise ToolkitError(f"Patient/{patient_id} on {reader.base_url}: {exc.message}") from None
    on = today()
    record = build_record(patient, gathered.resources, on)
    reader.progress("deciding in-process (clinical core, monitoring)")
    return pipeline.decide(service, record, None, on)


def _number(value: float | None, places: int = 2) -> str:
    if value is None:
        return "-"
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def schedule_rows(schedule: tuple[ScheduleStep, ...]) -> list[dict[str, Any]]:
    """One plain row per step (what the table and --json show)."""
    rows = []
    for index, step in enumerate(schedule, start=1):
        per_day = (round(step.daily_dose_mg / step.mg_per_administration, 2)
                   if step.mg_per_administration else None)
        rows.append({
            "step": index,
            "due_on": step.due_on.isoformat(),
            "daily_dose_mg": step.daily_dose_mg,
            "mg_per_administration": step.mg_per_administration,
            "ml_per_administration": step.ml_per_administration,
            "administrations_per_day": per_day,
            "predicted_trough_ng_ml": step.predicted_trough_ng_ml,
            "trough_due_on": step.trough_due_on.isoformat(),
            "note": step.note,
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ["#", "due", "mg/day", "mg/dose", "mL/dose", "doses/day", "pred. trough ng/mL", "trough on", "note"]
    body = [[str(r["step"]), r["due_on"], _number(r["daily_dose_mg"]), _number(r["mg_per_administration"]),
             _number(r["ml_per_administration"]), _number(r["administrations_per_day"], 0),
             _number(r["predicted_trough_ng_ml"], 1), r["trough_due_on"], r["note"]] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    numeric = {2, 3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in
                         enumerate(zip(cells, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(cells) for cells in body)]) + "\n"


def describe(decision: Decision) -> list[str]:
    """Who, which protocol, where in it, what is given now."""
    lines = [f"Patient/{decision.patient_id}, decided {decision.decided_on.isoformat()}"]
    if decision.protocol is not None:
        lines.append(f"Protocol: {decision.protocol.title} v{decision.protocol.version}")
    if decision.phase is not None:
        lines.append(f"Phase: {decision.phase.value} ({phase_words(decision.phase)})")
    if decision.arm is not None and decision.arm.taper_started_on is not None:
        lines.append(f"Taper started: {decision.arm.taper_started_on.isoformat()}")
    if decision.current_dose is not None:
        c = decision.current_dose
        ml = f" ({_number(c.ml_per_administration)} mL)" if c.ml_per_administration is not None else ""
        times = _number(c.administrations_per_day, 0)
        lines.append(f"Current dose: {_number(c.mg_per_administration)} mg{ml} x {times}/day"
                     f" = {_number(c.daily_dose_mg)} mg/day ({c.formulation})")
    if decision.next_trough_due is not None:
        late = decision.trough_overdue_since
        lines.append(f"Next trough due: {decision.next_trough_due.isoformat()}"
                     + (f" (overdue since {late.isoformat()})" if late else ""))
    return lines


def write_chart(decision: Decision, path: Path) -> None:
    """The decision page's chart, as SVG (verbatim) or PNG (the same drawing through Agg)."""
    from cards import chart

    data = decision.to_dict()
    if path.suffix.lower() == ".svg":
        svg = chart.render_chart_svg(data)
        path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + svg, encoding="utf-8")
        return
    figure = chart.chart_figure(data)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    path.write_bytes(buffer.getvalue())


# -- command line -----------------------------------------------------------------------------------


def run_plan(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    progress = Progress(err, quiet=args.quiet)
    if not args.patient:
        print("plan: --patient ID is required", file=err)
        return EXIT_USAGE
    chart_path = Path(args.out) if args.out else None
    if chart_path is not None and chart_path.suffix.lower() not in CHART_SUFFIXES:
        print(f"plan: --out must end in .png or .svg, got {args.out!r}", file=err)
        return EXIT_USAGE
    try:
        reader = FhirReader(args.fhir_server, token_from(args), args.timeout, progress)
        try:
            decision = decide(reader, args.patient)
        finally:
            reader.close()
    except ToolkitError as exc:
        print(f"plan: {exc.message}", file=err)
        return exc.status
    rows = schedule_rows(decision.schedule)
    tapering = decision.phase in TAPER_PHASES
    if args.json:
        print(json.dumps({
            "patient_id": decision.patient_id,
            "decided_on": decision.decided_on.isoformat(),
            "protocol": decision.protocol and {"id": decision.protocol.protocol_id,
                                               "version": decision.protocol.version},
            "phase": decision.phase.value if decision.phase else None,
            "current_daily_dose_mg": decision.current_dose.daily_dose_mg if decision.current_dose else None,
            "last_dose_change": decision.to_dict()["last_dose_change"],
            "next_trough_due": decision.next_trough_due.isoformat() if decision.next_trough_due else None,
            "schedule": rows,
        }, indent=2), file=out)
    else:
        print("\n".join(describe(decision)), file=out)
        if rows:
            print(f"\nProjected schedule ({len(rows)} steps; a trough at steady state after each step):", file=out)
            print(format_table(rows), file=out)
        elif tapering:
            why = "; ".join(decision.no_proposal_reasons) or "the core projected no further step"
            print(f"\nNo step can be projected now: {why}", file=out)
        else:
            phase = decision.phase.value if decision.phase else "no protocol identified"
            print(f"\nNo taper plan: the patient is not tapering (phase: {phase}).", file=out)
    if chart_path is not None:
        progress(f"drawing {chart_path}")
        write_chart(decision, chart_path)
        print(f"chart written to {chart_path}", file=err)
    return EXIT_OK
