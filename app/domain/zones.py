"""Scalp zones: their wire ids, names, keys, default areas, and the Norwood grade defaults.

The ids are the wire's (``Stamp.zone``): 0 means "unknown" (the host credits its active
zone) and 6–15 are reserved. ``docs/coverage.md`` explains the default areas and the
Norwood mapping.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

#: The wire's zone id for "the device does not know": the host credits its active zone.
UNKNOWN_ZONE_ID = 0


class Zone(enum.IntEnum):
    """A scalp zone of the top-down map. The value is the wire's zone id."""

    FRONTAL = 1
    MID_SCALP = 2
    VERTEX = 3
    LEFT_TEMPORAL = 4
    RIGHT_TEMPORAL = 5

    @property
    def label(self) -> str:
        """The name a practitioner reads: "Mid-scalp"."""
        return _LABELS[self]

    @property
    def key(self) -> str:
        """The single key that makes this zone the active one."""
        return _KEYS[self]

    @classmethod
    def from_wire(cls, zone_id: int) -> Zone | None:
        """The zone a device zone id names, or None for 0 (unknown) and reserved ids."""
        try:
            return cls(zone_id)
        except ValueError:
            return None


def credited_zone(device_zone: int, active: Zone | None) -> Zone | None:
    """The zone a stamp counts in: the device's zone (1–5), else — the device sent 0, unknown —
    the zone being stamped; a reserved id (6–15) counts in none (unassigned).

    The one rule, used where stamps are stored with their session and by the coverage model.
    """
    return active if device_zone == 0 else Zone.from_wire(device_zone)


_LABELS: Mapping[Zone, str] = MappingProxyType(
    {
        Zone.FRONTAL: "Frontal",
        Zone.MID_SCALP: "Mid-scalp",
        Zone.VERTEX: "Vertex",
        Zone.LEFT_TEMPORAL: "Left temporal",
        Zone.RIGHT_TEMPORAL: "Right temporal",
    }
)

_KEYS: Mapping[Zone, str] = MappingProxyType(
    {
        Zone.FRONTAL: "f",
        Zone.MID_SCALP: "m",
        Zone.VERTEX: "v",
        Zone.LEFT_TEMPORAL: "l",
        Zone.RIGHT_TEMPORAL: "r",
    }
)

#: Zone for each switching key: the letters above, and the digits 1–5 (the wire ids).
ZONE_KEYS: Mapping[str, Zone] = MappingProxyType(
    {**{key: zone for zone, key in _KEYS.items()}, **{str(int(zone)): zone for zone in Zone}}
)


def next_zone(active: Zone | None, treated: Iterable[Zone]) -> Zone:
    """The zone after ``active`` for a "next zone" key (a foot switch): the next treated zone in
    zone order, round to the first; every zone in turn when none is treated."""
    order = sorted(set(treated)) or list(Zone)
    if active is None:
        return order[0]
    later = [zone for zone in order if zone > active]
    return later[0] if later else order[0]


def zone_for_key(key: str) -> Zone | None:
    """The zone a key press selects (letters in either case, or the digits 1–5), else None."""
    return ZONE_KEYS.get(key.lower())


#: Default area of each zone on an adult male scalp, cm². Planning figures, not
#: measurements: ``docs/coverage.md`` says where they come from. The practitioner edits them.
DEFAULT_AREA_CM2: Mapping[Zone, float] = MappingProxyType(
    {
        Zone.FRONTAL: 60.0,
        Zone.MID_SCALP: 50.0,
        Zone.VERTEX: 50.0,
        Zone.LEFT_TEMPORAL: 25.0,
        Zone.RIGHT_TEMPORAL: 25.0,
    }
)


class NorwoodGrade(enum.Enum):
    """The Norwood grades whose treated zones the app proposes."""

    III = "3"
    III_VERTEX = "3V"
    IV = "4"

    @property
    def default_zones(self) -> frozenset[Zone]:
        """The zones treated by default for this grade (the practitioner may change them)."""
        return NORWOOD_DEFAULT_ZONES[self]


#: Treated zones proposed for each grade. See ``docs/coverage.md`` for the reasoning.
NORWOOD_DEFAULT_ZONES: Mapping[NorwoodGrade, frozenset[Zone]] = MappingProxyType(
    {
        NorwoodGrade.III: frozenset({Zone.FRONTAL, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL}),
        NorwoodGrade.III_VERTEX: frozenset({Zone.FRONTAL, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL, Zone.VERTEX}),
        NorwoodGrade.IV: frozenset(Zone),
    }
)


class NorwoodGradeError(ValueError):
    """A Norwood grade the app cannot read, with a message fit to show as it is."""


_ROMAN = {"iii": "3", "iv": "4", "i": "1", "ii": "2", "v": "5", "vi": "6", "vii": "7"}
_GRADE_RE = re.compile(r"^(?P<num>iii|ii|iv|vii|vi|v|i|\d+)(?P<vertex>v|vertex)?$")
_ACCEPTED = ", ".join(grade.value for grade in NorwoodGrade)


def parse_norwood_grade(text: str) -> NorwoodGrade:
    """Read a grade as typed: "3", "3V", "3 vertex", "III", "IIIv", "4", "IV" (any case).

    Raises :class:`NorwoodGradeError` naming what was typed and what is accepted.
    """
    compact = re.sub(r"[\s\-_.]", "", text).lower()
    compact = compact.removeprefix("norwood").removeprefix("nw")
    match = _GRADE_RE.match(compact)
    if match:
        num = _ROMAN.get(match["num"], match["num"])
        canonical = num + ("V" if match["vertex"] else "")
        for grade in NorwoodGrade:
            if grade.value == canonical:
                return grade
        raise NorwoodGradeError(
            f"Norwood grade {text.strip()!r} has no default zones (accepted: {_ACCEPTED}); choose the zones by hand"
        )
    hint = ""
    close = difflib.get_close_matches(text.strip().upper(), [grade.value for grade in NorwoodGrade], n=1, cutoff=0.5)
    if close:
        hint = f"; did you mean {close[0]}?"
    raise NorwoodGradeError(f"unknown Norwood grade {text.strip()!r} (accepted: {_ACCEPTED}){hint}")
