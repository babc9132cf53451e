"""``stampside sim``: a simulated derma stamp on a pty or a TCP port, with faults on demand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from stampside.simulator.config import SimConfig
from stampside.simulator.errors import SimulatorError
from stampside.simulator.runner import Simulator
from stampside.simulator.scenario import Loc, build_config, read_scenario, resolve_scenario, shipped_scenarios
from stampside.simulator.state import default_state_path


class CliError(click.ClickException):
    """A problem the user can fix: printed as ``Error: …`` with exit code 2, like every stampside command."""

    exit_code = 2


#: Every option that sets a configuration field, with the field's path in :class:`SimConfig`.
OPTION_FIELDS: dict[str, Loc] = {
    "pty": ("link", "pty"),
    "listen": ("link", "listen"),
    "baud": ("link", "baud"),
    "ble": ("ble", "hci"),
    "hci_serve": ("ble", "hci_serve"),
    "ble_name": ("ble", "name"),
    "ble_address": ("ble", "address"),
    "ble_mtu": ("ble", "mtu"),
    "ble_drop_notify": ("ble", "drop_notify"),
    "ble_notify_delay": ("ble", "notify_delay"),
    "ble_cut_every": ("ble", "cut_every"),
    "ble_refuse": ("ble", "refuse"),
    "drop_every": ("faults", "drop_every"),
    "drop_for": ("faults", "drop_for"),
    "drop_mode": ("faults", "drop_mode"),
    "corrupt": ("faults", "corrupt"),
    "truncate": ("faults", "truncate"),
    "duplicate": ("faults", "duplicate"),
    "reboot_every": ("faults", "reboot_every"),
    "serial": ("device", "serial"),
    "hw_rev": ("device", "hw_revision"),
    "firmware": ("device", "firmware"),
    "versions": ("device", "versions"),
    "battery": ("device", "battery"),
    "battery_per_stamp": ("device", "battery_per_stamp"),
    "needle_um": ("device", "needle_um"),
    "head_id": ("device", "head_id"),
    "head_uses": ("device", "head_uses"),
    "footprint_mm2": ("device", "footprint_mm2"),
    "buffer_size": ("device", "buffer_size"),
    "boot": ("device", "boot"),
    "epoch": ("device", "epoch"),
    "armed": ("device", "armed"),
    "reboot_silence": ("device", "reboot_silence"),
    "rate": ("stamping", "rate"),
    "stamps": ("stamping", "stamps"),
    "zones": ("stamping", "zones"),
    "seed": ("seed",),
    "truth": ("truth",),
    "duration": ("duration",),
    "exit_when_acked": ("exit_when_acked",),
}


def _parse_versions(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """``MIN-MAX`` or a single version, as a pair."""
    if value is None:
        return None
    low, _, high = value.partition("-")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise click.BadParameter(f"expected MIN-MAX such as 1-2, got {value!r}", ctx, param) from None


def _parse_epoch(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A u32 in decimal or hex (``0x…``)."""
    if value is None:
        return None
    text = value.strip().lower().replace("_", "")
    try:
        return int(text[2:], 16) if text.startswith("0x") else int(text, 10)
    except ValueError:
        message = f"expected a number such as 305419896 or 0x12345678, got {value!r}"
        raise click.BadParameter(message, ctx, param) from None


class _StateOption(click.Option):
    """``--state``: its help names the default file as it is when the help is shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = (
            "Keep the device's boot counter, seq, epoch and unacknowledged stamps in FILE between runs, "
            "as a real stamp keeps them in flash: the next run is the same stamp powered up again "
            f"[default: {default_state_path()}]."
        )
        return super().get_help_record(ctx)


def _epilog() -> str:
    return (
        "\b\nShipped scenarios (--scenario NAME): " + ", ".join(shipped_scenarios()) + "\n"
        "\b\nExamples:\n"
        "  stampside sim --pty /tmp/stamp --seed 1 --truth truth.jsonl\n"
        "  stampside sim --listen 127.0.0.1:7000 --rate 500 --corrupt 0.01\n"
        "  stampside sim --pty /tmp/stamp --scenario flaky_link --stamps 1000\n"
        "  stampside sim --ble virtual --hci-serve tcp-server:127.0.0.1:7100 --rate 50\n"
        "  stampside sim --ble usb:0          (a USB Bluetooth dongle: phones and laptops can connect)\n"
        "\b\nSee 'stampside docs simulator' for every setting, the scenario format and the truth log."
    )


_FLOAT = click.FLOAT
_INT = click.INT


@click.command(epilog=_epilog(), context_settings={"max_content_width": 100})
# -- where --------------------------------------------------------------------------
@click.option(
    "--pty",
    "pty",
    metavar="LINK",
    type=click.Path(path_type=Path),
    help="Serve a pty and symlink it at LINK (a stale symlink is replaced; a LINK another running "
    "simulator serves is refused). With neither --pty nor --listen, a pty is served without a symlink.",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve TCP instead, one client at a time (pyserial socket://). Port 0 picks a free port.",
)
@click.option("--baud", type=_INT, metavar="N", help="Throttle output to the line rate of N baud (10 bits a byte).")
# -- BLE ----------------------------------------------------------------------------
@click.option(
    "--ble",
    metavar="HCI",
    help="Be a BLE peripheral instead, on this bumble HCI transport (usb:0, "
    "hci-socket:0, serial:/dev/ttyUSB0) or 'virtual' (emulated controllers, no radio).",
)
@click.option(
    "--hci-serve",
    metavar="SPEC",
    help="With --ble virtual: serve the app's controller on "
    "tcp-server:HOST:PORT or unix-server:PATH (port 0 picks one); the ready line says what the app "
    "passes to --hci.",
)
@click.option(
    "--ble-name",
    metavar="NAME",
    help="Advertised name, ≤ 8 characters (default: the serial without separators, e.g. SS000001).",
)
@click.option("--ble-address", metavar="ADDR", help="Random static address (default: derived from the serial).")
@click.option(
    "--ble-mtu",
    type=_INT,
    metavar="N",
    help="Largest ATT MTU accepted, 23–517 (default 247; 23 means 20-byte notifications).",
)
@click.option("--ble-drop-notify", type=_FLOAT, metavar="RATE", help="Probability that a notification is lost.")
@click.option("--ble-notify-delay", type=_FLOAT, metavar="S", help="Hold every notification back S seconds.")
@click.option("--ble-cut-every", type=_FLOAT, metavar="S", help="Disconnect in the middle of a frame every S seconds.")
@click.option("--ble-refuse", type=_INT, metavar="N", help="Refuse the first N connections (accept, drop at once).")
# -- stamping -----------------------------------------------------------------------
@click.option(
    "--armed/--disarmed",
    default=None,
    help="Count stamps from the start without waiting for ARM "
    "(default: disarmed). After a reboot the device is always disarmed.",
)
@click.option("--rate", type=_FLOAT, metavar="HZ", help="Stamps per second once armed (default: human, 1–3 Hz).")
@click.option("--stamps", type=_INT, metavar="N", help="Stop stamping after N counted stamps; keep serving the link.")
@click.option(
    "--zones", type=click.Choice(["none", "walk"]), help="none: zone 0 (unknown, default); walk: zones 1–5 in turn."
)
@click.option("--seed", type=_INT, metavar="N", help="Make the run repeatable (default: random, logged at start).")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write one JSON line per counted stamp: boot, seq, device_time_ms, force, contact_ms, zone.",
)
# -- the device ---------------------------------------------------------------------
@click.option("--serial", metavar="S", help="Serial number, up to 12 ASCII characters (default SS-000001).")
@click.option("--hw-rev", type=_INT, metavar="N", help="Hardware revision (default 2).")
@click.option("--firmware", metavar="X.Y.Z", help="Firmware version (default 1.0.0).")
@click.option(
    "--versions", metavar="MIN-MAX", callback=_parse_versions, help="Protocol versions the device speaks (default 1-2)."
)
@click.option("--battery", type=_FLOAT, metavar="PCT", help="Battery level at power-up, % (default 100).")
@click.option(
    "--battery-per-stamp",
    type=_FLOAT,
    metavar="PCT",
    help="Battery used by one stamp, % (default 0.0005: 200,000 stamps a charge; 0 for endless floods).",
)
@click.option("--needle-um", type=_INT, metavar="N", help="Needle length in µm (default 2000).")
@click.option("--head-id", type=_INT, metavar="ID", help="Id of the fitted stamp head (default 1001).")
@click.option("--head-uses", type=_INT, metavar="N", help="Sessions the head was used in before (default 0).")
@click.option("--footprint-mm2", type=_INT, metavar="N", help="Area one stamp covers, mm² (default 100).")
@click.option("--buffer-size", type=_INT, metavar="N", help="Event buffer capacity (default 4096).")
@click.option(
    "--boot",
    type=_INT,
    metavar="N",
    help="Start as a wiped device: boot counter N, seq from 1, a new epoch, empty buffer (the saved "
    "state is replaced). Default: continue from the state file (boot 1 for a new device).",
)
@click.option(
    "--epoch",
    metavar="N",
    callback=_parse_epoch,
    help="Numbering epoch, 1–0xFFFFFFFF, decimal or 0x hex (default: drawn at random when the numbering "
    "starts afresh). A saved state with another epoch is replaced.",
)
# -- faults -------------------------------------------------------------------------
@click.option("--drop-every", type=_FLOAT, metavar="S", help="Drop the link every S seconds.")
@click.option("--drop-for", type=_FLOAT, metavar="S", help="Each drop lasts S seconds (default 1).")
@click.option(
    "--drop-mode",
    type=click.Choice(["silent", "close"]),
    help="silent: discard bytes both ways (default); close: also close the TCP connection.",
)
@click.option("--corrupt", type=_FLOAT, metavar="RATE", help="Probability that a byte gets a bit flipped, both ways.")
@click.option("--truncate", type=_FLOAT, metavar="RATE", help="Probability that an outgoing frame is cut short.")
@click.option("--duplicate", type=_FLOAT, metavar="RATE", help="Probability that an outgoing frame is sent twice.")
@click.option("--reboot-every", type=_INT, metavar="N", help="Reboot after every N counted stamps.")
@click.option(
    "--reboot-silence", type=_FLOAT, metavar="S", help="Seconds a reboot keeps the device silent (default 0.3)."
)
# -- the run ------------------------------------------------------------------------
@click.option(
    "--scenario", metavar="FILE", help="A TOML scenario file, or the name of a shipped one. Flags override its values."
)
@click.option(
    "--state", "state_file", cls=_StateOption, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE"
)
@click.option("--no-state", is_flag=True, help="No state file: a new device (boot 1, seq from 1), nothing saved.")
@click.option("--duration", type=_FLOAT, metavar="S", help="Exit after S seconds.")
@click.option(
    "--exit-when-acked",
    is_flag=True,
    default=None,
    help="Exit once the --stamps N stamps are counted and the host acknowledged them all.",
)
@click.option("-q", "--quiet", is_flag=True, help="No status lines on stderr (errors only).")
@click.option("-v", "--verbose", is_flag=True, help="Every command received, and a status line every second.")
@click.pass_context
def sim_command(
    ctx: click.Context,
    /,
    scenario: str | None,
    state_file: Path | None,
    no_state: bool,
    quiet: bool,
    verbose: bool,
    **values: Any,
) -> None:
    """A simulated derma stamp that speaks the Stampside protocol, for QA and device work.

    It serves a pty (default), a TCP port or BLE, and prints one line on stdout when ready:

    \b
      pty /dev/pts/5 -> /tmp/stamp     (with --pty /tmp/stamp)
      pty /dev/pts/5                   (no --pty and no --listen)
      listen 127.0.0.1:7000            (with --listen)
      ble SS000001 DF:E4:EF:FE:35:D6 hci tcp-client:127.0.0.1:7100
                                       (with --ble virtual --hci-serve tcp-server:127.0.0.1:7100)

    Once a host has armed it (or with --armed) it stamps at a human rate, keeps every
    stamp in its buffer until the host acknowledges it, and keeps stamping through link
    drops. Faults can be switched on with the flags below or scripted in a scenario file.
    Status lines go to stderr. Ctrl-C or SIGTERM stops it cleanly: the pty link is
    removed, the truth log is flushed and the device's state is saved.

    Like a real stamp it remembers its boot counter, seq, numbering epoch and unacknowledged
    stamps between runs, per serial, in a state file (--state; the start line on stderr names
    it): the next run is boot + 1 and numbers on. --boot N starts a wiped device instead,
    --no-state a new one that saves nothing.
    """
    if no_state and state_file is not None:
        raise CliError("choose --state FILE or --no-state, not both")
    config = _build_config(ctx, scenario, values)
    _configure_logging(quiet, verbose)
    status_interval = None if quiet else (1.0 if verbose else 5.0)
    state = None if no_state else (state_file if state_file is not None else default_state_path())
    try:
        error = asyncio.run(_serve(config, status_interval, state))
    except SimulatorError as exc:
        raise CliError(str(exc)) from None
    if error is not None:
        raise click.ClickException(f"the simulator failed: {error}")


def _build_config(ctx: click.Context, scenario: str | None, values: dict[str, Any]) -> SimConfig:
    overrides: dict[str, Any] = {}
    labels: dict[Loc, str] = {}
    for name, path in OPTION_FIELDS.items():
        source = ctx.get_parameter_source(name)
        if source not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = values[name]
        if isinstance(value, Path):
            value = str(value)
        node = overrides
        for key in path[:-1]:
            node = node.setdefault(str(key), {})
        node[str(path[-1])] = value
        labels[path] = "--" + name.replace("_", "-")
    try:
        if scenario is None:
            return build_config(None, overrides, labels=labels)
        file = resolve_scenario(scenario)
        return build_config(read_scenario(file), overrides, source=f"scenario {file}", labels=labels)
    except SimulatorError as exc:
        raise CliError(str(exc)) from None


def _configure_logging(quiet: bool, verbose: bool) -> None:
    logger = logging.getLogger("stampside.sim")
    logger.setLevel(logging.ERROR if quiet else logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d sim: %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.propagate = False
    logging.getLogger("bumble").setLevel(logging.INFO if verbose else logging.ERROR)


async def _serve(config: SimConfig, status_interval: float | None, state: Path | None) -> BaseException | None:
    """Run until a signal or the end of the run; the simulator's internal error, if any."""
    sim = Simulator(config, keep_truth=False, status_interval=status_interval, state_file=state)
    await sim.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(BrokenPipeError):
            print(sim.ready_line, flush=True)
        stopped = asyncio.ensure_future(stop.wait())
        finished = asyncio.ensure_future(sim.wait_finished())
        await asyncio.wait({stopped, finished}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopped, finished):
            task.cancel()
    finally:
        await sim.stop()
        for sig in signals:
            loop.remove_signal_handler(sig)
    return sim.error
