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

from app.domain.zones import Zone

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
    """A check on the device that a step can require; evaluated by :mod:`app.domain.gates`."""

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
    """The stamping target the coverage model (:mod:`app.domain.coverage`) measures each treated zone against.

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
        """The target density of every zone, ready for :class:`~app.domain.coverage.CoverageModel`."""
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
    """A course of ``sessions`` sessions, ``interval_days`` apart."""

    sessions: int = Field(ge=1, le=100)
    interval_days: int = Field(ge=1, le=365)


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
