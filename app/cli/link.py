"""``stampside link``: watch, drive, capture and record a device link from the command line.

Every subcommand takes the link as a URL: a device path (``/dev/ttyACM0``), a pty path
(what ``stampside sim --pty`` prints or links), ``socket://HOST:PORT``, ``loop://``, or BLE:
``ble`` (the first stamp found), ``ble:NAME`` or ``ble:ADDRESS``. ``--hci SPEC`` (or
``$STAMPSIDE_BLE_HCI``) runs BLE through bumble's host stack on that HCI transport (the
simulator's virtual link, a USB dongle) instead of the operating system's Bluetooth.
A wrong URL, a busy port or a missing permission ends with one line saying what to do and
exit code 2. ``docs/link.md`` has the details and the capture format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import click

from stampside.app.cli.errors import CliError
from stampside.app.cli.link_common import (
    URL_HELP,
    hci_option,
    link_options,
    link_timeout_option,
    make_transport,
    open_sink,
    quiet_stdout,
    raise_session_error,
    run,
    setup_logging,
    url_argument,
    verbose_option,
    wait_for_stop,
)
from stampside.app.cli.link_events import events_command
from stampside.app.cli.link_faults import DeviceConditions
from stampside.app.cli.link_record import record_command, status_line
from stampside.devicelink.capture import (
    CAPTURE_FORMATS,
    CaptureError,
    CaptureMarker,
    CapturingTransport,
    open_capture_writer,
    replay_capture,
)
from stampside.devicelink.errors import CommandRefused, CommandTimeout, LinkError
from stampside.devicelink.events import FrameRecord, StateChange
from stampside.devicelink.extras import ExtraMissing, needs_extra
from stampside.devicelink.frame_text import (
    clock,
    format_frame_record,
    format_state_change,
    frame_record_dict,
    message_fields,
    state_change_dict,
)
from stampside.devicelink.session import LinkOptions, LinkSession
from stampside.firmware_protocol import Frame, Heartbeat, Message, Stamp

__all__ = ["URL_HELP", "link_group", "monitor_command"]


class _Printer:
    """Writes frame records and state changes to stdout, as text or as JSON lines."""

    def __init__(self, out: TextIO, *, as_json: bool, with_hex: bool, hide_heartbeats: bool = False) -> None:
        self.out = out
        self.as_json = as_json
        self.with_hex = with_hex
        self.hide_heartbeats = hide_heartbeats
        self.lines = 0

    def frame(self, record: FrameRecord) -> None:
        event = record.event
        if self.hide_heartbeats and isinstance(event, Frame) and isinstance(event.message, Heartbeat):
            return
        if self.as_json:
            self._write(json.dumps(frame_record_dict(record, with_hex=self.with_hex)))
        else:
            self._write(format_frame_record(record, with_hex=self.with_hex))

    def state(self, change: StateChange) -> None:
        if self.as_json:
            self._write(json.dumps(state_change_dict(change)))
        else:
            self._write(format_state_change(change))

    def note(self, kind: str, text: str, **extra: object) -> None:
        """A line of our own (replay markers, ...)."""
        if self.as_json:
            self._write(json.dumps({"t": round(time.time(), 6), "kind": kind, "text": text, **extra}))
        else:
            self._write(text)

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.lines += 1

    def flush(self) -> None:
        self.out.flush()


async def _pump_frames(session: LinkSession, printer: _Printer, conditions: DeviceConditions | None = None) -> None:
    frames = session.subscribe_frames()
    states = session.subscribe_states()

    async def frames_loop() -> None:
        async for record in frames:
            printer.frame(record)
            if conditions is not None:
                conditions.on_frame(record)  # for the closing status line; the frames say it already
            if not frames.pending():
                printer.flush()

    async def states_loop() -> None:
        async for change in states:
            printer.state(change)
            printer.flush()

    try:
        await asyncio.gather(frames_loop(), states_loop())
    finally:
        frames.close()
        states.close()


# == the group ===============================================================================


@click.group()
def link_group() -> None:
    """Talk to a device link: monitor, send commands, capture, replay, record; list stored link events.

    \b
    URL is a device path (/dev/ttyACM0), a pty path (stampside sim --pty PATH),
    socket://HOST:PORT (stampside sim --listen HOST:PORT), loop://, or BLE:
    ble (the first stamp found), ble:NAME or ble:ADDRESS ('stampside link scan'
    lists them). BLE uses the computer's Bluetooth, or with --hci SPEC (or
    $STAMPSIDE_BLE_HCI) bumble's host stack on that HCI transport, e.g. the
    simulator's virtual link: --hci tcp-client:127.0.0.1:7100.
    """


link_group.add_command(record_command)
link_group.add_command(events_command)


# == monitor =================================================================================


@link_group.command("monitor")
@url_argument
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (frames, bad frames, state changes).")
@click.option("--hex", "with_hex", is_flag=True, help="Show the raw bytes of every frame.")
@click.option("--arm", is_flag=True, help="Arm the device (and re-arm it after reconnects).")
@click.option(
    "--db",
    "db_url",
    metavar="DB_URL",
    help="Store the stamps in this database and acknowledge them (as record does). "
    "Without --db or --store nothing is stored and nothing is acknowledged.",
)
@click.option(
    "--store",
    is_flag=True,
    help="Store and acknowledge in the default database ($STAMPSIDE_DB or the user data folder).",
)
@click.option("--hide-heartbeats", is_flag=True, help="Leave HEARTBEAT frames out.")
@click.option("--duration", type=float, metavar="S", help="Stop after S seconds.")
@link_timeout_option
@hci_option
@verbose_option
def monitor_command(
    url: str,
    as_json: bool,
    with_hex: bool,
    arm: bool,
    db_url: str | None,
    store: bool,
    hide_heartbeats: bool,
    duration: float | None,
    link_timeout: float,
    hci: str | None,
    verbose: int,
) -> None:
    """Show the frames going both ways, decoded, with timestamps and bad-frame reports.

    Without --db the monitor only watches: it never acknowledges a stamp (an ACK would make
    the device forget stamps nobody stored) and it shows live stamps, not the device's
    buffer. With --db it stores and acknowledges every stamp, exactly once.
    """
    setup_logging(verbose)
    options = link_options(link_timeout)
    sink = open_sink(db_url) if (db_url or store) else None
    conditions = DeviceConditions(arming=arm)
    printer = _Printer(sys.stdout, as_json=as_json, with_hex=with_hex, hide_heartbeats=hide_heartbeats)
    if sink is None:
        click.echo("monitor: watching only; stamps are not stored or acknowledged (use --db to store)", err=True)

    async def main(stop: asyncio.Event) -> None:
        session = LinkSession(make_transport(url, hci), sink=sink, arm=True if arm else None, options=options)
        pump = asyncio.ensure_future(_pump_frames(session, printer, conditions))
        try:
            await session.start()
            await wait_for_stop(stop, session, duration, pump)
        finally:
            await session.close()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            printer.flush()
            if not as_json and session.device is not None:
                click.echo(status_line(session, "monitor", conditions), err=True)
        raise_session_error(session)

    run(main)


# == send ====================================================================================


def _print_reply(name: str, message: Message | None, as_json: bool, extra: dict[str, object] | None = None) -> None:
    extra = extra or {}
    if as_json:
        body: dict[str, object] = {"command": name, **extra}
        if message is not None:
            body["reply"] = {"type": message.TYPE.name, "fields": message_fields(message)}
        click.echo(json.dumps(body))
        return
    if message is not None:
        click.echo(f"{message.TYPE.name}")
        for key, value in message_fields(message).items():
            click.echo(f"  {key}: {value}")
    for key, value in extra.items():
        click.echo(f"  {key}: {value}")


SEND_COMMANDS = ("info", "ping", "arm", "disarm", "time-sync", "resume")


@link_group.command("send")
@url_argument
@click.argument("command", type=click.Choice(SEND_COMMANDS))
@click.argument("args", nargs=-1, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the reply as one JSON object.")
@click.option("--timeout", type=float, default=5.0, show_default=True, metavar="S", help="Give up after S seconds.")
@hci_option
@verbose_option
def send_command(
    url: str, command: str, args: tuple[int, ...], as_json: bool, timeout: float, hci: str | None, verbose: int
) -> None:
    """Connect, send one COMMAND, print the reply.

    \b
    info           the device's DEVICE_INFO (from the handshake)
    ping           round-trip time
    arm / disarm   turn counting on / off; prints ARM_STATE
    time-sync      send the host clock; prints TIME_SYNC_REPLY
    resume BOOT SEQ
                   RESUME(BOOT, SEQ): ACKNOWLEDGES every event up to SEQ (the device
                   drops them from its buffer!), then prints the reply and the replayed
                   stamps. "resume 0 0" acknowledges nothing: it lists the whole buffer.
    """
    setup_logging(verbose)
    expected_args = 2 if command == "resume" else 0
    if len(args) != expected_args:
        need = "BOOT SEQ" if expected_args else "no arguments"
        raise CliError(f"{command} takes {need}")

    async def main(stop: asyncio.Event) -> None:
        session = LinkSession(make_transport(url, hci), options=LinkOptions(link_timeout=max(2.0, timeout)))
        await session.start()
        try:
            try:
                info = await session.wait_connected(timeout)
            except TimeoutError:
                raise CliError(
                    f"no answer from a device at {url} within {timeout:g} s: is it switched on, and is this its port?"
                ) from None
            try:
                await _send(session, command, args, as_json, info_reply=info)
            except CommandTimeout as exc:
                raise CliError(f"{exc}: the link is too noisy or the device hangs") from None
            except CommandRefused as exc:
                raise CliError(str(exc)) from None
            except LinkError as exc:
                raise CliError(f"{command} failed: {exc}") from None
        finally:
            await session.close()

    run(main)


async def _send(session: LinkSession, command: str, args: tuple[int, ...], as_json: bool, info_reply: Message) -> None:
    if command == "info":
        _print_reply(
            command, info_reply, as_json, {"protocol_version": session.device.selected_version if session.device else 0}
        )
    elif command == "ping":
        rtt = await session.ping()
        _print_reply(command, None, as_json, {"rtt_ms": round(rtt * 1000, 3)})
    elif command == "arm":
        _print_reply(command, await session.arm(), as_json)
    elif command == "disarm":
        _print_reply(command, await session.disarm(), as_json)
    elif command == "time-sync":
        _print_reply(command, await session.time_sync(), as_json)
    else:
        boot, seq = args
        if seq > 0:
            click.echo(
                f"warning: RESUME({boot}, {seq}) acknowledges every event up to seq {seq}: "
                "the device drops them from its buffer, stored or not",
                err=True,
            )
        with session.subscribe_frames() as frames:
            reply = await session.resume(boot, seq)
            replayed = await _collect_replays(frames, reply.count)
        _print_reply(command, reply, as_json, {"replayed": len(replayed)})
        for stamp in replayed:
            if as_json:
                click.echo(json.dumps({"type": "STAMP", "replay": True, "fields": message_fields(stamp)}))
            else:
                click.echo("STAMP [REPLAY] " + " ".join(f"{k}={v}" for k, v in message_fields(stamp).items()))


async def _collect_replays(frames: AsyncIterator[FrameRecord], count: int, quiet: float = 1.0) -> list[Stamp]:
    stamps: list[Stamp] = []
    iterator = frames.__aiter__()
    while len(stamps) < count:
        try:
            record = await asyncio.wait_for(iterator.__anext__(), quiet)
        except (TimeoutError, StopAsyncIteration):
            break
        event = record.event
        if isinstance(event, Frame) and isinstance(event.message, Stamp) and event.replay:
            stamps.append(event.message)
    return stamps


# == capture and replay ======================================================================


@link_group.command("capture")
@url_argument
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--arm", is_flag=True, help="Arm the device (and re-arm it after reconnects).")
@click.option("--duration", type=float, metavar="S", help="Stop after S seconds.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(CAPTURE_FORMATS),
    default="auto",
    show_default=True,
    help="jsonl: Stampside's JSON Lines; pcapng: for Wireshark, one packet per frame; "
    "auto: pcapng if FILE ends in .pcapng.",
)
@link_timeout_option
@hci_option
@verbose_option
def capture_command(
    url: str,
    file: Path,
    arm: bool,
    duration: float | None,
    fmt: str,
    link_timeout: float,
    hci: str | None,
    verbose: int,
) -> None:
    """Record every byte both ways, with timestamps, into FILE (see 'stampside docs link').

    The host side runs as monitor does (handshake, heartbeats, reconnects) and
    acknowledges nothing. Stop with Ctrl-C or --duration; read it back with
    'stampside link replay FILE'. A FILE ending in .pcapng (or --format pcapng)
    opens in Wireshark with the dissector 'stampside link dissector' writes.
    """
    setup_logging(verbose)
    options = link_options(link_timeout)

    async def main(stop: asyncio.Event) -> None:
        writer = open_capture_writer(file, url, fmt)
        session = LinkSession(
            CapturingTransport(make_transport(url, hci), writer), arm=True if arm else None, options=options
        )
        try:
            await session.start()
            click.echo(f"capturing {url} to {file}; Ctrl-C to stop", err=True)
            await wait_for_stop(stop, session, duration)
        finally:
            await session.close()
            writer.close()
        stats = session.stats()
        click.echo(
            f"captured {writer.chunks} chunks ({stats.bytes_rx} bytes in, {stats.bytes_tx} out, "
            f"{stats.frames_rx} frames in, {stats.bad_total} bad) to {file}",
            err=True,
        )
        raise_session_error(session)

    run(main)


@link_group.command("replay")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--hex", "with_hex", is_flag=True, help="Show the raw bytes of every frame.")
@click.option("--hide-heartbeats", is_flag=True, help="Leave HEARTBEAT frames out.")
def replay_command(file: Path, as_json: bool, with_hex: bool, hide_heartbeats: bool) -> None:
    """Decode a capture FILE (JSON Lines or pcapng) through the same decoder as a live link; print it like monitor."""
    printer = _Printer(sys.stdout, as_json=as_json, with_hex=with_hex, hide_heartbeats=hide_heartbeats)
    try:
        for item in replay_capture(file):
            if isinstance(item, CaptureMarker):
                printer.note(
                    "marker", f"{clock(item.wall)} -- transport {item.event}", event=item.event, t=round(item.wall, 6)
                )
            else:
                printer.frame(item)
        printer.flush()
    except CaptureError as exc:
        raise CliError(str(exc)) from None
    except BrokenPipeError:
        quiet_stdout()
        raise SystemExit(0) from None


@link_group.command("dissector")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the dissector to FILE instead of stdout ('-': stdout).",
)
def dissector_command(out: Path | None) -> None:
    """Print the Wireshark Lua dissector of the link, generated from the protocol schema.

    It decodes captures written by 'stampside link capture URL FILE.pcapng' (link type
    147, LINKTYPE_USER0): every field of every message, the CRC checked, bad frames
    flagged as malformed with the decoder's reason.

    \b
    Examples:
      stampside link dissector --out stampside.lua
      tshark -X lua_script:stampside.lua -r session.pcapng -Y 'stampside.stamp.seq > 100'
      stampside link dissector --out ~/.local/lib/wireshark/plugins/stampside.lua
    """
    from stampside.firmware_protocol.codegen.lua_dissector import render_dissector
    from stampside.firmware_protocol.schema import load

    text = render_dissector(load())
    if out is None or str(out) == "-":
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write the dissector to {out}: {exc.strerror or exc}") from None
    click.echo(
        f"wrote the Stampside dissector to {out}; open a capture with: wireshark -X lua_script:{out} FILE.pcapng",
        err=True,
    )


# == scan ====================================================================================


@link_group.command("scan")
@click.option("--timeout", type=float, default=5.0, show_default=True, metavar="S", help="Listen for S seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per stamp: name, address, rssi.")
@hci_option
@verbose_option
def scan_command(timeout: float, as_json: bool, hci: str | None, verbose: int) -> None:
    """List the stamps advertising nearby over BLE: name, address and signal strength (RSSI).

    Connect to one with 'stampside link record ble:NAME' (or ble:ADDRESS).
    """
    setup_logging(verbose)
    if timeout <= 0:
        raise CliError("--timeout must be more than 0 seconds")
    try:
        with needs_extra("ble"):
            from stampside.devicelink.ble_transport import scan
    except ExtraMissing as exc:
        raise CliError(str(exc)) from None

    async def main(stop: asyncio.Event) -> None:
        listen = asyncio.ensure_future(scan(hci, timeout))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({listen, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not listen.done():
            listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listen
            return
        found = listen.result()
        if as_json:
            for stamp in found:
                click.echo(json.dumps({"name": stamp.name, "address": stamp.address, "rssi": stamp.rssi}))
            return
        if not found:
            click.echo(
                f"no stamp found in {timeout:g} s: check that it is switched on and in range "
                "(or that the simulator runs with --ble)",
                err=True,
            )
            return
        click.echo(f"{'NAME':<10} {'ADDRESS':<38} RSSI")
        for stamp in found:
            click.echo(f"{stamp.name:<10} {stamp.address:<38} {stamp.rssi} dBm")

    run(main)


@link_group.command("states")
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "table"]), default="table", show_default=True,
    help=(
        "mermaid: the state diagram as 'stampside docs protocol' draws it; "
        "table: every transition with what causes it."
    ),
)
def states_command(fmt: str) -> None:
    """The host's side of the conversation as a state machine (firmware_protocol.host).

    \b
    Examples:
      stampside link states
      stampside link states --format mermaid > host-states.mmd
    """
    from stampside.firmware_protocol.host_events import INPUT_MEANING, TRANSITIONS, state_diagram

    if fmt == "mermaid":
        click.echo(state_diagram(), nl=False)
        return
    click.echo(f"{'FROM':8} {'TO':8} ON")
    for (state, event), target in TRANSITIONS.items():
        click.echo(f"{state.value:8} {target.value:8} {event.value}: {INPUT_MEANING[event]}")
    click.echo("Any other input in any state changes nothing.")
