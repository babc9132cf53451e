"""The treatment protocol file: the default loads; a malformed file gets a message naming field and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stampside.app.domain.treatment_protocol import (
    DEFAULT_PROTOCOL_PATH,
    DeviceGate,
    ForceQuality,
    ProtocolFileError,
    StepKind,
    TreatmentProtocol,
    default_protocol,
    load_protocol,
    parse_protocol,
    toml_key_lines,
)
from stampside.app.domain.zones import Zone

DEFAULT_TEXT = DEFAULT_PROTOCOL_PATH.read_text(encoding="utf-8")


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the only line containing ``fragment``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if fragment in line]
    assert len(hits) == 1, f"{fragment!r} is on lines {hits}"
    return hits[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_for(tmp_path: Path, text: str) -> ProtocolFileError:
    path = write(tmp_path, text)
    with pytest.raises(ProtocolFileError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert str(path) in message
    assert "Traceback" not in message
    return caught.value


# --- the default ---------------------------------------------------------------------------


def test_the_default_protocol_loads_with_the_missions_seven_steps() -> None:
    protocol = default_protocol()
    assert [step.kind for step in protocol.steps] == [
        StepKind.PRE_CHECKS,
        StepKind.DISINFECTION,
        StepKind.APPLICATION,
        StepKind.STAMPING,
        StepKind.APPLICATION,
        StepKind.AFTERCARE,
        StepKind.SUMMARY,
    ]
    assert protocol.name and protocol.version


def test_the_default_protocol_carries_the_missions_numbers() -> None:
    protocol = default_protocol()
    assert protocol.device.needle_um == 2000
    assert protocol.device.head_must_be_unused
    assert protocol.device.clock_synced
    assert protocol.aftercare.no_hair_wash_min_hours == 24
    assert protocol.aftercare.no_hair_wash_ideal_hours == 48
    assert (protocol.course.sessions, protocol.course.interval_days) == (6, 7)
    checks = protocol.step("pre_checks")
    assert set(checks.gates) == {
        DeviceGate.DEVICE_IDENTIFIED,
        DeviceGate.NEEDLE_LENGTH,
        DeviceGate.HEAD_UNUSED,
        DeviceGate.BATTERY,
        DeviceGate.CLOCK_SYNCED,
    }
    disinfection = protocol.step("disinfection")
    assert disinfection.agent is not None and "0.5 %" in disinfection.agent and "chlorhexidine" in disinfection.agent
    assert disinfection.timer is not None
    first = protocol.step("first_application")
    assert first.volume_ml == 2.5 and first.requires_lot
    stamping = protocol.step("stamping")
    assert stamping.volume_ml is None and DeviceGate.DEVICE_ARMED in stamping.gates
    second = protocol.step("second_application")
    assert second.volume_ml == 2.5 and second.timer is not None


def test_the_default_protocol_is_shipped_as_package_data() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"protocols/*.toml"' in pyproject
    assert DEFAULT_PROTOCOL_PATH.parent.name == "protocols"


def test_force_thresholds_classify_too_light_good_and_too_hard() -> None:
    force = default_protocol().force
    assert force.classify(force.too_light_below_n - 0.1) is ForceQuality.TOO_LIGHT
    assert force.classify(force.too_light_below_n) is ForceQuality.GOOD
    assert force.classify(force.too_hard_above_n) is ForceQuality.GOOD
    assert force.classify(force.too_hard_above_n + 0.1) is ForceQuality.TOO_HARD


def test_coverage_targets_default_to_every_zone_and_can_be_set_per_zone_by_name_or_id() -> None:
    protocol = default_protocol()
    assert protocol.coverage.densities() == dict.fromkeys(Zone, protocol.coverage.target_density)
    text = DEFAULT_TEXT.replace("[coverage.zones]\n", '[coverage.zones]\nvertex = 3.5\n"1" = 1.5\n')
    coverage = parse_protocol(text).coverage
    assert coverage.density_for(Zone.VERTEX) == 3.5
    assert coverage.density_for(1) == 1.5
    assert coverage.density_for(Zone.MID_SCALP) == coverage.target_density


def test_a_clinic_protocol_can_be_loaded_from_any_path(tmp_path: Path) -> None:
    path = write(tmp_path, DEFAULT_TEXT.replace('version = "1.0"', 'version = "2.3-clinic"'))
    assert load_protocol(path).version == "2.3-clinic"
    assert isinstance(load_protocol(str(path)), TreatmentProtocol)


# --- malformed files -----------------------------------------------------------------------


def test_a_toml_syntax_error_names_the_line_and_the_key(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("min_battery_pct = 25", "min_battery_pct == 25")
    error = error_for(tmp_path, text)
    expected = line_of(text, "min_battery_pct ==")
    assert error.line == expected
    assert f"line {expected}" in str(error)
    assert "min_battery_pct" in str(error)
    assert "not valid TOML" in str(error)


def test_an_unclosed_table_header_is_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("[force]", "[force")
    error = error_for(tmp_path, text)
    assert error.line == line_of(text, "[force")
    assert "force" in str(error)


@pytest.mark.parametrize(
    ("old", "new", "field", "anchor"),
    [
        ("needle_um = 2000", 'needle_um = "2 mm"', "device.needle_um", 'needle_um = "2 mm"'),
        ("min_battery_pct = 25", "min_battery_pct = 120", "device.min_battery_pct", "min_battery_pct = 120"),
        ("too_hard_above_n = 9.0", "too_hard_above_n = -1.0", "force.too_hard_above_n", "too_hard_above_n = -1.0"),
        ("sessions = 6", "sessions = 0", "course.sessions", "sessions = 0"),
        ("seconds = 120", "seconds = -5", "steps[4].timer.seconds", "seconds = -5"),
        ('kind = "stamping"', 'kind = "stomping"', "steps[3].kind", 'kind = "stomping"'),
        ('gates = ["device_armed"]', 'gates = ["device_armd"]', "steps[3].gates[0]", '"device_armd"'),
        ("volume_ml = 2.5\nrequires_lot", "volume_ml = 0\nrequires_lot", "steps[2].volume_ml", "volume_ml = 0"),
        ("target_density = 2.0", "target_density = true", "coverage.target_density", "target_density = true"),
        ("[coverage.zones]\n", "[coverage.zones]\ncrown = 2.0\n", "coverage.zones.crown", "crown = 2.0"),
        ("[coverage.zones]\n", "[coverage.zones]\nvertex = 0\n", "coverage.zones.vertex", "vertex = 0"),
    ],
)
def test_a_bad_value_names_its_field_and_line(tmp_path: Path, old: str, new: str, field: str, anchor: str) -> None:
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)
    error = error_for(tmp_path, text)
    line = line_of(text, anchor)
    assert re.search(rf"line {line}: {re.escape(field)}: ", str(error)), str(error)
    assert error.line == line


def test_an_unknown_key_is_refused_with_its_line(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("clock_synced = true", "clock_synced = true\nneedle_colour = 3")
    error = error_for(tmp_path, text)
    assert f"line {line_of(text, 'needle_colour')}: device.needle_colour: Extra inputs are not permitted" in str(error)


def test_a_missing_field_names_the_table_it_belongs_to(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("sessions = 6\n", "")
    error = error_for(tmp_path, text)
    assert f"line {line_of(text, '[course]')}: course.sessions: Field required" in str(error)


def test_a_missing_top_level_field_points_at_the_top_of_the_file(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('name = "Stampside scalp microneedling"\n', "")
    error = error_for(tmp_path, text)
    assert "line 1: name: Field required" in str(error)


def test_a_rule_across_fields_names_the_table(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("no_hair_wash_ideal_hours = 48", "no_hair_wash_ideal_hours = 12")
    error = error_for(tmp_path, text)
    assert f"line {line_of(text, '[aftercare]')}: aftercare: " in str(error)
    assert "no_hair_wash_ideal_hours must be at least no_hair_wash_min_hours" in str(error)


def test_repeated_step_ids_are_refused(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('id = "summary"', 'id = "aftercare"')
    error = error_for(tmp_path, text)
    first_step = text.splitlines().index("[[steps]]") + 1
    assert f"line {first_step}: steps: " in str(error)
    assert "steps: step ids must be unique: 'aftercare' is used by steps 6 and 7" in str(error)


def test_the_summary_must_be_the_last_step(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('kind = "aftercare"', 'kind = "summary"', 1).replace(
        'kind = "summary"\ntitle = "Summary"', 'kind = "aftercare"\ntitle = "Summary"'
    )
    error = error_for(tmp_path, text)
    assert "steps: the summary step must be the last step" in str(error)


def test_a_lot_on_a_step_that_is_not_an_application_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('title = "Stamping"', 'title = "Stamping"\nrequires_lot = true')
    error = error_for(tmp_path, text)
    header = line_of(text, 'id = "stamping"') - 1
    assert f"line {header}: steps[3]: requires_lot is only allowed" in str(error)


def test_every_problem_in_a_file_is_reported_on_its_own_line(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("sessions = 6", "sessions = -1").replace("interval_days = 7", "interval_days = 0")
    error = error_for(tmp_path, text)
    assert len(error.problems) == 2
    assert str(error).count("\n") == 1


def test_a_missing_file_is_a_protocol_file_error(tmp_path: Path) -> None:
    with pytest.raises(ProtocolFileError, match=r"no-such\.toml"):
        load_protocol(tmp_path / "no-such.toml")


def test_a_file_that_is_not_utf8_is_a_protocol_file_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ProtocolFileError, match="not UTF-8"):
        load_protocol(path)


def test_key_lines_follow_arrays_of_tables_and_sub_tables() -> None:
    text = (
        '# c\nname = "x"\n[[steps]]\nid = "a"\n[steps.timer]\nseconds = 1\n\n[[steps]]\nid = "b"\nlist = [\n  1,\n]\n'
    )
    lines = toml_key_lines(text)
    assert lines[("name",)] == 2
    assert lines[("steps", 0)] == 3
    assert lines[("steps", 0, "timer", "seconds")] == 6
    assert lines[("steps", 1, "id")] == 9
    assert lines[("steps", 1, "list")] == 10
