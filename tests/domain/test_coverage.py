"""The coverage model: formula, zone crediting, exactly-once counting, prompts and warnings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stampside.app.domain.coverage import (
    DEFAULT_FOOTPRINT_MM2,
    CoverageModel,
    CreditedStamp,
    session_coverage,
    session_model,
    treated_zones,
)
from stampside.app.domain.zones import DEFAULT_AREA_CM2, NorwoodGrade, Zone

F, M, V, L, R = Zone.FRONTAL, Zone.MID_SCALP, Zone.VERTEX, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL


def model(**kwargs: object) -> CoverageModel:
    """Norwood 3 with the defaults: frontal 60 cm², temporals 25 cm², density 2, a 100 mm² head."""
    args: dict[str, object] = {"treated": NorwoodGrade.III.default_zones, "target_density": 2.0, "footprint_mm2": 100}
    args.update(kwargs)
    return CoverageModel(**args)  # type: ignore[arg-type]


def stamp_n(cov: CoverageModel, n: int, zone: int, start: int = 1, boot: int = 1) -> None:
    for seq in range(start, start + n):
        cov.add_stamp(boot, seq, zone)


# -- the formula ----------------------------------------------------------------------


def test_worked_example_from_the_docs() -> None:
    # Frontal 60 cm², density 2 → 120 cm² of footprint to stamp; a 1 cm² head → 120 stamps.
    cov = model()
    stamp_n(cov, 30, F)
    assert cov.percent(F) == 25.0
    z = cov.zone(F)
    assert (z.stamps, z.covered_cm2, z.target_cm2, z.stamps_to_target, z.reached) == (30, 30.0, 120.0, 90, False)
    stamp_n(cov, 90, F, start=31)
    assert cov.percent(F) == 100.0
    assert cov.zone(F).reached


def test_worked_example_table_in_the_docs() -> None:
    cov = model()
    stamp_n(cov, 30, F)
    reached = [cov.add_stamp(1, seq, int(L)).just_reached for seq in range(100, 150)]
    assert reached[-1] is L
    assert [(z.zone, z.percent, z.stamps_to_target) for z in cov.zones() if z.treated] == [
        (F, 25.0, 90),
        (L, 100.0, 0),
        (R, 0.0, 50),
    ]
    assert cov.totals().percent == pytest.approx(36.36, abs=0.01)
    stamp_n(cov, 10, L, start=200)
    assert cov.totals().percent == pytest.approx(36.36, abs=0.01)
    cov.set_footprint(50)
    stamp_n(cov, 20, F, start=300)
    assert cov.percent(F) == pytest.approx(33.33, abs=0.01)
    assert cov.zone(F).stamps_to_target == 160


def test_coverage_is_capped_at_100() -> None:
    cov = model()
    stamp_n(cov, 60, L)  # 60 cm² stamped over a target of 25 × 2 = 50 cm²
    assert cov.percent(L) == 100.0
    assert cov.zone(L).covered_cm2 == 60.0
    assert cov.zone(L).stamps_to_target == 0


def test_units_footprint_in_mm2_area_in_cm2() -> None:
    # 50 mm² = 0.5 cm² per stamp; vertex 50 cm² at density 1.5 → 75 cm² → 150 stamps.
    cov = CoverageModel(treated=[V], target_density=1.5, footprint_mm2=50)
    stamp_n(cov, 15, V)
    assert cov.percent(V) == pytest.approx(10.0)
    assert cov.zone(V).stamps_to_target == 135


def test_decimal_inputs_are_exact_at_the_target() -> None:
    # 0.1 × 30 cm² × 100 = 300 mm²: exactly 3 stamps of 100 mm², not 4 from float noise.
    cov = CoverageModel(treated=[F], target_density=0.1, footprint_mm2=100, areas_cm2={F: 30.0})
    stamp_n(cov, 2, F)
    assert not cov.zone(F).reached
    cov.add_stamp(1, 3, F)
    assert cov.zone(F).reached
    assert cov.percent(F) == 100.0


def test_per_zone_densities() -> None:
    cov = CoverageModel(treated=[F, V], target_density={F: 1.0, V: 4.0}, footprint_mm2=100)
    stamp_n(cov, 30, F)
    stamp_n(cov, 50, V, start=100)
    assert cov.percent(F) == 50.0  # 30 / 60
    assert cov.percent(V) == 25.0  # 50 / 200
    assert cov.target_density(M) is None
    assert cov.percent(M) is None


def test_a_treated_zone_needs_a_density() -> None:
    with pytest.raises(ValueError, match=r"no target density for the treated zone.*Vertex"):
        CoverageModel(treated=[F, V], target_density={F: 1.0}, footprint_mm2=100)


def test_footprint_change_mid_session_keeps_earlier_stamps_at_their_footprint() -> None:
    cov = model()
    stamp_n(cov, 10, F)  # 10 × 1 cm²
    cov.set_footprint(50)  # HEAD_CHANGED: a 0.5 cm² head
    stamp_n(cov, 20, F, start=11)  # 20 × 0.5 cm²
    z = cov.zone(F)
    assert z.stamps == 30
    assert z.covered_cm2 == 20.0
    assert cov.percent(F) == pytest.approx(100 * 20 / 120)
    assert z.stamps_to_target == 200  # 100 cm² left at 0.5 cm² a stamp
    assert [s.footprint_mm2 for s in cov.counted()][9:11] == [100, 50]


@pytest.mark.parametrize("footprint", [0, -100, 1.5, True])
def test_footprint_must_be_a_positive_whole_number(footprint: object) -> None:
    cov = model()
    with pytest.raises(ValueError, match="footprint"):
        cov.set_footprint(footprint)  # type: ignore[arg-type]


# -- where a stamp goes -----------------------------------------------------------------


def test_device_zone_wins_over_the_active_zone() -> None:
    cov = model(active=F)
    credit = cov.add_stamp(1, 1, int(R))
    assert credit.zone is R
    assert credit.device_zone == 5
    assert cov.stamps_in(R) == 1
    assert cov.stamps_in(F) == 0


def test_zone_0_goes_to_the_active_zone_and_follows_switches() -> None:
    cov = model()
    assert cov.active is F  # the lowest treated zone by default
    assert cov.add_stamp(1, 1, 0).zone is F
    cov.set_active(L)
    assert cov.add_stamp(1, 2, 0).zone is L
    assert (cov.stamps_in(F), cov.stamps_in(L)) == (1, 1)


@pytest.mark.parametrize("zone_id", [6, 9, 15, 16, -1])
def test_reserved_zone_ids_are_counted_unassigned(zone_id: int) -> None:
    cov = model()
    credit = cov.add_stamp(1, 1, zone_id)
    assert credit.unassigned
    assert credit.zone is None
    assert credit.device_zone == zone_id
    assert cov.unassigned_stamps == 1
    assert all(z.stamps == 0 for z in cov.zones())
    totals = cov.totals()
    assert (totals.stamps, totals.unassigned_stamps, totals.treated_stamps) == (1, 1, 0)


def test_stamps_in_untreated_zones_are_counted_and_flagged() -> None:
    cov = model()  # Norwood 3: vertex not treated
    cov.add_stamp(1, 1, int(V))
    cov.set_active(M)
    cov.add_stamp(1, 2, 0)
    cov.add_stamp(1, 3, int(F))
    assert cov.untreated_stamps() == {M: 1, V: 1}
    assert not cov.zone(V).treated
    totals = cov.totals()
    assert (totals.stamps, totals.untreated_stamps, totals.treated_stamps) == (3, 2, 1)


def test_adding_a_zone_later_keeps_its_stamps() -> None:
    cov = model()
    stamp_n(cov, 25, V)
    cov.add_zone(V)  # the single density applies to every zone
    assert cov.untreated_stamps() == {}
    assert cov.percent(V) == 25.0  # 25 cm² of 100
    cov.remove_zone(V)
    assert cov.untreated_stamps() == {V: 25}


def test_adding_a_zone_without_a_density_asks_for_one() -> None:
    cov = CoverageModel(treated=[F], target_density={F: 2.0}, footprint_mm2=100)
    with pytest.raises(ValueError, match="Vertex has no target density"):
        cov.add_zone(V)
    cov.add_zone(V, target_density=3.0)
    assert cov.zone(V).target_cm2 == 150.0


# -- exactly once -----------------------------------------------------------------------


def test_the_same_boot_and_seq_counts_once() -> None:
    cov = model()
    first = cov.add_stamp(1, 7, int(F))
    again = cov.add_stamp(1, 7, int(F))
    assert not first.duplicate
    assert again.duplicate
    assert again.stamp == first.stamp
    assert cov.stamps_in(F) == 1
    assert cov.totals().stamps == 1


def test_a_replay_after_a_zone_switch_stays_where_it_was_first_credited() -> None:
    cov = model()
    cov.add_stamp(1, 7, 0)
    cov.set_active(R)
    assert cov.add_stamp(1, 7, 0).zone is F
    assert (cov.stamps_in(F), cov.stamps_in(R)) == (1, 0)


def test_same_seq_after_a_reboot_is_another_stamp() -> None:
    cov = model()
    cov.add_stamp(1, 1, int(F))
    cov.add_stamp(2, 1, int(F))
    assert cov.stamps_in(F) == 2


def test_rebuilt_from_stored_stamps_gives_the_same_figures() -> None:
    live = model()
    stamp_n(live, 40, 0)
    live.set_footprint(50)
    live.set_active(L)
    stamp_n(live, 120, 0, start=41)
    live.add_stamp(1, 500, 12)
    stored = live.counted()

    rebuilt = model(footprint_mm2=50)  # the head fitted now, from DEVICE_INFO
    rebuilt.load(stored)
    rebuilt.load(stored[:10])  # loading twice changes nothing
    assert rebuilt.zones() == live.zones()
    assert rebuilt.totals() == live.totals()
    assert rebuilt.reached_zones() == [L]
    # A live stamp already loaded is a duplicate; no prompt for a zone reached before the crash.
    credit = rebuilt.add_stamp(1, 160, 0)
    assert credit.duplicate
    assert rebuilt.add_stamp(1, 161, int(L)).just_reached is None


def test_load_keeps_the_stored_zone_not_the_active_one() -> None:
    cov = model(active=R)
    cov.load([CreditedStamp(1, 1, F, 100), CreditedStamp(1, 2, None, 100)])
    assert (cov.stamps_in(F), cov.stamps_in(R), cov.unassigned_stamps) == (1, 0, 1)


# -- prompts and warnings ---------------------------------------------------------------


def test_reaching_the_target_fires_once() -> None:
    cov = model()
    credits = [cov.add_stamp(1, seq, int(L)) for seq in range(1, 61)]
    fired = [(i + 1, c.just_reached) for i, c in enumerate(credits) if c.just_reached is not None]
    assert fired == [(50, L)]  # 50 stamps × 1 cm² = 25 cm² × 2
    assert cov.reached_zones() == [L]


def test_an_untreated_zone_never_prompts() -> None:
    cov = model()
    assert all(cov.add_stamp(1, seq, int(V)).just_reached is None for seq in range(1, 200))


def test_an_edit_that_raises_the_target_can_prompt_again() -> None:
    cov = model()
    stamp_n(cov, 50, L)
    cov.set_area(L, 30.0)  # now 60 cm² to stamp
    assert [z.zone for z in cov.under_target()] == [F, L, R]
    credits = [cov.add_stamp(1, seq, int(L)) for seq in range(51, 61)]
    assert [c.just_reached for c in credits if c.just_reached] == [L]


def test_an_edit_that_reaches_the_target_does_not_prompt_later() -> None:
    cov = model()
    stamp_n(cov, 40, L)
    cov.set_area(L, 20.0)  # 40 cm² to stamp: reached by the edit, shown by the map
    assert cov.zone(L).reached
    assert cov.add_stamp(1, 41, int(L)).just_reached is None


def test_under_target_lists_the_treated_zones_still_short() -> None:
    cov = model()
    stamp_n(cov, 50, L)
    stamp_n(cov, 10, F, start=100)
    short = cov.under_target()
    assert [(z.zone, z.percent, z.stamps_to_target) for z in short] == [
        (F, pytest.approx(100 * 10 / 120), 110),
        (R, 0.0, 50),
    ]


def test_totals_weight_zones_by_their_target() -> None:
    cov = model()
    stamp_n(cov, 100, L)  # 50 over the target: counts as 50
    stamp_n(cov, 60, F, start=200)
    # targets: F 120, L 50, R 50 → (60 + 50 + 0) / 220
    assert cov.totals().percent == pytest.approx(100 * 110 / 220)
    assert CoverageModel(treated=[], target_density=1.0, footprint_mm2=100).totals().percent == 100.0


# -- editing ----------------------------------------------------------------------------


def test_areas_default_and_can_be_edited() -> None:
    cov = model(areas_cm2={F: 80.0})
    assert cov.area_cm2(F) == 80.0
    assert cov.area_cm2(V) == DEFAULT_AREA_CM2[V]
    cov.set_area(V, 42.5)
    assert cov.zone(V).area_cm2 == 42.5


@pytest.mark.parametrize("area", [0, -5.0, math.nan, math.inf])
def test_an_area_must_be_greater_than_zero(area: float) -> None:
    cov = model()
    with pytest.raises(ValueError, match="Frontal area must be greater than 0"):
        cov.set_area(F, area)
    with pytest.raises(ValueError, match="Vertex area must be greater than 0"):
        model(areas_cm2={V: area})


@pytest.mark.parametrize("area", ["60", None, True])
def test_an_area_must_be_a_number(area: object) -> None:
    with pytest.raises(TypeError, match="Frontal area must be a number"):
        model().set_area(F, area)  # type: ignore[arg-type]


@pytest.mark.parametrize("density", [0, -1.0, math.nan])
def test_a_density_must_be_greater_than_zero(density: float) -> None:
    with pytest.raises(ValueError, match="target density must be greater than 0"):
        model(target_density=density)
    with pytest.raises(ValueError, match="Left temporal target density must be greater than 0"):
        model().set_target_density(L, density)


# -- properties -------------------------------------------------------------------------

stamps_strategy = st.lists(
    st.tuples(st.integers(1, 2), st.integers(0, 60), st.integers(0, 15), st.sampled_from([25, 50, 100, 150])),
    max_size=200,
)


@given(stamps=stamps_strategy, density=st.floats(0.1, 5.0), area=st.floats(1.0, 200.0))
def test_coverage_stays_within_0_and_100_and_never_drops_as_stamps_come(
    stamps: list[tuple[int, int, int, int]], density: float, area: float
) -> None:
    cov = CoverageModel(treated=Zone, target_density=density, footprint_mm2=100, areas_cm2={F: area})
    before = {zone: 0.0 for zone in Zone}
    for boot, seq, zone_id, footprint in stamps:
        cov.set_footprint(footprint)
        cov.add_stamp(boot, seq, zone_id)
        for zone in Zone:
            percent = cov.percent(zone)
            assert percent is not None
            assert 0.0 <= percent <= 100.0
            assert percent >= before[zone]
            before[zone] = percent


@given(stamps=stamps_strategy)
def test_every_distinct_stamp_is_counted_exactly_once(stamps: list[tuple[int, int, int, int]]) -> None:
    cov = model()
    for boot, seq, zone_id, _ in stamps + stamps:
        cov.add_stamp(boot, seq, zone_id)
    totals = cov.totals()
    distinct = {(boot, seq) for boot, seq, _, _ in stamps}
    assert totals.stamps == len(distinct)
    assert sum(z.stamps for z in cov.zones()) + totals.unassigned_stamps == len(distinct)


# -- a stored session's figures (session_coverage) --------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A zone as stored with a session (what ``app.storage.sessions.ZoneSetting`` holds)."""

    zone: Zone
    area_cm2: float
    target_density: float | None = None


PROTOCOL_DENSITIES = dict.fromkeys(Zone, 2.0)


def test_stored_zones_areas_and_densities_win_over_the_defaults() -> None:
    stored = [Setting(F, 83.5), Setting(V, 50.0, 3.5)]
    stamps = [CreditedStamp(1, seq, F, 100) for seq in range(1, 11)] + [CreditedStamp(1, 11, V, 100)]
    figures = session_coverage(stored, PROTOCOL_DENSITIES, 100, stamps, norwood_grade=NorwoodGrade.IV)
    assert figures.treated == {F, V}  # the stored zones, not the grade's
    frontal, vertex = figures.zone(F), figures.zone(V)
    assert (frontal.area_cm2, frontal.target_density, frontal.target_cm2) == (83.5, 2.0, 167.0)
    assert (vertex.area_cm2, vertex.target_density, vertex.target_cm2) == (50.0, 3.5, 175.0)
    assert figures.zone(L).area_cm2 == DEFAULT_AREA_CM2[L]
    assert figures.percent == pytest.approx(100 * 11 / (167 + 175))
    assert (figures.stamps, figures.unassigned, figures.untreated) == (11, 0, 0)


def test_without_stored_zones_the_norwood_grade_decides_else_all_five() -> None:
    by_grade = session_coverage([], PROTOCOL_DENSITIES, 100, [], norwood_grade=NorwoodGrade.III_VERTEX)
    assert by_grade.treated == NorwoodGrade.III_VERTEX.default_zones
    assert session_coverage([], PROTOCOL_DENSITIES, 100, []).treated == frozenset(Zone)
    assert treated_zones([Setting(M, 50.0)], NorwoodGrade.III) == {M}


def test_a_stamp_counts_in_its_zone_else_unassigned_and_untreated_zones_are_listed_with_their_stamps() -> None:
    stamps = [
        CreditedStamp(1, 1, F, 100),
        CreditedStamp(1, 2, R, 100),  # a zone that is not treated
        CreditedStamp(1, 3, None, 100),  # a reserved id (or zone 0 never credited)
        CreditedStamp(1, 1, F, 100),  # the same stamp again
    ]
    figures = session_coverage([Setting(F, 60.0), Setting(L, 25.0)], PROTOCOL_DENSITIES, 100, stamps)
    assert (figures.stamps, figures.unassigned, figures.untreated) == (3, 1, 1)
    assert [zone.zone for zone in figures.listed] == [F, L, R]
    assert [zone.zone for zone in figures.zones] == list(Zone)
    assert figures.zone(R).treated is False and figures.zone(R).percent == 2.0


def test_the_stored_stamp_count_is_what_was_stored() -> None:
    figures = session_coverage([Setting(F, 60.0)], PROTOCOL_DENSITIES, 100, [], stored_stamps=3)
    assert (figures.stamps, figures.totals.stamps) == (3, 0)


def test_no_footprint_stored_means_the_default_head_and_stamps_without_one_take_the_sessions() -> None:
    figures = session_coverage([Setting(F, 60.0)], PROTOCOL_DENSITIES, None, [CreditedStamp(1, 1, F, 0)])
    assert figures.footprint_mm2 == DEFAULT_FOOTPRINT_MM2 == 100
    assert figures.zone(F).covered_cm2 == 1.0
    small = session_coverage([Setting(F, 60.0)], PROTOCOL_DENSITIES, 50, [CreditedStamp(1, 1, F, 0)])
    assert small.zone(F).covered_cm2 == 0.5 and small.zone(F).stamps_to_target == 239


def test_a_zone_without_any_density_is_not_treated() -> None:
    # Only when the protocol is not known (a report of another protocol's session).
    figures = session_coverage([Setting(F, 60.0, 2.0), Setting(L, 25.0)], {}, 100, [CreditedStamp(1, 1, L, 100)])
    assert figures.treated == {F}
    assert figures.zone(L).percent is None and figures.untreated == 1


def test_the_session_model_is_the_one_the_figures_come_from() -> None:
    stored = [Setting(F, 30.0, 0.1), Setting(V, 50.0)]
    model = session_model(stored, PROTOCOL_DENSITIES, 100)
    for seq in range(1, 4):
        model.add_stamp(1, seq, int(F))
    figures = session_coverage(stored, PROTOCOL_DENSITIES, 100, model.counted())
    assert figures.zones == tuple(model.zones()) and figures.totals == model.totals()
    assert figures.zone(F).reached  # 3 cm² on 30 cm² at 0.1: exactly at target
