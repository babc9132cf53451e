"""Scenario files and settings: what validates, and what the errors say."""

from __future__ import annotations

from pathlib import Path

import pytest

from stampside.simulator.config import DropEvent, RateEvent, SimConfig
from stampside.simulator.errors import ScenarioError
from stampside.simulator.scenario import build_config, load_scenario, shipped_scenarios

EXPECTED = {"normal_session", "flaky_link", "noisy_line", "reboot_storm", "low_battery", "wrong_needle",
            "reused_head"}


def test_defaults_are_a_sane_device() -> None:
    config = SimConfig()
    assert config.device.needle_um == 2000
    assert config.device.buffer_size == 4096
    assert config.device.footprint_mm2 == 100
    assert config.device.serial == "SS-000001"
    assert config.stamping.rate is None


def test_every_shipped_scenario_loads() -> None:
    assert set(shipped_scenarios()) >= EXPECTED
    for name in shipped_scenarios():
        assert load_scenario(name).description


def test_a_scenario_file_with_a_timeline(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'seed = 9\n[stamping]\nrate = 50\n[faults]\ncorrupt = 0.01\n'
        '[[timeline]]\nat_stamp = 10\naction = "drop"\nseconds = 2\nmode = "close"\n'
        '[[timeline]]\nat_seconds = 3\naction = "rate"\nhz = "human"\n'
    )
    config = load_scenario(path)
    assert config.seed == 9 and config.stamping.rate == 50 and config.faults.corrupt == 0.01
    drop, rate = config.timeline
    assert isinstance(drop, DropEvent) and drop.mode == "close" and drop.at_stamp == 10
    assert isinstance(rate, RateEvent) and rate.hz == "human"


def test_overrides_win_over_the_scenario() -> None:
    config = build_config({"stamping": {"rate": 5, "stamps": 10}}, {"stamping": {"rate": 100}})
    assert config.stamping.rate == 100 and config.stamping.stamps == 10


def error_of(data: dict[str, object], **kwargs: object) -> str:
    with pytest.raises(ScenarioError) as info:
        build_config(data, source="scenario x.toml", **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_errors_name_the_field_and_the_value() -> None:
    assert error_of({"faults": {"corrupt": 2}}) == (
        "scenario x.toml: faults.corrupt: Input should be less than or equal to 1 (got 2)"
    )


def test_unknown_keys_are_errors() -> None:
    assert "faults.corupt: Extra inputs are not permitted" in error_of({"faults": {"corupt": 0.1}})


def test_timeline_errors_name_the_entry() -> None:
    message = error_of({"timeline": [{"at_stamp": 1, "action": "reboot"}, {"at_stamp": 5, "action": "drop"}]})
    assert message == "scenario x.toml: timeline[1].seconds: Field required"
    assert "timeline[0]: needs an action" in error_of({"timeline": [{"at_stamp": 1}]})
    assert "exactly one of at_stamp or at_seconds" in error_of({"timeline": [{"action": "reboot"}]})
    assert "does not match any of the expected tags" in error_of({"timeline": [{"at_stamp": 1, "action": "boom"}]})


def test_cross_field_errors_are_explained() -> None:
    assert "drop_for (5.0 s) must be shorter than drop_every (2.0 s)" in error_of(
        {"faults": {"drop_every": 2, "drop_for": 5}}
    )
    assert "choose a pty or a TCP address" in error_of({"link": {"pty": "/tmp/x", "listen": "127.0.0.1:1"}})
    assert "expected HOST:PORT" in error_of({"link": {"listen": "nowhere"}})
    assert "need 1 ≤ min ≤ max" in error_of({"device": {"versions": [3, 2]}})
    assert "exit_when_acked needs stamping.stamps" in error_of({"exit_when_acked": True})


def test_errors_in_overrides_are_named_by_their_label() -> None:
    message = error_of({}, overrides={"faults": {"corrupt": -1}}, labels={("faults", "corrupt"): "--corrupt"})
    assert message == "--corrupt: Input should be greater than or equal to 0 (got -1)"


def test_bad_toml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[faults\ncorrupt = 1\n")
    with pytest.raises(ScenarioError, match=r"bad.toml: not valid TOML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match=r"no such file \(shipped scenarios: flaky_link"):
        load_scenario(tmp_path / "missing.toml")
