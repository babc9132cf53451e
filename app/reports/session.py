"""The session report: what happened in one treatment session, gathered from storage.

:func:`build_session_report` reads one session (its steps, stamps, coverage, force, link
events and overrides) into a :class:`SessionReport` of plain frozen dataclasses; the
renderers in :mod:`stampside.app.reports.render` turn it into HTML, JSON or CSV. The stamp count and
coverage come from :func:`stampside.app.storage.session_figures.session_figures`, the function the
summary screen reads too, so the report and the summary of a session agree figure for figure.
Signed records print their signature (§11.50): the overrides, and the session's closing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stampside.app.domain.coverage import SessionCoverage
from stampside.app.domain.signatures import SignatureMark
from stampside.app.domain.treatment_protocol import ForceQuality, TreatmentProtocol, default_protocol
from stampside.app.reports.signed import SignatureLine, signature_line
from stampside.app.storage.schema import LinkEvent, StampEvent
from stampside.app.storage.session_figures import session_figures
from stampside.app.storage.sessions import get_session
from stampside.app.storage.step_records import load_step_records, step_override_signatures

#: Width of one force histogram bin, in newtons.
FORCE_BIN_N = 1.0


@dataclass(frozen=True, slots=True)
class OverrideLine:
    """A failed gate let through, with who, when and why."""

    step: str
    gate: str  # the gate's label, as people read it ("waiting time")
    failure: str
    reason: str
    by: str
    at: datetime
    #: Its signature (overridden), when it was signed with a PIN.
    signed: SignatureMark | None = None


@dataclass(frozen=True, slots=True)
class StepLine:
    """One protocol step as it ran."""

    position: int
    step_id: str
    title: str
    kind: str
    started_at: datetime
    started_by: str
    ended_at: datetime | None
    confirmed_by: str | None
    volume_ml: float | None
    lot: str | None
    lot_expiry: date | None
    timer_seconds: int | None
    timer_ran_seconds: float | None
    overrides: tuple[OverrideLine, ...]

    @property
    def duration_s(self) -> float | None:
        return None if self.ended_at is None else (self.ended_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True)
class ZoneLine:
    """A scalp zone's coverage at the end of the session."""

    zone: str
    treated: bool
    area_cm2: float
    target_density: float | None
    stamps: int
    percent: float | None
    reached: bool
    covered_cm2: float
    #: area × density, cm² of footprint to stamp; None without a density.
    target_cm2: float | None
    stamps_to_target: int | None


@dataclass(frozen=True, slots=True)
class ForceBin:
    """Stamps whose peak force was in [low_n, high_n)."""

    low_n: float
    high_n: float
    stamps: int
    quality: str


@dataclass(frozen=True, slots=True)
class LinkEventLine:
    at: datetime
    kind: str
    detail: str


@dataclass(frozen=True, slots=True)
class SessionReport:
    """Everything the session report shows; built by :func:`build_session_report`."""

    session_id: int
    patient_code: str
    number: int
    planned_sessions: int
    status: str
    protocol_name: str
    protocol_version: str
    practitioner: str
    device_serial: str | None
    head_id: int | None
    footprint_mm2: int | None
    started_at: datetime
    ended_at: datetime | None
    steps: tuple[StepLine, ...]
    stamps: int
    replayed_stamps: int
    #: Stamps that cover no zone (reserved device zone id, or zone 0 never credited).
    unassigned_stamps: int
    #: Stamps credited to zones that are not treated.
    untreated_stamps: int
    coverage: tuple[ZoneLine, ...]
    coverage_percent: float
    force_bins: tuple[ForceBin, ...]
    force_quality: dict[str, int]
    force_mean_n: float | None
    link_events: tuple[LinkEventLine, ...]
    overrides: tuple[OverrideLine, ...]
    deviations: tuple[str, ...]
    lots: tuple[str, ...]
    #: The session's closing signature (approved); None: not closed, or closed without one.
    closed_signature: SignatureMark | None = None
    #: Every signature on the session's records: its overrides, then its closing.
    signatures: tuple[SignatureLine, ...] = ()

    @property
    def title(self) -> str:
        return f"Session {self.number} of {self.planned_sessions} · patient {self.patient_code}"


def _protocol_for(name: str, version: str, protocol: TreatmentProtocol | None) -> TreatmentProtocol | None:
    """The protocol the session ran, when we have it (the one given, else the built-in one)."""
    for candidate in (protocol, default_protocol()):
        if candidate is not None and candidate.name == name and candidate.version == version:
            return candidate
    return protocol


def build_session_report(db: Session, session_id: int, protocol: TreatmentProtocol | None = None) -> SessionReport:
    """Read session ``session_id`` into a :class:`SessionReport`; ``SessionError`` if it does not exist."""
    view = get_session(db, session_id)
    used = _protocol_for(view.protocol_name, view.protocol_version, protocol)
    titles = {step.id: step.title for step in used.steps} if used else {}
    planned_volume = {step.id: step.volume_ml for step in used.steps} if used else {}

    steps: list[StepLine] = []
    overrides: list[OverrideLine] = []
    deviations: list[str] = []
    signed = step_override_signatures(db, session_id)
    for record in load_step_records(db, session_id):
        title = titles.get(record.step_id, record.step_id.replace("_", " ").capitalize())
        lines = tuple(
            OverrideLine(
                title,
                o.gate.label,
                o.failure,
                o.reason,
                o.by,
                o.at,
                signed[(record.position, place)].mark if (record.position, place) in signed else None,
            )
            for place, o in enumerate(record.overrides)
        )
        overrides.extend(lines)
        steps.append(
            StepLine(
                position=record.position,
                step_id=record.step_id,
                title=title,
                kind=record.kind.value,
                started_at=record.started_at,
                started_by=record.started_by,
                ended_at=record.ended_at,
                confirmed_by=record.confirmed_by,
                volume_ml=record.volume_ml,
                lot=record.lot,
                lot_expiry=record.lot_expiry,
                timer_seconds=record.timer_seconds,
                timer_ran_seconds=record.timer_ran_seconds,
                overrides=lines,
            )
        )
        planned = planned_volume.get(record.step_id)
        if planned is not None and record.volume_ml is not None and abs(record.volume_ml - planned) > 1e-9:
            deviations.append(f"{title}: {record.volume_ml:g} ml used instead of {planned:g} ml")
    for line in overrides:
        deviations.append(f"{line.step}: {line.gate} overridden by {line.by} ({line.reason})")
    if used is not None and view.status == "finished" and len(steps) < len(used.steps):
        deviations.append(f"only {len(steps)} of {len(used.steps)} protocol steps were recorded")

    figures = session_figures(db, session_id, used)
    replayed = (
        db.scalar(
            select(func.count(StampEvent.id)).where(StampEvent.session_id == session_id, StampEvent.replay.is_(True))
        )
        or 0
    )

    bins, quality, mean = _force(db, session_id, used)
    events = tuple(
        LinkEventLine(row.at, row.kind, row.detail)
        for row in db.scalars(select(LinkEvent).where(LinkEvent.session_id == session_id).order_by(LinkEvent.at))
    )
    lots = tuple(dict.fromkeys(step.lot for step in steps if step.lot))
    signatures = [
        signature_line(f"Override of {line.gate} ({line.step}): {line.reason}", line.signed)
        for line in overrides
        if line.signed is not None
    ]
    if view.closed_signature is not None:
        signatures.append(signature_line(f"Session {view.number} closed", view.closed_signature))
    return SessionReport(
        session_id=view.id,
        patient_code=view.patient_code,
        number=view.number,
        planned_sessions=view.planned_sessions,
        status=view.status,
        protocol_name=view.protocol_name,
        protocol_version=view.protocol_version,
        practitioner=view.practitioner_name,
        device_serial=view.device_serial,
        head_id=view.head_id,
        footprint_mm2=view.footprint_mm2,
        started_at=view.started_at,
        ended_at=view.ended_at,
        steps=tuple(steps),
        stamps=figures.stamps,
        replayed_stamps=replayed,
        unassigned_stamps=figures.unassigned,
        untreated_stamps=figures.untreated,
        coverage=_zone_lines(figures),
        coverage_percent=figures.percent,
        force_bins=bins,
        force_quality=quality,
        force_mean_n=mean,
        link_events=events,
        overrides=tuple(overrides),
        deviations=tuple(deviations),
        lots=lots,
        closed_signature=view.closed_signature,
        signatures=tuple(signatures),
    )


def _zone_lines(figures: SessionCoverage) -> tuple[ZoneLine, ...]:
    """The zones the summary lists (treated, or with stamps), as report lines."""
    return tuple(
        ZoneLine(
            zone=zone.zone.label,
            treated=zone.treated,
            area_cm2=zone.area_cm2,
            target_density=zone.target_density,
            stamps=zone.stamps,
            percent=zone.percent,
            reached=zone.reached,
            covered_cm2=zone.covered_cm2,
            target_cm2=zone.target_cm2,
            stamps_to_target=zone.stamps_to_target,
        )
        for zone in figures.listed
    )


def _force(
    db: Session, session_id: int, protocol: TreatmentProtocol | None
) -> tuple[tuple[ForceBin, ...], dict[str, int], float | None]:
    rows = db.execute(
        select(StampEvent.force_dn, func.count(StampEvent.id))
        .where(StampEvent.session_id == session_id)
        .group_by(StampEvent.force_dn)
    ).all()
    quality = {kind.value: 0 for kind in ForceQuality}
    if not rows:
        return (), quality, None
    top = max(force for force, _ in rows) / 10
    width = FORCE_BIN_N
    count_bins = max(1, int(top // width) + 1)
    counts = [0] * count_bins
    total = weighted = 0
    for force_dn, n in rows:
        newtons = force_dn / 10
        counts[min(count_bins - 1, int(newtons // width))] += n
        total += n
        weighted += force_dn * n
        if protocol is not None:
            quality[protocol.force.classify(newtons).value] += n
    bins = []
    for index, n in enumerate(counts):
        low = index * width
        kind = protocol.force.classify(low + width / 2).value if protocol is not None else ""
        bins.append(ForceBin(low, low + width, n, kind))
    return tuple(bins), quality, weighted / total / 10
