"""No traceback anywhere in the CLI: Hypothesis feeds random bytes to `link replay` and random
arguments to every command.

Every command of the click tree under ``stampside`` is found by walking it from
``app.cli.main:main``: groups, their subcommands, and commands added later, with no edit here.
Each one gets random argument lists. They are built from its own option names and choices, from
values of every kind, and from junk tokens. The values include numbers at their extremes, junk
text, a garbage file, a folder, missing paths, a clinic database, and database URLs that are
typos. Whatever it is given, a command must end with exit code 0, 1 or 2 and no uncaught
exception. Exit 0 is for help or a command that did its job. Exit 2 is a usage error or a one-line
``Error:``. Exit 1 is what click itself gives a plain ClickException.

Some commands run until stopped once their arguments happen to be valid. They get arguments
that end them at once (:data:`FAIL_FAST`) while the rest stays random. The commands run in
process, through click's CliRunner, each example in a fresh copy of the same files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stampside.app.cli.main import main
from stampside.app.storage import DatabaseSink, open_database
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.firmware_protocol import Ack, DeviceInfo, Heartbeat, Hello, Role, Stamp
from stampside.firmware_protocol.connection import Connection

# -- the command tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]
    command: click.Command
    params: tuple[click.Parameter, ...]

    @property
    def name(self) -> str:
        return " ".join(("stampside", *self.path))


def _walk() -> list[Command]:
    found: list[Command] = []

    def visit(command: click.Command, ctx: click.Context, path: tuple[str, ...]) -> None:
        found.append(Command(path, command, tuple(command.get_params(ctx))))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, name
                visit(sub, click.Context(sub, parent=ctx, info_name=name), (*path, name))

    visit(main, click.Context(main, info_name="stampside"), ())
    return found


COMMANDS = _walk()
#: Every command's name: junk tokens are never one, so a group never runs a subcommand with
#: arguments that were not made to end it at once.
COMMAND_NAMES = frozenset(name for command in COMMANDS for name in command.path)

# -- the files every example starts with (relative to its own working folder) ---------------------

GARBAGE = "garbage.bin"
FOLDER = "folder"
MISSING = "missing/nothing"
CLINIC_DB = "clinic.db"
CAPTURE = "capture.jsonl"
#: TOML that parses, with values of the wrong kinds for a settings, protocol or scenario file.
WRONG_TOML = "wrong.toml"
EMPTY = "empty.toml"
#: The URL the link commands are given: a path that does not exist, so they fail at once.
NO_PORT = "no-such-port"
#: A protocol file that does not load: `app` and `demo` stop before the app or the simulator starts.
#: No value below is ever a protocol file that loads.
BAD_PROTOCOL = GARBAGE

PATHS = (GARBAGE, FOLDER, MISSING, CLINIC_DB, CAPTURE, WRONG_TOML, EMPTY, NO_PORT, "", "-", ".")
#: What --db is given: never a new database (a file not there yet, or sqlite:// in memory), which
#: demo-data would spend seconds filling.
DATABASES = (
    CLINIC_DB,
    f"sqlite:///{CLINIC_DB}",
    f"sqlite:///{MISSING}/x.db",
    GARBAGE,
    FOLDER,
    "",
    "nonsense://x",
    "postgresql+nope://h/d",
    "postgresql://u@h:notaport/d",
    "://",
)


@dataclass(frozen=True)
class FailFast:
    """How a command that would run until stopped is made to end at once, and why."""

    why: str
    #: Fixed values of some parameters (by name); the other parameters stay random.
    fixed: dict[str, str]
    #: Tokens after the random ones: click keeps an option's last value.
    suffix: tuple[str, ...] = ()


_NO_PORT = "connects to URL, then runs until stopped: URL is a port that does not exist"
FAIL_FAST: dict[tuple[str, ...], FailFast] = {
    ("app",): FailFast("the chairside app runs full-screen until quit", {"protocol_file": BAD_PROTOCOL}),
    ("demo",): FailFast("the simulator and the app run until quit", {"protocol_file": BAD_PROTOCOL}),
    # A dangling option that eats "--duration" leaves "0.05" as an unexpected argument: a usage error.
    ("sim",): FailFast("a simulator serves until stopped", {"duration": "0.05"}, suffix=("--duration", "0.05")),
    ("link", "monitor"): FailFast(_NO_PORT, {"url": NO_PORT}),
    ("link", "record"): FailFast(_NO_PORT, {"url": NO_PORT}),
    ("link", "capture"): FailFast(_NO_PORT, {"url": NO_PORT}),
    ("link", "send"): FailFast(_NO_PORT, {"url": NO_PORT}),
    ("link", "scan"): FailFast("a BLE scan listens for --timeout seconds", {"timeout": "0.01"}, ("--timeout", "0.01")),
}

#: Commands that do more per example (a simulator starts): fewer examples keep the whole test fast.
EXAMPLES: dict[tuple[str, ...], int] = {("sim",): 8}
DEFAULT_EXAMPLES = 12


def _junk_text(text: str) -> bool:
    """Junk names no command, and no host (``:``), BLE stamp or TCP URL that could be slow to reach.
    It holds no NUL, which no command line can carry."""
    return text not in COMMAND_NAMES and ":" not in text and not text.lower().startswith("ble") and "\0" not in text


#: Text, and bytes that are not UTF-8 as a shell passes them (Python decodes them with surrogateescape).
junk = st.one_of(st.text(max_size=12), st.binary(min_size=1, max_size=6).map(os.fsdecode)).filter(_junk_text)
numbers = st.sampled_from(["0", "-1", "1", "65536", "4294967296", str(2**64), "1e400", "nan", "-inf", "0x10", "1-2"])
values = st.one_of(junk, st.integers().map(str), numbers, st.floats().map(str), st.sampled_from(PATHS))


def _value(param: click.Parameter) -> st.SearchStrategy[str]:
    """A value for ``param``: mostly of its type, sometimes anything."""
    kind = param.type
    if "--db" in param.opts:
        return st.sampled_from(DATABASES)
    if isinstance(kind, click.Choice):
        typed: st.SearchStrategy[str] = st.sampled_from([str(choice) for choice in kind.choices])
    elif isinstance(kind, click.types.IntParamType):
        typed = st.integers(-3, 5000).map(str) | st.integers().map(str)
    elif isinstance(kind, click.types.FloatParamType):
        typed = st.floats(-1, 50).map(str) | st.floats().map(str)
    else:
        typed = st.sampled_from(PATHS) | junk | st.sampled_from(["P-0042", "DEMO-001", "LOT-24A17", "1"])
    return st.one_of(typed, typed, typed, values)


def _option(param: click.Option) -> st.SearchStrategy[list[str]]:
    names = st.sampled_from([*param.opts, *param.secondary_opts])
    if param.is_flag or param.count:
        return names.map(lambda name: [name])
    return st.tuples(names, _value(param)).map(list)


@st.composite
def arguments(draw: st.DrawFn, command: Command) -> list[str]:
    """Random arguments for ``command``: its positionals in order, then options (and now and then
    a junk token, or help, which ends everything at once and so comes rarely)."""
    fail_fast = FAIL_FAST.get(command.path, FailFast("", {}))
    fixed = fail_fast.fixed
    argv: list[str] = []
    for param in command.params:
        if not isinstance(param, click.Argument):
            continue
        if param.name in fixed:
            argv.append(fixed[param.name])
        elif param.nargs == -1:
            argv += draw(st.lists(_value(param), max_size=3))
        elif draw(st.integers(0, 9)):  # now and then left out
            argv.append(draw(_value(param)))
    positionals = len(argv)
    options = [param for param in command.params if isinstance(param, click.Option)]
    for param in options:
        if param.name in fixed:  # first, so that a random value of the same option would win: none is given
            argv += [param.opts[-1], fixed[param.name]]
    random_options = [_option(param) for param in options if param.name not in fixed and not param.is_eager]
    if random_options:
        for part in draw(st.lists(st.one_of(random_options), max_size=6)):
            argv += part
    if draw(st.integers(0, 4)) == 0:
        argv.insert(draw(st.integers(positionals, len(argv))), draw(junk))
    eager = [name for param in options if param.is_eager for name in param.opts]
    if eager and draw(st.integers(0, 19)) == 0:
        argv.append(draw(st.sampled_from(eager)))
    return [*argv, *fail_fast.suffix]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files each example gets a fresh copy of."""
    folder = tmp_path_factory.mktemp("cli-fuzz")
    (folder / GARBAGE).write_bytes(bytes(range(256)) * 3)
    (folder / FOLDER).mkdir()
    (folder / EMPTY).write_text("")
    (folder / WRONG_TOML).write_text(
        'name = 5\ndb = 7\ndata_folder = ["x"]\ntimezone = "Mars/Olympus"\nidle_lock_minutes = -1\n'
        '[clinic]\nphone = 1\n[keys]\nadvance = "q"\n[faults]\ndrop_for = "x"\n[device]\nserial = 12\n'
        '[[steps]]\nkind = 3\n[[timeline]]\nat_stamp = "soon"\n'
    )
    (folder / CAPTURE).write_text(
        '{"capture": "stampside-link", "version": 1, "url": "/tmp/stamp", "started_unix": 1764068400.0}\n'
        '{"t": 0.0, "event": "open"}\n'
        f'{{"t": 0.001, "dir": "tx", "hex": "{Connection(Role.HOST).send(Hello(1, 2)).hex(" ")}"}}\n'
    )
    clinic = open_database(str(folder / CLINIC_DB))
    try:
        with clinic.Session.begin() as session:
            create_patient(session, NewPatient(code="P-0042", name="A Patient", birth_year=1970), now=datetime.now(UTC))
        info = DeviceInfo("SS-000001", 2, 1, 0, 0, 1, 1, 1, 2000, 1001, 3, 100, 88, 1, 0)
        DatabaseSink(clinic).open_device(info)
    finally:
        clinic.close()
    # The demo's own database holds a record that is not the demo's: demo-data refuses it at once.
    demo = folder / "data-home" / "stampside" / "demo"
    demo.mkdir(parents=True)
    shutil.copy(folder / CLINIC_DB, demo / "demo.db")
    (folder / "config").mkdir()
    return folder


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, templates: Path, args: list[str], files: dict[str, bytes] | None = None) -> Result:
    """``stampside ARGS`` in a fresh copy of the templates, with nothing of the user's environment."""
    with _example_folder(templates) as here:
        for name, data in (files or {}).items():
            (here / name).write_bytes(data)
        env = {
            "STAMPSIDE_DB": CLINIC_DB,
            "XDG_DATA_HOME": str(here / "data-home"),
            "XDG_CONFIG_HOME": str(here / "config"),
            **{name: None for name in os.environ if name.startswith("STAMPSIDE_") and name != "STAMPSIDE_DB"},
        }
        return runner.invoke(main, args, env=env)


@contextlib.contextmanager
def _example_folder(templates: Path) -> Iterator[Path]:
    """A fresh copy of the templates, as the working folder."""
    with tempfile.TemporaryDirectory(prefix="stampside-fuzz-") as temp:
        here = Path(temp) / "here"
        shutil.copytree(templates, here)
        before = os.getcwd()
        os.chdir(here)
        try:
            yield here
        finally:
            os.chdir(before)


def assert_no_traceback(result: Result, args: list[str]) -> None:
    where = f"stampside {' '.join(args)!r}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        raise AssertionError(f"{where} raised:\n{''.join(traceback.format_exception(*result.exc_info))}")
    assert result.exit_code in (0, 1, 2), f"{where} exited {result.exit_code}:\n{result.output}"
    assert "Traceback" not in result.output, f"{where}:\n{result.output}"
    if result.exit_code:  # an Error: line, or click's usage (a group given no command shows its help)
        assert any(word in result.output for word in ("Error", "Usage:", "Aborted")), f"{where}:\n{result.output}"


# -- random arguments to every command --------------------------------------------------------------


def test_the_walk_finds_every_command_and_the_blocking_ones_exist() -> None:
    by_path = {command.path: command for command in COMMANDS}
    assert {("sim",), ("link", "replay"), ("report", "cohort"), ("protocol", "show")} <= set(by_path)
    for path, fail_fast in FAIL_FAST.items():  # a renamed command or parameter keeps its way of ending at once
        assert set(fail_fast.fixed) <= {param.name for param in by_path[path].params}, path


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_random_arguments_never_end_in_a_traceback(command: Command, runner: CliRunner, templates: Path) -> None:
    @settings(
        max_examples=EXAMPLES.get(command.path, DEFAULT_EXAMPLES),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(arguments(command))
    def check(args: list[str]) -> None:
        argv = [*command.path, *args]
        assert_no_traceback(invoke(runner, templates, argv), argv)

    check()


# -- random bytes to link replay -------------------------------------------------------------------

REPLAY_EXAMPLES = 80
HEADER = b'{"capture": "stampside-link", "version": 1, "url": "/tmp/stamp", "started_unix": 1764068400.0}\n'
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def _frames() -> list[bytes]:
    """Whole frames both ways, as the link carries them."""
    host, device = Connection(Role.HOST), Connection(Role.DEVICE)
    info = DeviceInfo("SS-000001", 2, 1, 0, 0, 1, 1, 1, 2000, 1001, 3, 100, 88, 1, 0)
    return [
        host.send(Hello(1, 2)),
        device.send(info),
        device.send(Stamp(1, 5, 35, 63, 180, 2)),
        device.send(Heartbeat(1, 5, 0, 1)),
        host.send(Ack(1, 5)),
    ]


@st.composite
def wire_bytes(draw: st.DrawFn) -> bytes:
    """Bytes as a chunk of the link: garbage, or whole frames with now and then a byte changed or cut."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(_frames()), min_size=1, max_size=4))))
    if draw(st.booleans()):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[draw(st.integers(0, len(data))) :] if draw(st.booleans()) else data)


@st.composite
def capture_lines(draw: st.DrawFn) -> bytes:
    """A line as a capture holds them, now and then with a field replaced by anything."""

    def mostly(valid: st.SearchStrategy[Any]) -> Any:
        return draw(json_values) if draw(st.integers(0, 24)) == 0 else draw(valid)

    line: dict[str, object] = {
        "t": mostly(st.floats(min_value=0, max_value=1e4)),
        "dir": mostly(st.sampled_from(["rx", "tx"])),
        "hex": mostly(wire_bytes().map(lambda b: b.hex(" "))),
    }
    if draw(st.integers(0, 3)) == 0:
        line = {"t": line["t"], "event": mostly(st.sampled_from(["open", "close"]))}
    if draw(st.integers(0, 24)) == 0:
        del line[draw(st.sampled_from(sorted(line)))]
    return json.dumps(line).encode() + b"\n"


captures = st.one_of(
    st.binary(max_size=2000),
    st.binary(max_size=2000).map(lambda body: HEADER + body),
    st.lists(capture_lines(), max_size=12).map(lambda lines: HEADER + b"".join(lines)),
    st.tuples(st.lists(capture_lines(), max_size=6), st.binary(max_size=50)).map(
        lambda parts: HEADER + b"".join(parts[0]) + parts[1]
    ),
)


@settings(max_examples=REPLAY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=captures, flags=st.lists(st.sampled_from(["--json", "--hex", "--hide-heartbeats"]), unique=True))
def test_random_bytes_to_link_replay_never_end_in_a_traceback(
    body: bytes, flags: list[str], runner: CliRunner, templates: Path
) -> None:
    args = ["link", "replay", "random.jsonl", *flags]
    result = invoke(runner, templates, args, files={"random.jsonl": body})
    assert_no_traceback(result, args)
    assert result.exit_code in (0, 2)
