"""``stampside sim --ble``: the ready line, the BLE settings from flags and files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stampside.simulator.config import BleCutEvent, BleRefuseEvent
from stampside.simulator.scenario import build_config, load_scenario
from tests.devicelink.processes import SimProcess, stampside


def test_the_ready_line_names_the_stamp_and_the_hci_spec_for_the_app() -> None:
    sim = SimProcess("--ble", "virtual", "--hci-serve", "tcp-server:127.0.0.1:0", "--ble-name", "QA1", "--quiet")
    try:
        words = sim.ready_line.split()
        assert words[:2] == ["ble", "QA1"] and words[3] == "hci"
        assert words[4].startswith("tcp-client:127.0.0.1:") and not words[4].endswith(":0")
    finally:
        sim.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ble", "virtual", "--pty", "/tmp/x"], "choose BLE or a pty or a TCP address"),
        (["--hci-serve", "tcp-server:127.0.0.1:0"], "hci_serve needs the virtual link"),
        (["--ble", "virtual", "--hci-serve", "udp:1"], "tcp-server:HOST:PORT or unix-server:PATH"),
        (["--ble", "virtual", "--ble-mtu", "22"], "--ble-mtu"),
        (["--ble", "virtual", "--ble-name", "MUCH-TOO-LONG"], "--ble-name"),
    ],
)
def test_bad_ble_settings_are_one_line_errors(args: list[str], message: str) -> None:
    result = stampside("sim", *args, "--duration", "0.1")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_ble_settings_and_ble_timeline_actions_in_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "ble.toml"
    path.write_text(
        'description = "ble"\n[ble]\nhci = "virtual"\nmtu = 23\ndrop_notify = 0.1\ncut_every = 2\n'
        '[[timeline]]\nat_stamp = 5\naction = "ble_cut"\n'
        '[[timeline]]\nat_seconds = 1\naction = "ble_refuse"\ncount = 3\n'
    )
    config = load_scenario(path)
    assert config.ble.enabled and config.ble.mtu == 23 and config.ble.cut_every == 2
    cut, refuse = config.timeline
    assert isinstance(cut, BleCutEvent) and isinstance(refuse, BleRefuseEvent) and refuse.count == 3
    shipped = load_scenario("lossy_ble")
    assert shipped.ble.hci == "virtual" and shipped.ble.hci_serve is not None
    assert build_config(None, {"ble": {"hci": "usb:0"}}).ble.hci == "usb:0"
