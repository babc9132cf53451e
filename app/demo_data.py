"""A realistic demo cohort for QA, screenshots and the report tests: ``stampside demo-data``.

:func:`seed_demo_cohort` fills a database through the same storage functions the app uses
(no raw SQL): practitioners; patients with Norwood grades, each screened (one with a lab
result gone stale) and given a course through the screening gate; baseline photos (made-up
pictures, registered like real ones), then six sessions through the schedule checks (one late
start confirmed as a deviation), each walked through the protocol's steps with a
:class:`~stampside.app.domain.steps.SessionFlow` on a made-up clock — device checks, lots, volumes,
timers, the odd override — with stamps stored by the link's
:class:`~stampside.app.storage.sink.DatabaseSink` (including a link drop and its replay) and credited
to zones the way the stamping screen credits them; photos after session 6 and at the
follow-ups, investigator and patient assessments, and a few adverse events. The last
patient's 6-month follow-up is left undone, so it shows as due.

Everything is derived from ``seed``: the same seed gives the same cohort.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from stampside.app.domain.coverage import session_model
from stampside.app.domain.eligibility import LabResult, Screening
from stampside.app.domain.gates import DeviceFacts, Gate
from stampside.app.domain.outcomes import (
    BlindedCall,
    validate_adverse_event,
    validate_iga,
    validate_self_assessment,
)
from stampside.app.domain.schedule import add_months
from stampside.app.domain.signatures import Signer
from stampside.app.domain.steps import SessionFlow
from stampside.app.domain.treatment_protocol import StepKind, TreatmentProtocol, default_protocol
from stampside.app.domain.zones import DEFAULT_AREA_CM2, NorwoodGrade, Zone
from stampside.app.storage.courses import start_screened_course
from stampside.app.storage.database import Database
from stampside.app.storage.outcomes import (
    blinded_round,
    record_adverse_event,
    record_assessment,
    record_blinded_call,
    record_self_assessment,
)
from stampside.app.storage.patients import NewPatient, create_patient, find_patient
from stampside.app.storage.photos import default_photo_root, register_photo
from stampside.app.storage.pins import pin_states, set_pin
from stampside.app.storage.practitioners import add_practitioner, list_practitioners
from stampside.app.storage.schedule import ConfirmationNeeded, open_scheduled_session
from stampside.app.storage.schema import Device, Patient, Practitioner
from stampside.app.storage.screening import save_screening
from stampside.app.storage.sessions import ZoneSetting, attach_device, finish_session
from stampside.app.storage.sink import DatabaseSink
from stampside.app.storage.step_records import save_step_record
from stampside.devicelink.sink import CommitBatch, LinkLogEntry, ReceivedStamp, StampTags
from stampside.firmware_protocol import DeviceInfo, Stamp
from stampside.firmware_protocol.host_events import Ledger

#: The demo patients: code, name, year of birth, Norwood grade, sessions done.
DEMO_PATIENTS: tuple[tuple[str, str, int, str, int], ...] = (
    ("DEMO-001", "Patient One", 1979, "3", 6),
    ("DEMO-002", "Patient Two", 1985, "3V", 6),
    ("DEMO-003", "Patient Three", 1972, "4", 6),
    ("DEMO-004", "Patient Four", 1990, "3", 6),
    ("DEMO-005", "Patient Five", 1968, "4", 6),
)
DEMO_PRACTITIONERS = ("Demo practitioner A", "Demo practitioner B")
#: The demo practitioners' PIN (docs/app.md): ``stampside demo`` signs in with it. Never a clinic's.
DEMO_PIN = "1234"
DEMO_SERIAL = "DEMO-STAMP-1"
#: The product lots the demo clinic used, with their expiry dates.
DEMO_LOTS = (("LOT-24A17", date(2027, 6, 30)), ("LOT-25B03", date(2027, 12, 31)))
FOOTPRINT_MM2 = 100


class DemoDataError(ValueError):
    """The database already holds the demo cohort (or part of it), or records that are not the demo's."""


class NotADemoDatabase(DemoDataError):
    """The database holds records that are not the demo's: the clinic's, never to be mixed with demo data."""


@dataclass(frozen=True, slots=True)
class SeededCohort:
    patients: int
    sessions: int
    stamps: int
    session_ids: tuple[int, ...]
    course_ids: tuple[int, ...] = ()
    photos: int = 0


class _Clock:
    """A hand-moved clock for the session flow."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def seed_demo_cohort(
    database: Database,
    *,
    seed: int = 7,
    first_session: datetime | None = None,
    protocol: TreatmentProtocol | None = None,
    photo_root: Path | None = None,
) -> SeededCohort:
    """Add the demo cohort; refuses (:class:`DemoDataError`) if its patients are already there, or
    (:class:`NotADemoDatabase`) if anything else is (:func:`records_not_the_demos`).

    Photos are copied under ``photo_root`` (default: the database's photo folder,
    :func:`~stampside.app.storage.photos.default_photo_root`).
    """
    protocol = protocol or default_protocol()
    rng = random.Random(seed)
    start = first_session or datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    root = photo_root or default_photo_root(database.url)
    with database.Session.begin() as session:
        others = records_not_the_demos(session)
        if others is not None:
            raise NotADemoDatabase(
                f"the database holds records that are not the demo's ({others}); "
                "the demo cohort goes only into a new database or a demo one"
            )
        if any(find_patient(session, code) is not None for code, *_ in DEMO_PATIENTS):
            raise DemoDataError("the demo patients are already in this database; use an empty database")
        known = {p.name: p.id for p in list_practitioners(session)}
        practitioner_ids = [known.get(name) or add_practitioner(session, name).id for name in DEMO_PRACTITIONERS]
        with_pin = pin_states(session)
        signers = {
            name: set_pin(
                session, practitioner_id, DEMO_PIN, DEMO_PIN, now=start - timedelta(days=30), how="for the demo"
            )
            if practitioner_id not in with_pin
            else Signer(practitioner_id, name)
            for name, practitioner_id in zip(DEMO_PRACTITIONERS, practitioner_ids, strict=True)
        }
    sink = DatabaseSink(database)
    head_ids = iter(range(5001, 6000))
    seq_counter = _Counter()
    session_ids: list[int] = []
    course_ids: list[int] = []
    stamps = photos = 0
    with tempfile.TemporaryDirectory(prefix="stampside-demo-") as scratch:
        pictures = _Pictures(Path(scratch), rng)
        for index, (code, name, birth_year, grade, done) in enumerate(DEMO_PATIENTS):
            day0 = start + timedelta(days=index * 3, hours=index)
            rater = DEMO_PRACTITIONERS[index % len(DEMO_PRACTITIONERS)]
            with database.Session.begin() as session:
                patient = create_patient(
                    session,
                    NewPatient.parse(code, name=name, birth_year=str(birth_year), norwood_grade=grade),
                    now=day0 - timedelta(days=21),
                )
                screened = (day0 - timedelta(days=14)).date()
                # One patient's TSH is older than the protocol's result age: flagged, not excluding.
                tsh_age = 120 if index == 2 else 20
                labs = [
                    LabResult(
                        test=lab.id,
                        taken_on=screened - timedelta(days=tsh_age if lab.id == "tsh" else 20),
                        flag="normal",
                    )
                    for lab in protocol.screening.labs
                ]
                screening = Screening.parse(
                    screened_on=screened, sex="male", smoker=False, norwood_grade=grade, labs=labs
                )
                save_screening(
                    session,
                    patient.id,
                    screening,
                    protocol=protocol,
                    screened_by=rater,
                    now=day0 - timedelta(days=14),
                    signer=signers[rater],
                )
                course_id = start_screened_course(session, patient.id, protocol=protocol, now=day0 - timedelta(days=7))
            course_ids.append(course_id)
            photos += _photo_set(
                database,
                pictures,
                root,
                protocol,
                patient.id,
                course_id,
                "baseline",
                0.0,
                day0 - timedelta(days=1),
                rater,
            )
            zones = NorwoodGrade(grade).default_zones
            when = day0
            for number in range(1, done + 1):
                if number > 1:
                    # Weekly, give or take a day; one late start (11 days) confirmed as a deviation.
                    late = index == 3 and number == 3
                    gap = 11 if late else protocol.course.interval_days + rng.choice((0, 0, 0, 1, -1))
                    when = when + timedelta(days=gap, minutes=rng.randint(-90, 90))
                practitioner = DEMO_PRACTITIONERS[(index + number) % len(DEMO_PRACTITIONERS)]
                session_id, count, ended = _session(
                    database,
                    sink,
                    rng,
                    protocol=protocol,
                    course_id=course_id,
                    signer=signers[practitioner],
                    when=when,
                    zones=zones,
                    head_id=next(head_ids),
                    seqs=seq_counter,
                    lot=DEMO_LOTS[0] if when < start + timedelta(days=30) else DEMO_LOTS[1],
                )
                session_ids.append(session_id)
                stamps += count
            photos += _outcomes(database, pictures, root, protocol, rng, index, patient.id, course_id, ended, rater)
    _blinded_round(database, rng, seed, course_ids, start + timedelta(days=120))
    return SeededCohort(len(DEMO_PATIENTS), len(session_ids), stamps, tuple(session_ids), tuple(course_ids), photos)


def records_not_the_demos(session: Session) -> str | None:
    """What the database holds that the demo cohort does not make, briefly ("patients P-7, P-9;
    devices SS-000001"); ``None`` for a new database or one holding only demo records.

    The demo makes the :data:`DEMO_PATIENTS`, the :data:`DEMO_PRACTITIONERS` and the stamp
    :data:`DEMO_SERIAL`: any other patient, practitioner or device (a real recording) is the clinic's.
    """
    found = [
        _listed(session, "patients", Patient.code, Patient.code.not_in([code for code, *_ in DEMO_PATIENTS])),
        _listed(session, "devices", Device.serial, Device.serial != DEMO_SERIAL),
        _listed(session, "practitioners", Practitioner.name, Practitioner.name.not_in(DEMO_PRACTITIONERS)),
    ]
    said = [text for text in found if text is not None]
    return "; ".join(said) if said else None


def _listed(
    session: Session, what: str, column: InstrumentedAttribute[str], condition: ColumnElement[bool]
) -> str | None:
    """``what`` with the first few values of ``column`` where ``condition`` holds ("devices A, B and 3 more")."""
    total = session.scalar(select(func.count(column.distinct())).where(condition)) or 0
    if not total:
        return None
    shown = list(session.scalars(select(column).where(condition).distinct().order_by(column).limit(3)))
    more = f" and {total - len(shown)} more" if total > len(shown) else ""
    return f"{what} {', '.join(shown)}{more}"


def _blinded_round(database: Database, rng: random.Random, seed: int, course_ids: list[int], when: datetime) -> None:
    """One blinded rating round, baseline against after session 6: the rater mostly sees the gain."""
    response = dict(zip(course_ids, _RESPONSE, strict=False))
    with database.Session.begin() as session:
        for pair in blinded_round(session, seed=seed, course_ids=course_ids):
            sees_gain = rng.random() < response.get(pair.course_id, 0.5)
            call = BlindedCall(pair.after_side.value) if sees_gain else BlindedCall.SAME
            record_blinded_call(session, pair, call, seed=seed, rater="Blinded rater", now=when)


#: How much better each demo patient does by the end (0 = no change, 1 = a clear gain).
_RESPONSE = (0.9, 0.6, 0.75, 0.1, 0.5)


def _outcomes(
    database: Database,
    pictures: _Pictures,
    root: Path,
    protocol: TreatmentProtocol,
    rng: random.Random,
    index: int,
    patient_id: int,
    course_id: int,
    last_session: datetime,
    rater: str,
) -> int:
    """Photos, assessments and adverse events after session 6 and at the follow-ups."""
    response = _RESPONSE[index % len(_RESPONSE)]
    visits: list[tuple[str, datetime, float]] = [("after_session_6", last_session + timedelta(hours=1), 0.4)]
    for months in protocol.follow_up.months:
        if index == len(DEMO_PATIENTS) - 1 and months == max(protocol.follow_up.months):
            continue  # left due: QA sees a follow-up on the start screen
        day = add_months(last_session.date(), months)
        visits.append((f"month_{months}", datetime.combine(day, last_session.timetz()), 0.8 if months == 3 else 1.0))
    photos = 0
    for time_point, moment, weight in visits:
        gain = response * weight
        photos += _photo_set(database, pictures, root, protocol, patient_id, course_id, time_point, gain, moment, rater)
        score = round(gain * 2.6 + rng.uniform(-0.4, 0.4))
        choice = ("no_change", "slightly_better", "better", "much_better")[max(0, min(3, score))]
        with database.Session.begin() as session:
            iga = validate_iga(
                protocol,
                time_point=time_point,
                density=max(-3, min(3, score)),
                coverage=max(-3, min(3, score + rng.choice((0, 0, -1)))),
                rater=rater,
            )
            record_assessment(session, course_id, iga, now=moment)
            answers = validate_self_assessment(
                protocol,
                time_point=time_point,
                answers={
                    "overall": choice,
                    "density": choice,
                    "satisfied": score >= 1,
                    "recommend": score >= 1,
                    "comments": "",
                },
            )
            record_self_assessment(session, course_id, answers, recorded_by=rater, now=moment)
    events = {
        0: ("Erythema (redness) beyond 48 h", "mild", 2),
        2: ("Itching", "moderate", 4),
        4: ("Pinpoint bleeding", "mild", 1),
    }
    if index in events:
        what, severity, number = events[index]
        onset = last_session.date() - timedelta(days=(6 - number) * 7 - 1)
        with database.Session.begin() as session:
            event = validate_adverse_event(
                what=what,
                onset_on=onset,
                severity=severity,
                today=last_session.date(),
                resolved_on=onset + timedelta(days=3),
                session_number=number,
            )
            record_adverse_event(session, course_id, event, recorded_by=rater, now=last_session)
    return photos


def _photo_set(
    database: Database,
    pictures: _Pictures,
    root: Path,
    protocol: TreatmentProtocol,
    patient_id: int,
    course_id: int,
    time_point: str,
    gain: float,
    when: datetime,
    by: str,
) -> int:
    """Register one picture per standard view at ``time_point``."""
    views = [view.id for view in protocol.photos.views]
    with database.Session.begin() as session:
        for view in views:
            register_photo(
                session,
                pictures.make(patient_id, view, gain),
                root=root,
                patient_id=patient_id,
                course_id=course_id,
                time_point=time_point,
                view=view,
                protocol=protocol,
                now=when,
                registered_by=by,
                taken_at=when,
            )
    return len(views)


class _Pictures:
    """Made-up scalp pictures: skin with hair strokes, denser as ``gain`` grows (0 = baseline)."""

    SIZE = (240, 180)

    def __init__(self, folder: Path, rng: random.Random) -> None:
        self.folder = folder
        self.rng = rng
        self.count = 0

    def make(self, patient_id: int, view: str, gain: float) -> Path:
        layout = random.Random(f"{patient_id}-{view}")  # the same scalp at every time point
        width, height = self.SIZE
        image = Image.new("RGB", self.SIZE, (222, 184, 160))
        draw = ImageDraw.Draw(image)
        bald = (layout.uniform(0.3, 0.7) * width, layout.uniform(0.3, 0.7) * height, layout.uniform(50, 80))
        strokes = 600 + int(gain * 900)
        for _ in range(strokes):
            x, y = layout.uniform(0, width), layout.uniform(0, height)
            distance = ((x - bald[0]) ** 2 + (y - bald[1]) ** 2) ** 0.5
            keep = min(1.0, distance / bald[2]) ** 2 + gain * 0.6
            if self.rng.random() > keep:
                continue
            length = layout.uniform(4, 9)
            draw.line((x, y, x + length * 0.4, y + length), fill=(58, 40, 30), width=1)
        self.count += 1
        path = self.folder / f"demo-{self.count:04d}.jpg"
        image.save(path, "JPEG", quality=80)
        return path


class _Counter:
    """The demo device's global stamp sequence (it never reboots in the demo)."""

    def __init__(self) -> None:
        self.seq = 0

    def take(self, count: int) -> Iterator[int]:
        for _ in range(count):
            self.seq += 1
            yield self.seq


def _device_info(head_id: int, battery: int, last_seq: int) -> DeviceInfo:
    return DeviceInfo(DEMO_SERIAL, 2, 1, 4, 0, 1, 1, 1, 2000, head_id, 0, FOOTPRINT_MM2, battery, 1, last_seq)


def _session(
    database: Database,
    sink: DatabaseSink,
    rng: random.Random,
    *,
    protocol: TreatmentProtocol,
    course_id: int,
    signer: Signer,
    when: datetime,
    zones: frozenset[Zone],
    head_id: int,
    seqs: _Counter,
    lot: tuple[str, date],
) -> tuple[int, int, datetime]:
    clock = _Clock(when)
    practitioner_id, practitioner = signer.practitioner_id, signer.name
    settings = [ZoneSetting(zone, DEFAULT_AREA_CM2[zone], protocol.coverage.density_for(zone)) for zone in zones]
    # Now and then the battery is low at the checks: the practitioner overrides it with a reason.
    battery = rng.randint(18, 24) if rng.random() < 0.1 else rng.randint(30, 100)
    info = _device_info(head_id, battery, seqs.seq)
    ledger = sink.open_device(info)
    with database.Session.begin() as session:
        try:
            view = open_scheduled_session(
                session,
                course_id,
                protocol=protocol,
                practitioner_id=practitioner_id,
                now=clock(),
                tz=UTC,
                zones=settings,
            )
        except ConfirmationNeeded as needed:
            deviation = needed.check.confirm(by=practitioner, at=clock(), reason="patient was travelling")
            view = open_scheduled_session(
                session,
                course_id,
                protocol=protocol,
                practitioner_id=practitioner_id,
                now=clock(),
                tz=UTC,
                zones=settings,
                deviation=deviation,
                signer=signer,
            )
        attach_device(session, view.id, serial=DEMO_SERIAL, head_id=head_id, footprint_mm2=FOOTPRINT_MM2, now=clock())
    session_id = view.id
    connected = LinkLogEntry(clock().timestamp(), "connected", "demo stamp", StampTags(session_id))
    sink.commit(CommitBatch(ledger, (), None, [connected]))
    flow = SessionFlow(protocol, clock)
    stamps = 0

    def save() -> None:
        record = flow.records[-1]
        with database.Session.begin() as session:
            save_step_record(session, session_id, record)

    while not flow.finished:
        step = flow.current_step
        assert step is not None
        flow.start(practitioner)
        clock.advance(rng.uniform(5, 20))
        if step.kind is StepKind.PRE_CHECKS:
            facts = DeviceFacts.from_device_info(info, head_used_elsewhere=False, clock_synced=True)
            results = flow.check_device(facts)
            for result in results:
                if not result.ok and result.gate is Gate.BATTERY:
                    reason = "spare battery pack fitted before stamping"
                    flow.override(result.gate, reason, practitioner, signer_id=practitioner_id)
        elif step.kind is StepKind.STAMPING:
            flow.check_device(
                DeviceFacts.from_device_info(info, head_used_elsewhere=False, clock_synced=True, armed=True)
            )
            stamps += _stamping(sink, ledger, rng, clock, session_id, protocol, settings, seqs)
        elif step.kind is StepKind.APPLICATION and step.requires_lot:
            flow.record_lot(lot[0], lot[1])
            flow.record_volume(step.volume_ml or 2.5)
        if step.timer is not None:
            clock.advance(step.timer.seconds + rng.uniform(0, 30))
        else:
            clock.advance(rng.uniform(20, 90))
        save()
        flow.complete(practitioner)
        save()
    ended = clock.advance(30)
    with database.Session.begin() as session:
        finish_session(session, session_id, now=ended, signer=signer)
    return session_id, stamps, ended


def _stamping(
    sink: DatabaseSink,
    ledger: Ledger,
    rng: random.Random,
    clock: _Clock,
    session_id: int,
    protocol: TreatmentProtocol,
    settings: list[ZoneSetting],
    seqs: _Counter,
) -> int:
    """Stamp each treated zone to about its target, with one link drop replayed, each stamp stored in its zone.

    The targets are those of the session as stored (its zone settings, the protocol's densities,
    the head's footprint), on the model the reports and the summary read it back with
    (:func:`~stampside.app.domain.coverage.session_model`).
    """
    model = session_model(settings, protocol.coverage.densities(), FOOTPRINT_MM2)
    batch: list[ReceivedStamp] = []
    device_ms = rng.randint(10_000, 50_000)
    total = 0
    drop_at = rng.randint(40, 120)
    for zone in sorted(model.treated):
        model.set_active(zone)
        wanted = model.zone(zone).stamps_to_target or 0
        for seq in seqs.take(wanted + rng.randint(-3, 6)):
            device_ms += int(rng.uniform(280, 520))
            force = max(15, min(140, round(rng.gauss(65, 12))))
            stamp = Stamp(1, seq, device_ms, force, rng.randint(120, 260), 0)
            at = clock.advance((device_ms % 1000) / 2500 + 0.25)
            total += 1
            replay = drop_at <= total < drop_at + 25
            batch.append(ReceivedStamp(stamp, at.timestamp(), replay, StampTags(session_id, int(zone))))
            model.add_stamp(1, seq, 0)
    log = [
        LinkLogEntry(when.timestamp(), kind, detail)
        for when, kind, detail in (
            (clock() - timedelta(seconds=200), "lost", "no heartbeat for 2.0 s"),
            (clock() - timedelta(seconds=195), "connected", "link back after 5 s"),
            (clock() - timedelta(seconds=195), "resync", "25 buffered stamps replayed"),
        )
    ]
    sink.commit(
        CommitBatch(ledger, batch, (1, seqs.seq), [replace(entry, tags=StampTags(session_id)) for entry in log])
    )
    return total
