"""How much of each treated scalp zone the stamping has covered, against its target.

For each zone::

    coverage % = min(100, 100 × covered_cm² ÷ (area_cm² × target_density))
    covered_cm² = Σ over the stamps credited to the zone of (footprint_mm² ÷ 100)

With one head all session, ``covered_cm² = stamps × footprint_mm² ÷ 100``: the issue's
"stamps × footprint ÷ (area × density)". ``target_density`` is dimensionless: the cm² of
head footprint to stamp per cm² of zone, i.e. how many times, on average, each point of
the zone should be needled ("passes"). ``docs/coverage.md`` has the details and a worked
example.

Each stamp is keyed on its ``(life, boot, seq)``: adding the same stamp again (a replay, a
rebuild over live stamps) changes nothing. The arithmetic is exact (fractions), so "at
target" never flickers on a rounding error.

A stored session's figures (the summary screen, the session report, the demo data) come from
one place: :func:`session_coverage`, on a model built by :func:`session_model` with the one
set of fallbacks described there (and in ``docs/coverage.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from stampside.app.domain.zones import DEFAULT_AREA_CM2, NorwoodGrade, Zone, credited_zone

#: A stamp's identity: (life, boot, seq) — the device numbering it came in, then its wire key.
StampKey = tuple[int, int, int]

_HUNDRED = Fraction(100)

#: The head footprint (mm²) assumed while the session has none stored: a 10 × 10 mm head.
DEFAULT_FOOTPRINT_MM2 = 100


@dataclass(frozen=True, slots=True)
class CreditedStamp:
    """One stamp as the model counted it: what to store, and what :meth:`CoverageModel.load` takes back.

    ``zone`` is None when the device sent a reserved zone id (6–15): the stamp is counted
    as unassigned and covers no zone.
    """

    boot: int
    seq: int
    zone: Zone | None
    footprint_mm2: int
    #: Which numbering of the device it came in (1, then 2 after the device restarted its numbering).
    life: int = 1

    @property
    def key(self) -> StampKey:
        return (self.life, self.boot, self.seq)


@dataclass(frozen=True, slots=True)
class Credit:
    """What :meth:`CoverageModel.add_stamp` did with one stamp."""

    stamp: CreditedStamp
    #: The zone id the device sent (0 = unknown, 6–15 reserved).
    device_zone: int
    #: The stamp had been counted already (same boot and seq): nothing changed.
    duplicate: bool
    #: This stamp brought its (treated) zone to its target: prompt the practitioner, once.
    just_reached: Zone | None

    @property
    def zone(self) -> Zone | None:
        """The zone credited, or None when unassigned."""
        return self.stamp.zone

    @property
    def unassigned(self) -> bool:
        return self.stamp.zone is None


@dataclass(frozen=True, slots=True)
class ZoneCoverage:
    """One zone's figures at a moment."""

    zone: Zone
    treated: bool
    area_cm2: float
    target_density: float | None
    stamps: int
    covered_cm2: float
    #: area × density, cm² of footprint to stamp; None without a density.
    target_cm2: float | None
    #: 0–100; None without a density.
    percent: float | None
    reached: bool
    #: Stamps still needed at the current footprint (0 when reached); None without a density.
    stamps_to_target: int | None

    @property
    def level(self) -> int:
        """The map's level for this zone (:func:`coverage_level`)."""
        return coverage_level(self.percent, self.reached)


# -- the coverage map's levels --------------------------------------------------------------

#: The width of one level of the coverage map, in %: level n (0–4) runs from n × 20 % to just under (n + 1) × 20 %.
LEVEL_STEP_PERCENT = 20
#: The top level of the map: only a zone at its target is at it.
TARGET_LEVEL = 5
#: Every level, lowest first.
LEVELS = tuple(range(TARGET_LEVEL + 1))


def coverage_level(percent: float | None, reached: bool) -> int:
    """The map's level (0–5) for a coverage percentage: steps of 20 %, 5 only when the zone is at target.

    A zone without a target density (``percent`` None) is at level 0.
    """
    if reached:
        return TARGET_LEVEL
    if percent is None:
        return 0
    return min(TARGET_LEVEL - 1, max(0, int(percent // LEVEL_STEP_PERCENT)))


def level_bounds(level: int) -> tuple[int, int]:
    """The whole percents shown at a level, lowest and highest: (0, 19), (20, 39) … (80, 99), then (100, 100)."""
    if level not in LEVELS:
        raise ValueError(f"coverage level must be 0–{TARGET_LEVEL}, got {level!r}")
    if level == TARGET_LEVEL:
        return (100, 100)
    low = level * LEVEL_STEP_PERCENT
    return (low, low + LEVEL_STEP_PERCENT - 1)


@dataclass(frozen=True, slots=True)
class CoverageTotals:
    """Totals over the whole session."""

    #: Every distinct stamp counted, wherever it went.
    stamps: int
    #: Stamps in zones that are not treated.
    untreated_stamps: int
    #: Stamps with a reserved zone id.
    unassigned_stamps: int
    #: Stamps credited to treated zones.
    treated_stamps: int
    #: Over the treated zones: Σ min(covered, target) ÷ Σ target, 0–100 (100 with no treated zone).
    percent: float


def _positive(value: float, what: str) -> Fraction:
    """``value`` as an exact fraction of its shortest decimal form (0.1 → 1/10); it must be finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be greater than 0, got {value!r}")
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def _footprint(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"head footprint must be a whole number of mm² greater than 0, got {value!r}")
    return value


class CoverageModel:
    """Live coverage of the scalp zones during the stamping step.

    Built from the treated zones, the target density (one number for every zone, or one
    per zone), the head footprint in mm², and optionally zone areas in cm² (defaults:
    :data:`~stampside.app.domain.zones.DEFAULT_AREA_CM2`). Every one of them can be edited later.

    Stamps are counted per zone whether or not the zone is treated: removing a zone from
    the treatment and adding it back keeps its stamps.
    """

    def __init__(
        self,
        treated: Iterable[Zone],
        target_density: float | Mapping[Zone, float],
        footprint_mm2: int,
        areas_cm2: Mapping[Zone, float] | None = None,
        active: Zone | None = None,
    ) -> None:
        self._treated: set[Zone] = {Zone(zone) for zone in treated}
        self._areas: dict[Zone, Fraction] = {
            zone: _positive(cm2, f"{zone.label} area") for zone, cm2 in DEFAULT_AREA_CM2.items()
        }
        for zone, cm2 in (areas_cm2 or {}).items():
            self._areas[Zone(zone)] = _positive(cm2, f"{Zone(zone).label} area")
        self._density: dict[Zone, Fraction] = {}
        if isinstance(target_density, Mapping):
            for zone, density in target_density.items():
                self._density[Zone(zone)] = _positive(density, f"{Zone(zone).label} target density")
        else:
            value = _positive(target_density, "target density")
            self._density = dict.fromkeys(Zone, value)
        missing = sorted(self._treated - self._density.keys())
        if missing:
            names = ", ".join(zone.label for zone in missing)
            raise ValueError(f"no target density for the treated zone(s): {names}")
        self._footprint = _footprint(footprint_mm2)
        self._active = Zone(active) if active is not None else min(self._treated, default=Zone.FRONTAL)
        self._seen: dict[StampKey, CreditedStamp] = {}
        self._stamps: dict[Zone, int] = dict.fromkeys(Zone, 0)
        #: Covered area per zone in mm² (whole numbers: the sum of the footprints).
        self._covered_mm2: dict[Zone, int] = dict.fromkeys(Zone, 0)
        self._unassigned = 0
        self._announced: set[Zone] = set()
        self._rearm()

    # -- configuration --------------------------------------------------------------

    @property
    def treated(self) -> frozenset[Zone]:
        return frozenset(self._treated)

    def add_zone(self, zone: Zone, target_density: float | None = None) -> None:
        """Treat ``zone`` too; a zone without a density yet needs ``target_density``."""
        zone = Zone(zone)
        if target_density is not None:
            self._density[zone] = _positive(target_density, f"{zone.label} target density")
        elif zone not in self._density:
            raise ValueError(f"{zone.label} has no target density: give one to treat it")
        self._treated.add(zone)
        self._rearm()

    def remove_zone(self, zone: Zone) -> None:
        """Stop treating ``zone``. Its stamps stay counted (as stamps in an untreated zone)."""
        self._treated.discard(Zone(zone))
        self._rearm()

    def area_cm2(self, zone: Zone) -> float:
        return float(self._areas[Zone(zone)])

    def set_area(self, zone: Zone, area_cm2: float) -> None:
        """Edit a zone's area in cm²; it must be a finite number greater than 0."""
        zone = Zone(zone)
        self._areas[zone] = _positive(area_cm2, f"{zone.label} area")
        self._rearm()

    def target_density(self, zone: Zone) -> float | None:
        density = self._density.get(Zone(zone))
        return None if density is None else float(density)

    def set_target_density(self, zone: Zone, target_density: float) -> None:
        zone = Zone(zone)
        self._density[zone] = _positive(target_density, f"{zone.label} target density")
        self._rearm()

    @property
    def footprint_mm2(self) -> int:
        return self._footprint

    def set_footprint(self, footprint_mm2: int) -> None:
        """A new head was fitted (HEAD_CHANGED). Stamps already counted keep their old footprint."""
        self._footprint = _footprint(footprint_mm2)

    @property
    def active(self) -> Zone:
        """The zone that stamps without a device zone (zone 0) are credited to."""
        return self._active

    def set_active(self, zone: Zone) -> None:
        self._active = Zone(zone)

    # -- counting -------------------------------------------------------------------

    def add_stamp(self, boot: int, seq: int, device_zone: int, life: int = 1) -> Credit:
        """Count one stamp and say where it went (:func:`~stampside.app.domain.zones.credited_zone`).

        A device zone 1–5 is credited there; 0 (unknown) goes to the active zone; any other
        id (6–15 are reserved) is counted as unassigned. A ``(life, boot, seq)`` already
        counted changes nothing and comes back with ``duplicate=True``.
        """
        zone = credited_zone(device_zone, self._active)
        return self.add_credited(CreditedStamp(boot, seq, zone, self._footprint, life), device_zone)

    def add_credited(self, stamp: CreditedStamp, device_zone: int = 0) -> Credit:
        """Count a stamp whose zone was decided when it was stored (0 footprint: the current head's)."""
        known = self._seen.get(stamp.key)
        if known is not None:
            return Credit(known, device_zone, duplicate=True, just_reached=None)
        if stamp.footprint_mm2 == 0:  # stored with the current head
            stamp = CreditedStamp(stamp.boot, stamp.seq, stamp.zone, self._footprint, stamp.life)
        _footprint(stamp.footprint_mm2)
        return Credit(stamp, device_zone, duplicate=False, just_reached=self._count(stamp))

    def load(self, stamps: Iterable[CreditedStamp]) -> None:
        """Count stamps stored earlier (resuming a session), each in the zone it was credited to.

        Duplicates are skipped as in :meth:`add_stamp`. No "just reached" prompt comes from
        loading: a zone at its target afterwards counts as already announced.
        """
        for stamp in stamps:
            if stamp.key not in self._seen:
                if stamp.footprint_mm2 == 0:  # stored with the session's head
                    stamp = CreditedStamp(stamp.boot, stamp.seq, stamp.zone, self._footprint, stamp.life)
                _footprint(stamp.footprint_mm2)
                self._count(stamp)
        self._rearm()

    def _count(self, stamp: CreditedStamp) -> Zone | None:
        self._seen[stamp.key] = stamp
        zone = stamp.zone
        if zone is None:
            self._unassigned += 1
            return None
        self._stamps[zone] += 1
        self._covered_mm2[zone] += stamp.footprint_mm2
        if zone in self._treated and zone not in self._announced and self._reached(zone):
            self._announced.add(zone)
            return zone
        return None

    def _rearm(self) -> None:
        """After an edit: zones at target count as announced, zones back under target may prompt again."""
        self._announced = {zone for zone in self._treated if self._reached(zone)}

    # -- queries --------------------------------------------------------------------

    def _target_mm2(self, zone: Zone) -> Fraction | None:
        density = self._density.get(zone)
        return None if density is None else self._areas[zone] * density * _HUNDRED

    def _reached(self, zone: Zone) -> bool:
        target = self._target_mm2(zone)
        return target is not None and self._covered_mm2[zone] >= target

    def percent(self, zone: Zone) -> float | None:
        """Coverage of ``zone`` in % (0–100), or None when it has no target density."""
        target = self._target_mm2(Zone(zone))
        if target is None:
            return None
        return float(min(_HUNDRED, _HUNDRED * self._covered_mm2[Zone(zone)] / target))

    def stamps_in(self, zone: Zone) -> int:
        return self._stamps[Zone(zone)]

    def zone(self, zone: Zone) -> ZoneCoverage:
        zone = Zone(zone)
        target = self._target_mm2(zone)
        density = self._density.get(zone)
        covered = self._covered_mm2[zone]
        to_target = None if target is None else max(0, math.ceil((target - covered) / self._footprint))
        return ZoneCoverage(
            zone=zone,
            treated=zone in self._treated,
            area_cm2=float(self._areas[zone]),
            target_density=None if density is None else float(density),
            stamps=self._stamps[zone],
            covered_cm2=covered / 100,
            target_cm2=None if target is None else float(target / _HUNDRED),
            percent=self.percent(zone),
            reached=self._reached(zone),
            stamps_to_target=to_target,
        )

    def zones(self) -> list[ZoneCoverage]:
        """Every zone, treated or not, in id order."""
        return [self.zone(zone) for zone in Zone]

    def reached_zones(self) -> list[Zone]:
        """Treated zones at their target, in id order."""
        return sorted(zone for zone in self._treated if self._reached(zone))

    def under_target(self) -> list[ZoneCoverage]:
        """Treated zones still under target, in id order: the warning at the end of the step."""
        return [self.zone(zone) for zone in sorted(self._treated) if not self._reached(zone)]

    def untreated_stamps(self) -> dict[Zone, int]:
        """Stamps credited to zones that are not treated, by zone (only zones with stamps)."""
        return {zone: n for zone, n in self._stamps.items() if n and zone not in self._treated}

    @property
    def unassigned_stamps(self) -> int:
        """Stamps whose device zone id was reserved (6–15) or otherwise unknown to the app."""
        return self._unassigned

    def counted(self) -> list[CreditedStamp]:
        """Every stamp counted, in the order it was counted (what :meth:`load` takes back)."""
        return list(self._seen.values())

    def totals(self) -> CoverageTotals:
        untreated = sum(self.untreated_stamps().values())
        treated = sum(self._stamps[zone] for zone in self._treated)
        done = Fraction(0)
        wanted = Fraction(0)
        for zone in self._treated:
            target = self._target_mm2(zone)
            if target is None:  # pragma: no cover - a treated zone always has a density
                continue
            wanted += target
            done += min(target, Fraction(self._covered_mm2[zone]))
        percent = float(_HUNDRED * done / wanted) if wanted else 100.0
        return CoverageTotals(
            stamps=len(self._seen),
            untreated_stamps=untreated,
            unassigned_stamps=self._unassigned,
            treated_stamps=treated,
            percent=percent,
        )


# -- a stored session's figures -----------------------------------------------------------


class ZoneSettingLike(Protocol):
    """A treated zone as stored with a session (``app.storage.sessions.ZoneSetting`` is one)."""

    @property
    def zone(self) -> Zone: ...

    @property
    def area_cm2(self) -> float: ...

    @property
    def target_density(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class SessionCoverage:
    """A stored session's stamp count and coverage: what the summary screen and the session report show."""

    #: Every stamp stored with the session.
    stamps: int
    #: The footprint the coverage used (stored, else :data:`DEFAULT_FOOTPRINT_MM2`).
    footprint_mm2: int
    #: Every zone, treated or not, in id order.
    zones: tuple[ZoneCoverage, ...]
    totals: CoverageTotals

    @property
    def treated(self) -> frozenset[Zone]:
        return frozenset(zone.zone for zone in self.zones if zone.treated)

    @property
    def listed(self) -> tuple[ZoneCoverage, ...]:
        """The zones a summary lists: treated ones, and untreated ones that have stamps."""
        return tuple(zone for zone in self.zones if zone.treated or zone.stamps)

    @property
    def unassigned(self) -> int:
        """Stamps that cover no zone (a reserved device zone id, or zone 0 never credited)."""
        return self.totals.unassigned_stamps

    @property
    def untreated(self) -> int:
        """Stamps credited to zones that are not treated."""
        return self.totals.untreated_stamps

    @property
    def percent(self) -> float:
        """The session total over the treated zones (:meth:`CoverageModel.totals`)."""
        return self.totals.percent

    def zone(self, zone: Zone) -> ZoneCoverage:
        return self.zones[list(Zone).index(Zone(zone))]


def treated_zones(zones: Iterable[ZoneSettingLike], norwood_grade: NorwoodGrade | None = None) -> frozenset[Zone]:
    """The zones a session treats: those stored with it, else the Norwood grade's defaults, else all five."""
    stored = frozenset(Zone(setting.zone) for setting in zones)
    if stored:
        return stored
    if norwood_grade is not None:
        return norwood_grade.default_zones
    return frozenset(Zone)


def session_model(
    zones: Iterable[ZoneSettingLike],
    densities: Mapping[Zone, float],
    footprint_mm2: int | None,
    *,
    norwood_grade: NorwoodGrade | None = None,
) -> CoverageModel:
    """An empty coverage model for a session, with the one set of fallbacks every reader uses.

    * treated zones: the zones stored with the session, else ``norwood_grade``'s defaults,
      else all five (:func:`treated_zones`);
    * area: the one stored with the zone, else :data:`~stampside.app.domain.zones.DEFAULT_AREA_CM2`;
    * target density: the one stored with the zone, else ``densities`` (the protocol's); a zone
      with neither (only when no protocol is known) is not treated: it has no target;
    * footprint: ``footprint_mm2`` when it is more than 0, else :data:`DEFAULT_FOOTPRINT_MM2`.
    """
    settings = list(zones)
    treated = treated_zones(settings, norwood_grade)
    density: dict[Zone, float] = {Zone(zone): value for zone, value in densities.items()}
    for setting in settings:
        if setting.target_density is not None:
            density[Zone(setting.zone)] = setting.target_density
    footprint = footprint_mm2 if footprint_mm2 is not None and footprint_mm2 > 0 else DEFAULT_FOOTPRINT_MM2
    return CoverageModel(
        sorted(zone for zone in treated if zone in density),
        density,
        footprint,
        areas_cm2={Zone(setting.zone): setting.area_cm2 for setting in settings},
    )


def session_coverage(
    zones: Iterable[ZoneSettingLike],
    densities: Mapping[Zone, float],
    footprint_mm2: int | None,
    stamps: Iterable[CreditedStamp],
    *,
    norwood_grade: NorwoodGrade | None = None,
    stored_stamps: int | None = None,
) -> SessionCoverage:
    """A stored session's figures: the only place they are computed (summary, report, demo data).

    ``zones`` are the session's stored zone settings, ``densities`` the protocol's target
    densities (empty when the protocol is not known), ``footprint_mm2`` the session's stored
    footprint, ``stamps`` its credited stamps (each in its credited zone, else its device zone
    1–5, else unassigned: ``stampside.app.storage.session_stamps.load_credited_stamps``), ``norwood_grade``
    the patient's (used only when no zone is stored) and ``stored_stamps`` the number of stamp
    rows stored with the session (default: the distinct stamps given). The fallbacks are
    :func:`session_model`'s; a stamp without a footprint (0) counts with the session's.
    """
    model = session_model(zones, densities, footprint_mm2, norwood_grade=norwood_grade)
    model.load(
        stamp
        if stamp.footprint_mm2 > 0
        else CreditedStamp(stamp.boot, stamp.seq, stamp.zone, model.footprint_mm2, stamp.life)
        for stamp in stamps
    )
    totals = model.totals()
    return SessionCoverage(
        stamps=totals.stamps if stored_stamps is None else stored_stamps,
        footprint_mm2=model.footprint_mm2,
        zones=tuple(model.zones()),
        totals=totals,
    )
