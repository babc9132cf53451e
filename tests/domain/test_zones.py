"""Scalp zones: wire ids, keys, default areas and the Norwood grade defaults."""

from __future__ import annotations

import pytest

from stampside.app.domain.zones import (
    DEFAULT_AREA_CM2,
    NORWOOD_DEFAULT_ZONES,
    NorwoodGrade,
    NorwoodGradeError,
    Zone,
    parse_norwood_grade,
    zone_for_key,
)

F, M, V, L, R = Zone.FRONTAL, Zone.MID_SCALP, Zone.VERTEX, Zone.LEFT_TEMPORAL, Zone.RIGHT_TEMPORAL


def test_zone_ids_are_the_wire_ids() -> None:
    assert [(zone.name, int(zone)) for zone in Zone] == [
        ("FRONTAL", 1),
        ("MID_SCALP", 2),
        ("VERTEX", 3),
        ("LEFT_TEMPORAL", 4),
        ("RIGHT_TEMPORAL", 5),
    ]


@pytest.mark.parametrize(("zone_id", "zone"), [(0, None), (1, F), (5, R), (6, None), (15, None), (-1, None)])
def test_from_wire_names_only_the_five_zones(zone_id: int, zone: Zone | None) -> None:
    assert Zone.from_wire(zone_id) is zone


def test_every_zone_has_a_label_and_its_own_key() -> None:
    assert [zone.label for zone in Zone] == ["Frontal", "Mid-scalp", "Vertex", "Left temporal", "Right temporal"]
    assert [zone.key for zone in Zone] == ["f", "m", "v", "l", "r"]


@pytest.mark.parametrize(("key", "zone"), [("f", F), ("M", M), ("v", V), ("l", L), ("r", R), ("3", V), ("x", None)])
def test_keys_select_zones_letters_in_any_case_and_digits(key: str, zone: Zone | None) -> None:
    assert zone_for_key(key) is zone


def test_default_areas_cover_every_zone_and_sum_to_a_scalp_top() -> None:
    assert set(DEFAULT_AREA_CM2) == set(Zone)
    assert all(area > 0 for area in DEFAULT_AREA_CM2.values())
    assert sum(DEFAULT_AREA_CM2.values()) == 210.0
    assert DEFAULT_AREA_CM2[L] == DEFAULT_AREA_CM2[R]


def test_norwood_defaults() -> None:
    assert NORWOOD_DEFAULT_ZONES[NorwoodGrade.III] == {F, L, R}
    assert NORWOOD_DEFAULT_ZONES[NorwoodGrade.III_VERTEX] == {F, L, R, V}
    assert NORWOOD_DEFAULT_ZONES[NorwoodGrade.IV] == {F, M, V, L, R}
    assert NorwoodGrade.III_VERTEX.default_zones == NORWOOD_DEFAULT_ZONES[NorwoodGrade.III_VERTEX]


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ("3", NorwoodGrade.III),
        (" III ", NorwoodGrade.III),
        ("3V", NorwoodGrade.III_VERTEX),
        ("3v", NorwoodGrade.III_VERTEX),
        ("3 vertex", NorwoodGrade.III_VERTEX),
        ("IIIv", NorwoodGrade.III_VERTEX),
        ("III-V", NorwoodGrade.III_VERTEX),
        ("Norwood 4", NorwoodGrade.IV),
        ("iv", NorwoodGrade.IV),
    ],
)
def test_grades_are_read_as_typed(text: str, grade: NorwoodGrade) -> None:
    assert parse_norwood_grade(text) is grade


def test_a_typo_gets_a_clear_error_with_a_suggestion() -> None:
    with pytest.raises(NorwoodGradeError, match=r"unknown Norwood grade 'e3' \(accepted: 3, 3V, 4\); did you mean 3\?"):
        parse_norwood_grade("e3")


@pytest.mark.parametrize("text", ["", "3W", "vertex", "three"])
def test_unreadable_grades_name_what_is_accepted(text: str) -> None:
    with pytest.raises(NorwoodGradeError, match=r"accepted: 3, 3V, 4"):
        parse_norwood_grade(text)


@pytest.mark.parametrize("text", ["2", "5", "VI", "4V"])
def test_real_grades_without_defaults_say_to_choose_by_hand(text: str) -> None:
    with pytest.raises(NorwoodGradeError, match=r"has no default zones .*choose the zones by hand"):
        parse_norwood_grade(text)


def test_grade_error_is_a_value_error() -> None:
    assert issubclass(NorwoodGradeError, ValueError)
