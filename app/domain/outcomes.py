"""Outcomes: the investigator's global assessment, the patient's self-assessment, adverse events, blinded ratings.

At each outcome time point (protocol time points with ``outcomes = true``: after session 6 and
the 3- and 6-month follow-ups by default) the investigator rates the change in hair
*density* and *coverage* on the protocol's IGA scale (−3 … +3), and the patient answers the
protocol's questionnaire. Adverse events (what, when, how severe) can be recorded at any time.

The ``validate_*`` functions turn what was typed into checked, frozen values, or raise
:class:`OutcomeInputError` with one line per problem, naming the field.

Blinded rating: :func:`blinded_pairs` puts each before/after pair of photos in a random
left/right order (seeded, so a rating round can be rebuilt) and shuffles the pairs; the rater
says which photo shows more hair (:class:`BlindedCall`) without knowing which is which, and
:meth:`BlindedPair.improved` reads the call back.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from stampside.app.domain.treatment_protocol import OutcomeRules, QuestionKind, TreatmentProtocol

__all__ = [
    "AdverseEvent",
    "Answer",
    "BlindedCall",
    "BlindedPair",
    "IgaAssessment",
    "OutcomeInputError",
    "PairSource",
    "SelfAssessment",
    "Severity",
    "Side",
    "blinded_pairs",
    "outcome_time_points",
    "validate_adverse_event",
    "validate_iga",
    "validate_self_assessment",
]

MAX_TEXT_CHARS = 2000
MAX_WHAT_CHARS = 200


class OutcomeInputError(ValueError):
    """What was typed for an outcome cannot be stored; one line per problem, naming the field."""


class Severity(StrEnum):
    MILD = "mild"
    MODERATE = "moderate"
    SEVERE = "severe"


def outcome_time_points(protocol: TreatmentProtocol) -> tuple[str, ...]:
    """The ids of the time points at which outcomes are recorded, in protocol order."""
    return tuple(point.id for point in protocol.photos.time_points if point.outcomes)


def _check_time_point(protocol: TreatmentProtocol, time_point: str, problems: list[str]) -> None:
    allowed = outcome_time_points(protocol)
    if time_point not in allowed:
        problems.append(f"time point: {time_point!r} is not an outcome time point ({', '.join(allowed)})")


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


@dataclass(frozen=True, slots=True)
class IgaAssessment:
    """The investigator's global assessment at a time point: density and coverage on the IGA scale."""

    time_point: str
    density: int
    coverage: int
    rater: str
    note: str = ""

    def improved(self, rules: OutcomeRules) -> bool:
        """Improved by the investigator: density or coverage at least ``improved_min_iga``."""
        return max(self.density, self.coverage) >= rules.improved_min_iga


def _iga_score(rules: OutcomeRules, field: str, value: object, problems: list[str]) -> int:
    text = str(value).strip().replace("−", "-")
    try:
        if isinstance(value, bool | float):
            raise ValueError
        score = value if isinstance(value, int) else int(text)
    except ValueError:
        problems.append(f"{field}: {text!r} is not a whole number from {rules.iga_min:+d} to {rules.iga_max:+d}")
        return 0
    if not rules.iga_min <= score <= rules.iga_max:
        problems.append(f"{field}: {score:+d} is not on the scale {rules.iga_min:+d} … {rules.iga_max:+d}")
    return score


def validate_iga(
    protocol: TreatmentProtocol,
    *,
    time_point: str,
    density: int | str,
    coverage: int | str,
    rater: str,
    note: str | None = None,
) -> IgaAssessment:
    """A checked IGA assessment: scores accept ``2``, ``"+2"``, ``"-1"``, ``"−1"``."""
    problems: list[str] = []
    _check_time_point(protocol, time_point, problems)
    rules = protocol.outcomes
    density_score = _iga_score(rules, "density", density, problems)
    coverage_score = _iga_score(rules, "coverage", coverage, problems)
    who = _clean(rater)
    if not who:
        problems.append("rater: name the investigator who rates")
    text = _clean(note)
    if len(text) > MAX_TEXT_CHARS:
        problems.append(f"note: longer than {MAX_TEXT_CHARS} characters")
    if problems:
        raise OutcomeInputError("\n".join(problems))
    return IgaAssessment(time_point, density_score, coverage_score, who, text)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: a choice id, ``"yes"``/``"no"``, or free text; ``score`` for choices."""

    question_id: str
    value: str
    score: int | None = None


@dataclass(frozen=True, slots=True)
class SelfAssessment:
    """The patient's answers at a time point, in questionnaire order (unanswered optional ones left out)."""

    time_point: str
    answers: tuple[Answer, ...]

    def answer(self, question_id: str) -> Answer | None:
        for answer in self.answers:
            if answer.question_id == question_id:
                return answer
        return None

    def improved(self, rules: OutcomeRules) -> bool | None:
        """Improved by the patient (the improvement question scores high enough); ``None`` if not asked."""
        if rules.patient_improvement_question is None:
            return None
        answer = self.answer(rules.patient_improvement_question)
        if answer is None or answer.score is None:
            return None
        return answer.score >= rules.improved_min_score


_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


def validate_self_assessment(
    protocol: TreatmentProtocol, *, time_point: str, answers: Mapping[str, str | bool | None]
) -> SelfAssessment:
    """Check answers against the questionnaire: each required question answered, choices known, no strangers.

    A choice is given by its id or its label (any case); yes/no by a bool or yes/no/y/n.
    """
    problems: list[str] = []
    _check_time_point(protocol, time_point, problems)
    rules = protocol.outcomes
    known = {question.id for question in rules.questionnaire}
    for question_id in answers:
        if question_id not in known:
            problems.append(f"{question_id}: not a question of the questionnaire")
    result: list[Answer] = []
    for question in rules.questionnaire:
        raw = answers.get(question.id)
        text = raw if isinstance(raw, bool) else _clean(raw)
        if text == "" or text is None:
            if question.required:
                problems.append(f"{question.id}: needs an answer ({question.text})")
            continue
        if question.kind is QuestionKind.YES_NO:
            word = ("yes" if text else "no") if isinstance(text, bool) else text.lower()
            if word in _YES:
                result.append(Answer(question.id, "yes"))
            elif word in _NO:
                result.append(Answer(question.id, "no"))
            else:
                problems.append(f"{question.id}: answer yes or no, not {text!r}")
        elif question.kind is QuestionKind.CHOICE:
            wanted = str(text).lower()
            choice = next(
                (c for c in question.choices if wanted in (c.id, c.label.lower(), c.label.lower().replace(" ", "_"))),
                None,
            )
            if choice is None:
                labels = ", ".join(c.label for c in question.choices)
                problems.append(f"{question.id}: {text!r} is not one of: {labels}")
            else:
                result.append(Answer(question.id, choice.id, choice.score))
        else:
            if len(str(text)) > MAX_TEXT_CHARS:
                problems.append(f"{question.id}: longer than {MAX_TEXT_CHARS} characters")
            else:
                result.append(Answer(question.id, str(text)))
    if problems:
        raise OutcomeInputError("\n".join(problems))
    return SelfAssessment(time_point, tuple(result))


@dataclass(frozen=True, slots=True)
class AdverseEvent:
    """Something unwanted that happened: what, since when, how severe; maybe linked to a session."""

    what: str
    onset_on: date
    severity: Severity
    resolved_on: date | None = None
    session_number: int | None = None
    notes: str = ""


def validate_adverse_event(
    *,
    what: str,
    onset_on: date,
    severity: Severity | str,
    today: date,
    resolved_on: date | None = None,
    session_number: int | None = None,
    notes: str | None = None,
) -> AdverseEvent:
    """A checked adverse event; its days may not be in the future, nor resolve before onset."""
    problems: list[str] = []
    text = _clean(what)
    if len(text) < 2:
        problems.append("what: describe the event (for example 'erythema beyond 48 h')")
    elif len(text) > MAX_WHAT_CHARS:
        problems.append(f"what: longer than {MAX_WHAT_CHARS} characters; put details in the notes")
    try:
        level = Severity(str(severity).strip().lower())
    except ValueError:
        problems.append(f"severity: {severity!r} is not one of mild, moderate, severe")
        level = Severity.MILD
    if onset_on > today:
        problems.append(f"onset: {onset_on.isoformat()} is in the future")
    if resolved_on is not None:
        if resolved_on < onset_on:
            problems.append(f"resolved: {resolved_on.isoformat()} is before the onset")
        elif resolved_on > today:
            problems.append(f"resolved: {resolved_on.isoformat()} is in the future")
    if session_number is not None and session_number < 1:
        problems.append("session: a session number starts at 1")
    details = _clean(notes)
    if len(details) > MAX_TEXT_CHARS:
        problems.append(f"notes: longer than {MAX_TEXT_CHARS} characters")
    if problems:
        raise OutcomeInputError("\n".join(problems))
    return AdverseEvent(text, onset_on, level, resolved_on, session_number, details)


# --- blinded rating ---------------------------------------------------------------------------


class Side(StrEnum):
    LEFT = "left"
    RIGHT = "right"


class BlindedCall(StrEnum):
    """The rater's call on a pair: which photo shows more hair, or no visible difference."""

    LEFT = "left"
    RIGHT = "right"
    SAME = "same"


@dataclass(frozen=True, slots=True)
class PairSource:
    """A before and an after photo of one view of one course (photo ids from storage)."""

    course_id: int
    view: str
    before_photo_id: int
    after_photo_id: int


@dataclass(frozen=True, slots=True)
class BlindedPair:
    """A pair as the rater sees it: ``position`` in the round, two unlabeled photos, left and right."""

    position: int
    course_id: int
    view: str
    left_photo_id: int
    right_photo_id: int
    after_side: Side

    @property
    def before_photo_id(self) -> int:
        return self.right_photo_id if self.after_side is Side.LEFT else self.left_photo_id

    @property
    def after_photo_id(self) -> int:
        return self.left_photo_id if self.after_side is Side.LEFT else self.right_photo_id

    def improved(self, call: BlindedCall) -> bool | None:
        """True when the rater picked the after photo, False for the before photo, None for "same"."""
        if call is BlindedCall.SAME:
            return None
        return call.value == self.after_side.value


def blinded_pairs(sources: Iterable[PairSource], seed: int) -> list[BlindedPair]:
    """The pairs in a seeded random order, each with its photos in a seeded random left/right order.

    The same sources (in any order) and seed always give the same round.
    """
    rng = random.Random(seed)
    ordered = sorted(sources, key=lambda s: (s.course_id, s.view, s.before_photo_id, s.after_photo_id))
    rng.shuffle(ordered)
    pairs = []
    for position, source in enumerate(ordered, start=1):
        after_side = Side.LEFT if rng.random() < 0.5 else Side.RIGHT
        left, right = (
            (source.after_photo_id, source.before_photo_id)
            if after_side is Side.LEFT
            else (source.before_photo_id, source.after_photo_id)
        )
        pairs.append(BlindedPair(position, source.course_id, source.view, left, right, after_side))
    return pairs
