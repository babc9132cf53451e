"""``stampside link`` and ``stampside export`` as a user meets them: exit codes, messages, output."""

from __future__ import annotations

import os
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner

from stampside.app.cli.main import main
from tests.devicelink.processes import SimProcess, json_lines, stampside


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def silent_pty() -> Iterator[str]:
    """A pty nobody answers on."""
    master, slave = os.openpty()
    tty.setraw(slave)
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimProcess]:
    process = SimProcess("--pty", str(tmp_path / "stamp"), "--seed", "3", "--rate", "20", "--quiet")
    yield process
    process.stop()


# -- user errors: one line, exit code 2 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["link", "monitor", "/dev/ttyNOPE0"], "no such port /dev/ttyNOPE0"),
        (["link", "send", "bogus://x", "info"], "not a port or URL pyserial knows"),
        (["link", "capture", "socket://localhost", "out.jsonl"], "needs a host and a port"),
        (["link", "send", "socket://127.0.0.1:1", "ping"], "nothing is listening at 127.0.0.1:1"),
        (["link", "send", "/dev/ttyNOPE0", "resume", "1"], "resume takes BOOT SEQ"),
        (["link", "monitor", "/dev/ttyNOPE0", "--link-timeout", "0"], "--link-timeout must be more than 0"),
        (["link", "replay", "missing.jsonl"], "cannot read the capture file"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    runner: CliRunner, args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_a_wrong_port_from_a_real_shell_is_one_line_without_traceback() -> None:
    result = stampside("link", "record", "/dev/ttyNOPE0", "--db", "sqlite:///:memory:")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "no such port /dev/ttyNOPE0" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_busy_port_is_exit_2(runner: CliRunner, silent_pty: str) -> None:
    holder = serial.serial_for_url(silent_pty, exclusive=True)
    try:
        result = runner.invoke(main, ["link", "send", silent_pty, "info"])
    finally:
        holder.close()
    assert result.exit_code == 2
    assert "is busy" in result.output


def test_a_port_where_nobody_answers_is_exit_2(runner: CliRunner, silent_pty: str) -> None:
    result = runner.invoke(main, ["link", "send", silent_pty, "info", "--timeout", "1"])
    assert result.exit_code == 2
    assert "no answer from a device" in result.output


def test_an_unwritable_database_is_exit_2(runner: CliRunner, silent_pty: str, tmp_path: Path) -> None:
    result = runner.invoke(main, ["link", "record", silent_pty, "--db", str(tmp_path / "no" / "dir" / "s.db")])
    assert result.exit_code == 2
    assert "folder does not exist or is not writable" in result.output


def test_replay_of_something_else_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    other = tmp_path / "x.jsonl"
    other.write_text('{"hello": 1}\n')
    result = runner.invoke(main, ["link", "replay", str(other)])
    assert result.exit_code == 2
    assert "not a Stampside link capture" in result.output


CAPTURE_HEADER = b'{"capture": "stampside-link", "version": 1, "url": "/tmp/stamp", "started_unix": 1764068400.0}\n'
GOOD_LINE = b'{"t": 0.1, "dir": "rx", "hex": "00 01"}\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(GOOD_LINE + b"\xff\xfe\xfd not text\n", ":3: not UTF-8 text", id="not-utf8"),
        pytest.param(
            b'{"t": "soon", "dir": "rx", "hex": "00"}\n', ':2: "t" is not a time in seconds: "soon"', id="t-text"
        ),
        pytest.param(b'{"t": null, "event": "open"}\n', ':2: "t" is not a time in seconds: null', id="t-null"),
        pytest.param(b'{"t": [1], "event": "open"}\n', ':2: "t" is not a time in seconds: [1]', id="t-list"),
        pytest.param(b'{"t": true, "event": "open"}\n', ':2: "t" is not a time in seconds: true', id="t-bool"),
        pytest.param(
            GOOD_LINE + b'{"t": 1e999, "event": "close"}\n', ':3: "t" is not a time in seconds: Infinity', id="t-inf"
        ),
        pytest.param(b'{"t": NaN, "event": "close"}\n', ':2: "t" is not a time in seconds: NaN', id="t-nan"),
        pytest.param(
            b'{"t": 1' + b"0" * 400 + b', "event": "close"}\n', ':2: "t" is not a time in seconds: 1000000', id="t-huge"
        ),
        pytest.param(b'{"t": 1' + b"0" * 5000 + b', "event": "close"}\n', ":2: not a JSON object", id="t-too-long"),
        pytest.param(b"[" * 100_000 + b"\n", ":2: not a JSON object", id="deeply-nested"),
        pytest.param(b'{"t": 0.2, "dir": "sideways", "hex": "00"}\n', ":2: no valid dir and hex", id="dir-unknown"),
        pytest.param(b'{"t": 0.2, "dir": "rx", "hex": 7}\n', ":2: no valid dir and hex", id="hex-number"),
        pytest.param(b'{"t": 0.2, "dir": ["rx"], "hex": "00"}\n', ":2: no valid dir and hex", id="dir-list"),
    ],
)
def test_a_broken_capture_line_ends_the_replay_with_one_line_naming_it(
    runner: CliRunner, tmp_path: Path, body: bytes, expected: str
) -> None:
    capture = tmp_path / "cap.jsonl"
    capture.write_bytes(CAPTURE_HEADER + body)
    result = runner.invoke(main, ["link", "replay", str(capture), "--json"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {capture}{expected}")


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(b"\xff\xfe\x00 binary\n", id="binary"),
        pytest.param(b'{"capture": "stampside-link", "version": 1, "started_unix": "yesterday"}\n', id="start-text"),
        pytest.param(b'{"capture": "stampside-link", "version": 1, "started_unix": 1e300}\n', id="start-huge"),
    ],
)
def test_a_capture_header_that_is_not_one_is_one_line(runner: CliRunner, tmp_path: Path, header: bytes) -> None:
    capture = tmp_path / "cap.jsonl"
    capture.write_bytes(header + GOOD_LINE)
    result = runner.invoke(main, ["link", "replay", str(capture)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: {capture}") and ("not a Stampside link capture" in line or "started_unix" in line)


def test_replaying_a_binary_file_from_a_real_shell_is_one_line_and_exit_2(tmp_path: Path) -> None:
    capture = tmp_path / "photo.jpg"
    capture.write_bytes(CAPTURE_HEADER + bytes(range(128, 256)) * 4)
    result = stampside("link", "replay", str(capture))
    assert result.returncode == 2
    assert result.stderr == f"Error: {capture}:2: not UTF-8 text\n"


def test_export_from_a_missing_database_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["export", "--db", f"sqlite:///{tmp_path / 'nope.db'}"])
    assert result.exit_code == 2
    assert "no database at" in result.output


# -- against the simulator ---------------------------------------------------------------------


def test_monitor_json_lines_all_parse_and_show_both_directions(sim: SimProcess, tmp_path: Path) -> None:
    link = str(tmp_path / "stamp")
    result = stampside("link", "monitor", link, "--json", "--arm", "--hex", "--duration", "2")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    kinds = {line["kind"] for line in lines}
    assert {"frame", "state"} <= kinds
    frames = [line for line in lines if line["kind"] == "frame"]
    assert {"rx", "tx"} == {f["dir"] for f in frames}
    types_rx = {f["type"] for f in frames if f["dir"] == "rx"}
    types_tx = {f["type"] for f in frames if f["dir"] == "tx"}
    assert {"DEVICE_INFO", "STAMP", "ARM_STATE"} <= types_rx
    assert "HELLO" in types_tx
    # Watching only: nothing is acknowledged and nothing is resumed.
    assert not types_tx & {"ACK", "RESUME"}
    assert all("hex" in f and isinstance(f["t"], float) for f in frames)
    stamp = next(f for f in frames if f["type"] == "STAMP")
    assert set(stamp["fields"]) == {"boot", "seq", "device_time_ms", "force_dn", "contact_ms", "zone"}


def test_monitor_with_db_stores_and_acknowledges(sim: SimProcess, tmp_path: Path) -> None:
    link = str(tmp_path / "stamp")
    db = f"sqlite:///{tmp_path / 'mon.db'}"
    result = stampside("link", "monitor", link, "--arm", "--db", db, "--duration", "2")
    assert result.returncode == 0, result.stderr
    assert " ACK " in result.stdout
    exported = stampside("export", "--db", db)
    rows = json_lines(exported.stdout)
    assert rows and [r["seq"] for r in rows] == sorted({r["seq"] for r in rows})


def test_send_prints_the_replies(sim: SimProcess, tmp_path: Path) -> None:
    link = str(tmp_path / "stamp")
    info = stampside("link", "send", link, "info")
    assert info.returncode == 0 and "serial: SS-000001" in info.stdout
    ping = json_lines(stampside("link", "send", link, "ping", "--json").stdout)[0]
    assert ping["command"] == "ping" and ping["rtt_ms"] > 0
    armed = json_lines(stampside("link", "send", link, "arm", "--json").stdout)[0]
    assert armed["reply"]["type"] == "ARM_STATE" and armed["reply"]["fields"]["armed"] == 1
    synced = stampside("link", "send", link, "time-sync")
    assert "TIME_SYNC_REPLY" in synced.stdout
    resumed = stampside("link", "send", link, "resume", "1", "1")
    assert resumed.returncode == 0
    assert "acknowledges every event up to seq 1" in resumed.stderr
    assert "RESUME_REPLY" in resumed.stdout


def test_capture_then_replay_decodes_both_directions(sim: SimProcess, tmp_path: Path) -> None:
    link = str(tmp_path / "stamp")
    capture = tmp_path / "cap.jsonl"
    result = stampside("link", "capture", link, str(capture), "--arm", "--duration", "1.5")
    assert result.returncode == 0, result.stderr
    raw = json_lines(capture.read_text())
    assert raw[0]["capture"] == "stampside-link"
    assert {"rx", "tx"} <= {line.get("dir") for line in raw[1:]}
    replay = stampside("link", "replay", str(capture), "--json")
    assert replay.returncode == 0, replay.stderr
    lines = json_lines(replay.stdout)
    frames = [line for line in lines if line["kind"] == "frame"]
    assert {"HELLO", "ARM"} <= {f["type"] for f in frames if f["dir"] == "tx"}
    assert {"DEVICE_INFO", "STAMP"} <= {f["type"] for f in frames if f["dir"] == "rx"}
    text = stampside("link", "replay", str(capture), "--hex")
    assert "HELLO" in text.stdout and "-- transport open" in text.stdout


def test_export_csv_has_a_header_and_the_truth_log_columns(sim: SimProcess, tmp_path: Path) -> None:
    link = str(tmp_path / "stamp")
    db = f"sqlite:///{tmp_path / 'rec.db'}"
    stampside("link", "monitor", link, "--arm", "--db", db, "--duration", "1.5")
    out = tmp_path / "stamps.csv"
    result = stampside("export", "--db", db, "--format", "csv", "--out", str(out))
    assert result.returncode == 0, result.stderr
    header, *rows = out.read_text().splitlines()
    assert header.split(",")[:7] == ["device_serial", "boot", "seq", "device_time_ms", "force", "contact_ms", "zone"]
    assert rows


def test_an_incompatible_device_is_one_line_naming_both_ranges_and_exit_2(tmp_path: Path) -> None:
    link = tmp_path / "stamp"
    sim = SimProcess("--pty", str(link), "--versions", "3-4", "--quiet")
    try:
        result = stampside("link", "record", str(link), "--db", f"sqlite:///{tmp_path / 'v.db'}", "--status-every", "0")
    finally:
        sim.stop()
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "Error" in line or "incompatible protocol" in line]
    assert errors == [
        "Error: incompatible protocol versions: the device speaks v3–v4, this host speaks v1–v2; "
        "update the device firmware or Stampside so the ranges overlap"
    ]


def test_link_states_prints_the_host_state_machine(runner: CliRunner) -> None:
    from stampside.firmware_protocol.host_events import TRANSITIONS, state_diagram

    drawn = runner.invoke(main, ["link", "states", "--format", "mermaid"])
    assert drawn.exit_code == 0 and drawn.output == state_diagram()
    table = runner.invoke(main, ["link", "states"])
    assert table.exit_code == 0
    assert len([line for line in table.output.splitlines() if ": " in line]) == len(TRANSITIONS)
    assert "ready    hello    silence" in table.output
