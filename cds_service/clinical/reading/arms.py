"""Which protocol and arm a child follows, read from FHIR, never guessed from dose patterns.

"a CarePlan that instantiates the protocol's PlanDefinition (its start date = the taper's start), or,
for a child enrolled in the trial, a ResearchSubject with its assigned arm. Where neither exists the
service states the default it assumed (KHE: maintenance; IHHE: sequential sirolimus)."
"""
from __future__ import annotations

from datetime import date

from ..decision import ArmAssignment
from ..protocols import IHHE_SEQUENTIAL, KHE_GUIDED, KHE_MAINTENANCE, Protocols
from .facts import CarePlanFact
from .record import PatientRecord

ACTIVE_PLAN = {"active", "on-hold"}
COMPLETED_PLAN = "completed"
ARM_TO_PROTOCOL = {"guided-discontinuation": KHE_GUIDED, "maintenance": KHE_MAINTENANCE}
ENDED_SUBJECT = {"withdrawn", "off-study", "not-registered", "ineligible", "screening", "candidate"}


def diagnosis_protocol(record: PatientRecord, draft_reason_valuesets: tuple[str, ...] = ()) -> str | None:
    """The default protocol from the diagnosis: KHE -> maintenance, IHHE -> sequential."""
    sets = {vs for c in record.conditions if c.verification_status != "refuted" for vs in c.valuesets}
    sets |= set(draft_reason_valuesets)
    if "khe" in sets:
        return KHE_MAINTENANCE
    if "ihhe" in sets:
        return IHHE_SEQUENTIAL
    return None


def assign_arm(record: PatientRecord, protocols: Protocols, draft_reason_valuesets: tuple[str, ...] = ()
               ) -> ArmAssignment | None:
    plans = sorted(
        (p for p in record.careplans if p.status in ACTIVE_PLAN),
        key=lambda p: p.period_start.toordinal() if p.period_start else 0, reverse=True,
    )
    for plan in plans:
        for canonical in plan.canonicals:
            protocol = protocols.by_canonical(canonical)
            if protocol is not None:
                taper_start = plan.period_start if protocol.ref.protocol_id == KHE_GUIDED else None
                held = plan.status == "on-hold"
                named_version = canonical.partition("|")[2]
                version_note = (f"; it names version {named_version}, these rules are version "
                                f"{protocol.ref.version}: review" if named_version not in ("", protocol.ref.version)
                                else "")
                return ArmAssignment(protocol_id=protocol.ref.protocol_id, arm=protocol.default_arm,
                                     source="careplan", source_reference=plan.resource,
                                     taper_started_on=taper_start, careplan_id=plan.resource.split("/")[-1],
                                     note=f"{plan.resource} instantiates {canonical}{version_note}"
                                     + (" (on hold: the taper is paused)" if held else ""), on_hold=held)
    for subject in record.research_subjects:
        if subject.arm in ARM_TO_PROTOCOL and subject.status not in ENDED_SUBJECT:
            pid = ARM_TO_PROTOCOL[subject.arm]
            start = subject.period_start if pid == KHE_GUIDED else None
            return ArmAssignment(protocol_id=pid, arm=subject.arm, source="research_subject",
                                 source_reference=subject.resource, taper_started_on=start, careplan_id=None,
                                 note=f"ResearchSubject {subject.resource} assigned to arm '{subject.arm}'")
    diagnosed = diagnosis_protocol(record, draft_reason_valuesets)
    if diagnosed is None:
        return None
    protocol = protocols[diagnosed]
    completed = _completed_taper_plans(record, protocols) if diagnosed == KHE_MAINTENANCE else []
    note = (f"Guided discontinuation completed ({completed[-1].resource}): {protocol.default_arm} "
            "rules apply if sirolimus restarts" if completed else
            f"No CarePlan or ResearchSubject names a protocol: {protocol.default_arm} assumed from the diagnosis")
    return ArmAssignment(protocol_id=diagnosed, arm=protocol.default_arm, source="default_assumed",
                         source_reference=None, taper_started_on=None, careplan_id=None, note=note)


def _completed_taper_plans(record: PatientRecord, protocols: Protocols) -> list[CarePlanFact]:
    """The completed CarePlans of the KHE guided discontinuation, oldest start first."""
    plans = [p for p in record.careplans if p.status == COMPLETED_PLAN and p.period_start is not None
             and any((protocol := protocols.by_canonical(c)) is not None
                     and protocol.ref.protocol_id == KHE_GUIDED for c in p.canonicals)]
    return sorted(plans, key=lambda p: p.period_start or date.min)


def guided_taper_start(record: PatientRecord, arm: ArmAssignment, protocols: Protocols) -> date | None:
    """The start of the KHE guided discontinuation this child followed: the arm's own, or the latest
    completed taper CarePlan's (a child whose taper ended is no longer assigned to it). None: no taper."""
    if arm.protocol_id == KHE_GUIDED:
        return arm.taper_started_on
    if arm.protocol_id != KHE_MAINTENANCE:
        return None
    completed = _completed_taper_plans(record, protocols)
    return completed[-1].period_start if completed else None
