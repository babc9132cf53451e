"""The treatment protocol as data: a validated TOML file of ordered steps and the rules around them.

A protocol names its steps in order (pre-session checks, disinfection, applications, stamping,
aftercare, summary), their timers and volumes, the device it needs, the coverage target, the
force thresholds, the aftercare rules and the course. :func:`load_protocol` reads a file;
:func:`default_protocol` is the one shipped in ``app/protocols/default.toml``.

A file that is not valid TOML, or does not validate, raises :class:`ProtocolFileError`. Its
message names the file, each bad field and the line it is on. ``docs/treatment-protocol.md``
describes the format field by field.
"""

from __future__ import annotations

import re
import tomllib
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from stampside.app.domain.zones import Zone

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "protocols"
DEFAULT_PROTOCOL_PATH = PROTOCOL_DIR / "default.toml"

Loc = tuple[str | int, ...]

#: How ``[coverage.zones]`` names a zone: by name, or by its wire id.
ZoneKey = Literal["frontal", "mid_scalp", "vertex", "left_temporal", "right_temporal", "1", "2", "3", "4", "5"]


class ProtocolFileError(ValueError):
    """A protocol file could not be read, is not TOML, or does not validate.

    The message is for a person: one line per problem, each naming the file, the line and
    the field. ``problems`` holds the same lines; ``line`` is the first problem's line.
    """

    def __init__(self, path: Path | str, problems: list[str], line: int | None = None) -> None:
        self.path = Path(path)
        self.problems = problems
        self.line = line
        super().__init__("\n".join(problems))


class StepKind(StrEnum):
    """What a step is for; the app shows a screen per kind."""

    PRE_CHECKS = "pre_checks"
    DISINFECTION = "disinfection"
    APPLICATION = "application"
    STAMPING = "stamping"
    AFTERCARE = "aftercare"
    SUMMARY = "summary"


class DeviceGate(StrEnum):
    """A check on the device that a step can require; evaluated by :mod:`stampside.app.domain.gates`."""

    DEVICE_IDENTIFIED = "device_identified"
    NEEDLE_LENGTH = "needle_length"
    HEAD_UNUSED = "head_unused"
    BATTERY = "battery"
    CLOCK_SYNCED = "clock_synced"
    DEVICE_ARMED = "device_armed"


class ForceQuality(StrEnum):
    TOO_LIGHT = "too_light"
    GOOD = "good"
    TOO_HARD = "too_hard"


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Timer(_Model):
    """A step's timer: the step cannot complete before it has run (unless overridden)."""

    seconds: int = Field(gt=0, le=24 * 3600)
    label: str = Field("timer", min_length=1)


class Step(_Model):
    """One step of the protocol, in order."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    kind: Annotated[StepKind, Strict(False)]
    title: str = Field(min_length=1, max_length=80)
    instructions: str = ""
    timer: Timer | None = None
    volume_ml: float | None = Field(None, gt=0, le=100)
    requires_lot: bool = False
    gates: Annotated[tuple[Annotated[DeviceGate, Strict(False)], ...], Strict(False)] = ()
    agent: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _lot_only_for_applications(self) -> Self:
        if self.requires_lot and self.kind is not StepKind.APPLICATION:
            raise ValueError("requires_lot is only allowed on application steps")
        if self.volume_ml is not None and self.kind is not StepKind.APPLICATION:
            raise ValueError(
                "volume_ml is only allowed on application steps: product is applied there "
                "(stamping needles in what the application before it applied)"
            )
        if len(set(self.gates)) != len(self.gates):
            raise ValueError("a gate is listed twice")
        return self


class DeviceRequirements(_Model):
    """What the device must be for a session to start."""

    needle_um: int = Field(gt=0, le=10_000)
    needle_tolerance_um: int = Field(0, ge=0, le=1_000)
    head_must_be_unused: bool = True
    min_battery_pct: int = Field(ge=0, le=100)
    clock_synced: bool = True

    def needle_ok(self, needle_um: int) -> bool:
        return abs(needle_um - self.needle_um) <= self.needle_tolerance_um


class CoverageTargets(_Model):
    """The stamping target the coverage model (:mod:`stampside.app.domain.coverage`) measures each treated zone against.

    ``target_density`` is dimensionless: cm² of head footprint to stamp per cm² of zone, i.e.
    how many times, on average, each point of a zone is needled. ``zones`` overrides it per
    zone, keyed by zone name (``frontal``, ``mid_scalp``, ``vertex``, ``left_temporal``,
    ``right_temporal``) or wire id (``"1"``–``"5"``).
    """

    target_density: float = Field(gt=0, le=100)
    zones: dict[ZoneKey, Annotated[float, Field(gt=0, le=100)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _each_zone_once(self) -> Self:
        seen: dict[Zone, str] = {}
        for key in self.zones:
            zone = zone_of_key(key)
            if zone in seen:
                raise ValueError(f"zones: {seen[zone]!r} and {key!r} are the same zone")
            seen[zone] = key
        return self

    def density_for(self, zone: Zone | int) -> float:
        """The target density of ``zone`` (its override, or the protocol-wide one)."""
        for key, density in self.zones.items():
            if zone_of_key(key) == zone:
                return density
        return self.target_density

    def densities(self) -> dict[Zone, float]:
        """The target density of every zone, ready for :class:`~stampside.app.domain.coverage.CoverageModel`."""
        return {zone: self.density_for(zone) for zone in Zone}


def zone_of_key(key: str) -> Zone:
    """The zone a ``[coverage.zones]`` key names: its lower-case name or its wire id."""
    return Zone(int(key)) if key.isdigit() else Zone[key.upper()]


class ForceThresholds(_Model):
    """Peak force bands in newtons: below ``too_light_below_n`` is too light, above ``too_hard_above_n`` too hard."""

    too_light_below_n: float = Field(gt=0, le=50)
    too_hard_above_n: float = Field(gt=0, le=50)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.too_hard_above_n <= self.too_light_below_n:
            raise ValueError("too_hard_above_n must be greater than too_light_below_n")
        return self

    def classify(self, newtons: float) -> ForceQuality:
        if newtons < self.too_light_below_n:
            return ForceQuality.TOO_LIGHT
        if newtons > self.too_hard_above_n:
            return ForceQuality.TOO_HARD
        return ForceQuality.GOOD


class AftercareRules(_Model):
    """No hair wash for at least ``no_hair_wash_min_hours``, ideally ``no_hair_wash_ideal_hours``."""

    no_hair_wash_min_hours: int = Field(ge=0, le=24 * 14)
    no_hair_wash_ideal_hours: int = Field(ge=0, le=24 * 14)
    instructions: Annotated[tuple[str, ...], Strict(False)] = ()

    @model_validator(mode="after")
    def _ideal_not_shorter(self) -> Self:
        if self.no_hair_wash_ideal_hours < self.no_hair_wash_min_hours:
            raise ValueError("no_hair_wash_ideal_hours must be at least no_hair_wash_min_hours")
        return self


class CourseRules(_Model):
    """A course of ``sessions`` sessions, ``interval_days`` apart.

    A session started from ``window_min_days`` to ``window_max_days`` days (inclusive) after the
    previous one is on time; earlier or later needs a confirmation that is recorded as a
    deviation (:mod:`stampside.app.domain.schedule`). Without them the window is ``interval_days - 2`` (at
    least 1) to ``interval_days + 3``: 5–10 days for a weekly course.
    """

    sessions: int = Field(ge=1, le=100)
    interval_days: int = Field(ge=1, le=365)
    window_min_days: int | None = Field(None, ge=1, le=365)
    window_max_days: int | None = Field(None, ge=1, le=730)

    @model_validator(mode="after")
    def _window_holds_interval(self) -> Self:
        if not self.earliest_days <= self.interval_days <= self.latest_days:
            raise ValueError(
                f"the window {self.earliest_days}–{self.latest_days} days must contain interval_days "
                f"({self.interval_days})"
            )
        return self

    @property
    def earliest_days(self) -> int:
        """The fewest days after the previous session that are on time."""
        return self.window_min_days if self.window_min_days is not None else max(1, self.interval_days - 2)

    @property
    def latest_days(self) -> int:
        """The most days after the previous session that are on time."""
        return self.window_max_days if self.window_max_days is not None else self.interval_days + 3


#: The shape of an id in the course data: lab tests, contraindications, time points, views, questions.
DataId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


def _unique_ids(items: tuple[_HasId, ...], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise ValueError(f"{what} ids must be unique: {item.id!r} is listed twice")
        seen.add(item.id)


class _HasId(_Model):
    id: DataId


class LabTest(_HasId):
    """A laboratory result screening asks for. An ``abnormal`` result excludes when ``abnormal_excludes``."""

    label: str = Field(min_length=1, max_length=80)
    abnormal_excludes: bool = True


class Contraindication(_HasId):
    """Something found at screening. It excludes when ``excludes``; otherwise it is a warning."""

    label: str = Field(min_length=1, max_length=120)
    excludes: bool = True


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"


#: A Norwood–Hamilton grade as a screening records it (``3V`` is the vertex variant, ``3A`` the anterior one).
NorwoodValue = Literal["1", "2", "2A", "3", "3A", "3V", "4", "4A", "5", "5A", "6", "7"]
NORWOOD_SCREENING_GRADES: tuple[NorwoodValue, ...] = ("1", "2", "2A", "3", "3A", "3V", "4", "4A", "5", "5A", "6", "7")


def _default_labs() -> tuple[LabTest, ...]:
    return (
        LabTest(id="vitamin_d", label="Vitamin D (25-OH)"),
        LabTest(id="vitamin_b12", label="Vitamin B12"),
        LabTest(id="ferritin", label="Ferritin (iron stores)"),
        LabTest(id="tsh", label="TSH (thyroid function)"),
    )


def _default_contraindications() -> tuple[Contraindication, ...]:
    return (
        Contraindication(id="chlorhexidine_allergy", label="Allergy to chlorhexidine"),
        Contraindication(id="active_scalp_infection", label="Active scalp infection"),
        Contraindication(id="anticoagulants", label="Takes anticoagulants"),
        Contraindication(id="keloid_tendency", label="Tendency to keloids"),
        Contraindication(id="bleeding_disorder", label="Bleeding disorder"),
        Contraindication(id="active_scalp_dermatitis", label="Active scalp dermatitis or psoriasis plaque"),
        Contraindication(id="isotretinoin_6_months", label="Isotretinoin within the last 6 months"),
        Contraindication(id="product_allergy", label="Allergy to an ingredient of the product"),
    )


class ScreeningRules(_Model):
    """Who may start a course (:mod:`stampside.app.domain.eligibility`). Defaults are the mission's rules."""

    labs: Annotated[tuple[LabTest, ...], Strict(False)] = Field(default_factory=_default_labs)
    #: A lab result taken more than this many days before the screening is flagged as stale.
    max_result_age_days: int = Field(90, ge=1, le=3650)
    #: Whether a stale result also excludes (by default it is only flagged).
    stale_results_exclude: bool = False
    smokers_excluded: bool = True
    sexes: Annotated[tuple[Annotated[Sex, Strict(False)], ...], Strict(False)] = (Sex.MALE,)
    norwood_grades: Annotated[tuple[NorwoodValue, ...], Strict(False)] = ("3", "3V", "4")
    contraindications: Annotated[tuple[Contraindication, ...], Strict(False)] = Field(
        default_factory=_default_contraindications
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique_ids(self.labs, "lab")
        _unique_ids(self.contraindications, "contraindication")
        if not self.sexes:
            raise ValueError("sexes: list at least one")
        if not self.norwood_grades:
            raise ValueError("norwood_grades: list at least one")
        return self

    def lab(self, lab_id: str) -> LabTest:
        for lab in self.labs:
            if lab.id == lab_id:
                return lab
        raise KeyError(lab_id)

    def contraindication(self, contraindication_id: str) -> Contraindication:
        for item in self.contraindications:
            if item.id == contraindication_id:
                return item
        raise KeyError(contraindication_id)


class FollowUpRules(_Model):
    """Follow-up visits ``months`` after the last session; on time within ``window_days`` either side."""

    months: Annotated[tuple[Annotated[int, Field(ge=1, le=60)], ...], Strict(False)] = (3, 6)
    window_days: int = Field(14, ge=0, le=90)

    @field_validator("months")
    @classmethod
    def _increasing(cls, months: tuple[int, ...]) -> tuple[int, ...]:
        if list(months) != sorted(set(months)):
            raise ValueError("months must be increasing, each at most once")
        return months


class TimePointAnchor(StrEnum):
    """When a time point falls: before a session, after a session, or at a follow-up."""

    BEFORE_SESSION = "before_session"
    AFTER_SESSION = "after_session"
    FOLLOW_UP = "follow_up"


class TimePoint(_HasId):
    """A moment of the course at which photos (and maybe outcomes) are taken.

    ``before_session`` and ``after_session`` name a session number (``session``);
    ``follow_up`` names the follow-up month (``months``). ``views`` (default: every standard
    view) are the photos its set needs. A ``before_session`` time point with ``gates_session``
    must be complete before that session starts (or be overridden with a reason).
    """

    label: str = Field(min_length=1, max_length=80)
    anchor: Annotated[TimePointAnchor, Strict(False)]
    session: int | None = Field(None, ge=1, le=100)
    months: int | None = Field(None, ge=1, le=60)
    views: Annotated[tuple[DataId, ...], Strict(False)] | None = None
    gates_session: bool = False
    outcomes: bool = False

    @model_validator(mode="after")
    def _anchor_fields(self) -> Self:
        if self.anchor is TimePointAnchor.FOLLOW_UP:
            if self.months is None or self.session is not None:
                raise ValueError("a follow_up time point needs months (and no session)")
        elif self.session is None or self.months is not None:
            raise ValueError(f"a {self.anchor.value} time point needs session (and no months)")
        if self.gates_session and self.anchor is not TimePointAnchor.BEFORE_SESSION:
            raise ValueError("only a before_session time point can gate its session")
        return self


class PhotoView(_HasId):
    label: str = Field(min_length=1, max_length=80)


def _default_views() -> tuple[PhotoView, ...]:
    return (
        PhotoView(id="vertex", label="Vertex"),
        PhotoView(id="frontal", label="Frontal"),
        PhotoView(id="mid_scalp", label="Mid-scalp"),
        PhotoView(id="temporal_left", label="Temporal left"),
        PhotoView(id="temporal_right", label="Temporal right"),
    )


def _default_time_points() -> tuple[TimePoint, ...]:
    return (
        TimePoint(
            id="baseline", label="Baseline", anchor=TimePointAnchor.BEFORE_SESSION, session=1, gates_session=True
        ),
        TimePoint(
            id="after_session_6",
            label="After session 6",
            anchor=TimePointAnchor.AFTER_SESSION,
            session=6,
            outcomes=True,
        ),
        TimePoint(id="month_3", label="3-month follow-up", anchor=TimePointAnchor.FOLLOW_UP, months=3, outcomes=True),
        TimePoint(id="month_6", label="6-month follow-up", anchor=TimePointAnchor.FOLLOW_UP, months=6, outcomes=True),
    )


class PhotoRules(_Model):
    """The standard views and the time points of the course (:mod:`stampside.app.domain.timepoints`)."""

    views: Annotated[tuple[PhotoView, ...], Strict(False)] = Field(default_factory=_default_views, min_length=1)
    time_points: Annotated[tuple[TimePoint, ...], Strict(False)] = Field(
        default_factory=_default_time_points, min_length=1
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _unique_ids(self.views, "view")
        _unique_ids(self.time_points, "time point")
        known = {view.id for view in self.views}
        for point in self.time_points:
            unknown = [view for view in point.views or () if view not in known]
            if unknown:
                raise ValueError(f"time point {point.id!r} names unknown views: {', '.join(unknown)}")
        return self

    def view(self, view_id: str) -> PhotoView:
        for view in self.views:
            if view.id == view_id:
                return view
        raise KeyError(view_id)

    def time_point(self, point_id: str) -> TimePoint:
        for point in self.time_points:
            if point.id == point_id:
                return point
        raise KeyError(point_id)

    def views_for(self, point: TimePoint | str) -> tuple[str, ...]:
        """The view ids a time point's set needs."""
        point = self.time_point(point) if isinstance(point, str) else point
        return point.views if point.views is not None else tuple(view.id for view in self.views)


class QuestionKind(StrEnum):
    CHOICE = "choice"
    YES_NO = "yes_no"
    TEXT = "text"


class Choice(_HasId):
    """One answer to a choice question; ``score`` orders answers (positive means better)."""

    label: str = Field(min_length=1, max_length=80)
    score: int = Field(ge=-100, le=100)


class Question(_HasId):
    """One question of the patient's self-assessment."""

    text: str = Field(min_length=1, max_length=300)
    kind: Annotated[QuestionKind, Strict(False)]
    choices: Annotated[tuple[Choice, ...], Strict(False)] = ()
    required: bool = True

    @model_validator(mode="after")
    def _choices(self) -> Self:
        if self.kind is QuestionKind.CHOICE:
            if len(self.choices) < 2:
                raise ValueError("a choice question needs at least 2 choices")
            _unique_ids(self.choices, "choice")
        elif self.choices:
            raise ValueError(f"a {self.kind.value} question has no choices")
        return self

    def choice(self, choice_id: str) -> Choice:
        for choice in self.choices:
            if choice.id == choice_id:
                return choice
        raise KeyError(choice_id)


def _default_questionnaire() -> tuple[Question, ...]:
    change = (
        Choice(id="much_worse", label="Much worse", score=-3),
        Choice(id="worse", label="Worse", score=-2),
        Choice(id="slightly_worse", label="Slightly worse", score=-1),
        Choice(id="no_change", label="No change", score=0),
        Choice(id="slightly_better", label="Slightly better", score=1),
        Choice(id="better", label="Better", score=2),
        Choice(id="much_better", label="Much better", score=3),
    )
    return (
        Question(
            id="overall",
            text="Compared with before the first session, how is your hair overall?",
            kind=QuestionKind.CHOICE,
            choices=change,
        ),
        Question(
            id="density", text="How is the density (thickness) of your hair?", kind=QuestionKind.CHOICE, choices=change
        ),
        Question(
            id="satisfied",
            text="Are you satisfied with the result of the treatment?",
            kind=QuestionKind.YES_NO,
        ),
        Question(
            id="recommend",
            text="Would you recommend the treatment to someone in your situation?",
            kind=QuestionKind.YES_NO,
        ),
        Question(id="comments", text="Anything else you want to tell us?", kind=QuestionKind.TEXT, required=False),
    )


def _default_iga_labels() -> tuple[str, ...]:
    return (
        "Greatly decreased",
        "Moderately decreased",
        "Slightly decreased",
        "No change",
        "Slightly increased",
        "Moderately increased",
        "Greatly increased",
    )


def _default_adverse_events() -> tuple[str, ...]:
    return (
        "Erythema (redness) beyond 48 h",
        "Pinpoint bleeding",
        "Scalp pain or tenderness",
        "Itching",
        "Swelling (oedema)",
        "Folliculitis or infection",
        "Contact dermatitis",
        "Headache",
    )


class OutcomeRules(_Model):
    """How outcomes are scored (:mod:`stampside.app.domain.outcomes`).

    The investigator's global assessment (IGA) rates density and coverage from ``iga_min`` to
    ``iga_max`` (−3 … +3), one label per point. An assessment counts as *improved* by the
    investigator when its density or its coverage rating is at least ``improved_min_iga``; a
    self-assessment counts as improved by the patient when the answer to
    ``patient_improvement_question`` scores at least ``improved_min_score``.
    """

    iga_min: int = Field(-3, ge=-10, le=0)
    iga_max: int = Field(3, ge=0, le=10)
    iga_labels: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=60)], ...], Strict(False)] = Field(
        default_factory=_default_iga_labels
    )
    improved_min_iga: int = Field(1, ge=-10, le=10)
    questionnaire: Annotated[tuple[Question, ...], Strict(False)] = Field(default_factory=_default_questionnaire)
    patient_improvement_question: DataId | None = "overall"
    improved_min_score: int = Field(1, ge=-100, le=100)
    adverse_event_suggestions: Annotated[
        tuple[Annotated[str, Field(min_length=1, max_length=120)], ...], Strict(False)
    ] = Field(default_factory=_default_adverse_events)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        points = self.iga_max - self.iga_min + 1
        if len(self.iga_labels) != points:
            raise ValueError(
                f"iga_labels needs one label per point from {self.iga_min} to {self.iga_max} ({points}), "
                f"got {len(self.iga_labels)}"
            )
        if not self.iga_min <= self.improved_min_iga <= self.iga_max:
            raise ValueError("improved_min_iga must be on the IGA scale")
        _unique_ids(self.questionnaire, "question")
        if self.patient_improvement_question is not None:
            try:
                question = self.question(self.patient_improvement_question)
            except KeyError:
                raise ValueError(
                    f"patient_improvement_question {self.patient_improvement_question!r} is not in the questionnaire"
                ) from None
            if question.kind is not QuestionKind.CHOICE:
                raise ValueError("patient_improvement_question must be a choice question")
        return self

    def question(self, question_id: str) -> Question:
        for question in self.questionnaire:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def iga_label(self, score: int) -> str:
        """The label of an IGA score ("+2 Moderately increased")."""
        if not self.iga_min <= score <= self.iga_max:
            raise ValueError(f"IGA score {score} is not between {self.iga_min} and {self.iga_max}")
        return self.iga_labels[score - self.iga_min]


class TreatmentProtocol(_Model):
    """A whole treatment protocol. Stored sessions keep its ``name`` and ``version``."""

    name: str = Field(min_length=1, max_length=120)
    version: str = Field(min_length=1, max_length=40)
    description: str = ""
    device: DeviceRequirements
    coverage: CoverageTargets
    force: ForceThresholds
    aftercare: AftercareRules
    course: CourseRules
    steps: Annotated[tuple[Step, ...], Strict(False)] = Field(min_length=1)
    screening: ScreeningRules = Field(default_factory=ScreeningRules)
    follow_up: FollowUpRules = Field(default_factory=FollowUpRules)
    photos: PhotoRules = Field(default_factory=PhotoRules)
    outcomes: OutcomeRules = Field(default_factory=OutcomeRules)

    @model_validator(mode="after")
    def _course_data_consistent(self) -> Self:
        for point in self.photos.time_points:
            if point.session is not None and point.session > self.course.sessions:
                raise ValueError(
                    f"photos: time point {point.id!r} names session {point.session}, "
                    f"but the course has {self.course.sessions}"
                )
            if point.months is not None and point.months not in self.follow_up.months:
                raise ValueError(
                    f"photos: time point {point.id!r} is at month {point.months}, "
                    f"which is not a follow-up month ({', '.join(map(str, self.follow_up.months))})"
                )
        return self

    @field_validator("steps")
    @classmethod
    def _steps_consistent(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        ids = [step.id for step in steps]
        for step_id in dict.fromkeys(ids):
            numbers = [str(n) for n, other in enumerate(ids, start=1) if other == step_id]
            if len(numbers) > 1:
                raise ValueError(f"step ids must be unique: {step_id!r} is used by steps {' and '.join(numbers)}")
        kinds = [step.kind for step in steps]
        if kinds.count(StepKind.STAMPING) > 1:
            raise ValueError("only one stamping step is allowed")
        if StepKind.SUMMARY in kinds and kinds[-1] is not StepKind.SUMMARY:
            raise ValueError("the summary step must be the last step")
        return steps

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"


def load_protocol(path: Path | str) -> TreatmentProtocol:
    """Read and validate a protocol file; any problem raises :class:`ProtocolFileError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProtocolFileError(path, [f"protocol file {path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ProtocolFileError(path, [f"protocol file {path}: {exc.strerror or exc}"]) from None
    return parse_protocol(text, source=path)


def parse_protocol(text: str, *, source: Path | str = "<protocol>") -> TreatmentProtocol:
    """Validate the TOML ``text`` of a protocol; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(text, source, exc) from None
    try:
        return TreatmentProtocol.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(text, source, exc) from None


@cache
def default_protocol() -> TreatmentProtocol:
    """The protocol shipped with Stampside (``app/protocols/default.toml``)."""
    return load_protocol(DEFAULT_PROTOCOL_PATH)


# --- error messages -------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _syntax_error(text: str, source: Path | str, exc: tomllib.TOMLDecodeError) -> ProtocolFileError:
    message = str(exc)
    match = _TOML_POSITION.search(message)
    line = int(match.group(1)) if match else None
    reason = _TOML_POSITION.sub("", message).strip()
    lines = text.splitlines()
    where = f"line {line}" if line is not None else "somewhere"
    field = ""
    if line is not None and 1 <= line <= len(lines):
        key = _key_on_line(lines[line - 1])
        field = f" (field {key})" if key else ""
        reason += f": {lines[line - 1].strip()!r}"
    return ProtocolFileError(source, [f"protocol file {source}, {where}{field}: not valid TOML: {reason}"], line)


def _key_on_line(line: str) -> str | None:
    stripped = line.strip()
    if stripped.startswith("["):
        return stripped.strip("[] ") or None
    key, sep, _ = stripped.partition("=")
    key = key.strip()
    return key if sep and key and not key.startswith("#") else None


def _validation_error(text: str, source: Path | str, exc: ValidationError) -> ProtocolFileError:
    key_lines = toml_key_lines(text)
    problems: list[str] = []
    first_line: int | None = None
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = _line_for(loc, key_lines)
        first_line = first_line if first_line is not None else line
        message = str(error["msg"]).removeprefix("Value error, ")
        value = error.get("input")
        if error["type"] not in ("missing", "extra_forbidden") and isinstance(value, str | int | float | bool):
            message += f" (got {value!r})"
        field = render_loc(loc) or "(top level)"
        problems.append(f"protocol file {source}, line {line}: {field}: {message}")
    return ProtocolFileError(source, problems, first_line)


def _line_for(loc: Loc, key_lines: dict[Loc, int]) -> int:
    """The line of the longest prefix of ``loc`` that the file spells out (line 1 for the top level)."""
    for end in range(len(loc), 0, -1):
        line = key_lines.get(loc[:end])
        if line is not None:
            return line
    return 1


def render_loc(loc: Loc) -> str:
    """A pydantic location as the dotted path a person would write (``steps[2].timer.seconds``)."""
    text = ""
    for part in loc:
        if part == "[key]":
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", key)
    return [part[1:-1] if part[:1] in "\"'" else part for part in parts]


def toml_key_lines(text: str) -> dict[Loc, int]:
    """Map each key path the TOML ``text`` spells out to its line number (1-based).

    Arrays of tables get their index (``("steps", 2, "timer")``). Lines inside multi-line
    strings and arrays are skipped; keys inside inline tables map to the line of their key.
    """
    lines: dict[Loc, int] = {}
    aot_index: dict[Loc, int] = {}
    prefix: Loc = ()
    depth = 0
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if in_string in raw:
                in_string = None
            continue
        if depth > 0:
            depth += _bracket_balance(raw)
            continue
        header = _HEADER.match(raw)
        if header and not _KEY.match(raw):
            names = _split_key(header.group(2))
            path: Loc = ()
            for i, name in enumerate(names):
                path = (*path, name)
                if i < len(names) - 1 and path in aot_index:
                    path = (*path, aot_index[path])
            if header.group(1) == "[[":
                aot_index[path] = aot_index.get(path, -1) + 1
                lines.setdefault(path, number)
                path = (*path, aot_index[path])
            lines[path] = number
            prefix = path
            continue
        key = _KEY.match(raw)
        if key:
            path = (*prefix, *_split_key(key.group(1)))
            lines.setdefault(path, number)
            value = raw[key.end() :].strip()
            for quote in ('"""', "'''"):
                if value.startswith(quote) and value.count(quote) == 1:
                    in_string = quote
            if in_string is None:
                depth = max(0, _bracket_balance(value))
    return lines


def _bracket_balance(value: str) -> int:
    """Open minus closed brackets outside simple quoted strings and comments."""
    balance = 0
    quote: str | None = None
    for char in value:
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#":
            break
        elif char in "[{":
            balance += 1
        elif char in "]}":
            balance -= 1
    return balance
