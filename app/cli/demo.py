"""``stampside demo``: the chairside app against the built-in simulator, on the demo's own database.

This is the main job: a simulated stamp runs in its own process on a pty and the chairside
app connects to it. With ``--monitor`` the link monitor runs instead of the app: it arms the
stamp, shows every frame and stores every stamp exactly once. With ``--ble`` the simulated
stamp is a BLE peripheral on bumble's virtual link instead (no radio): it serves the app's
controller on a free local TCP port, and the app (or the monitor) reaches it through its
ordinary bleak code with the bumble backend, as ``--device ble:NAME --hci tcp-client:…``.
Without ``--db`` the records go into the demo's own database, never the clinic's
(``$STAMPSIDE_DB`` is not read): :func:`~stampside.app.storage.location.resolve_demo_database_url`.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from stampside.app.cli.errors import CliError
from stampside.app.cli.link import monitor_command
from stampside.app.cli.options import demo_db_option, read_settings, settings_option
from stampside.app.domain.treatment_protocol import (
    ProtocolFileError,
    TreatmentProtocol,
    default_protocol,
    load_protocol,
)
from stampside.app.settings import Settings
from stampside.app.storage.location import resolve_demo_database_url

#: How long the simulator may take to print its ready line.
READY_TIMEOUT = 20.0


#: Where the BLE demo's simulator serves the app's controller (port 0: a free one).
BLE_HCI_SERVE = "tcp-server:127.0.0.1:0"


@dataclass(frozen=True)
class DemoLink:
    """What the app opens: the device URL, and for BLE the HCI spec of the virtual link."""

    url: str
    hci: str | None = None

    def __str__(self) -> str:
        return f"{self.url} on the virtual BLE link ({self.hci})" if self.hci else self.url


def start_simulator(link: Path | None, sim_args: list[str]) -> tuple[subprocess.Popen[str], DemoLink]:
    """Start ``stampside sim --pty LINK`` (``link`` None: ``sim --ble virtual``, serving the app's
    controller on a free TCP port) in a child process and wait for its ready line."""
    where = ["--pty", str(link)] if link is not None else ["--ble", "virtual", "--hci-serve", BLE_HCI_SERVE]
    argv = [sys.executable, "-m", "stampside.app.cli", "sim", *where, *sim_args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    demo_link = _demo_link(line, link)
    if demo_link is None:
        proc.wait(READY_TIMEOUT)
        assert proc.stderr is not None
        reason = proc.stderr.read().strip().splitlines()
        raise CliError(reason[-1].removeprefix("Error: ") if reason else "the simulator did not start")
    return proc, demo_link


def _demo_link(ready_line: str, link: Path | None) -> DemoLink | None:
    """The link from the simulator's ready line (``pty …`` or ``ble NAME ADDRESS hci SPEC``)."""
    words = ready_line.split()
    if link is not None:
        return DemoLink(str(link)) if words[:1] == ["pty"] else None
    if len(words) >= 5 and words[0] == "ble" and words[3] == "hci":
        return DemoLink(f"ble:{words[1]}", words[4])
    return None


def run_app(
    device_url: str,
    database: str,
    protocol: TreatmentProtocol | None = None,
    ble_hci: str | None = None,
    settings: Settings | None = None,
) -> None:
    """The chairside app against ``device_url`` (through ``ble_hci`` for BLE), with ``protocol``
    (default: the built-in one)."""
    # Textual is imported only when the app really starts.
    from stampside.app.tui.app import AppConfig, create_app

    app = create_app(
        AppConfig(
            database=database,
            device_url=device_url,
            protocol=protocol or default_protocol(),
            ble_hci=ble_hci,
            settings=settings or Settings(),
        )
    )
    app.run()
    if app.return_code:
        raise SystemExit(app.return_code)


def stop_simulator(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@demo_db_option
@click.option(
    "--ble",
    is_flag=True,
    help="The simulated stamp is a Bluetooth LE peripheral on a virtual link (no radio), and the app "
    "connects over BLE instead of a pty.",
)
@click.option("--monitor", is_flag=True, help="Show the link's frames instead of the chairside app.")
@click.option("--json", "as_json", is_flag=True, help="With --monitor: one JSON object per line instead of text.")
@click.option("--hex", "with_hex", is_flag=True, help="With --monitor: show the raw bytes of every frame.")
@click.option("--heartbeats", is_flag=True, help="With --monitor: show HEARTBEAT frames too (hidden by default).")
@click.option("--duration", type=float, metavar="S", help="With --monitor: stop after S seconds.")
@click.option("--rate", type=float, metavar="HZ", help="Stamps per second (default: a human rate, 1–3 Hz).")
@click.option("--seed", type=int, metavar="N", help="Make the simulated stamping repeatable.")
@click.option(
    "--protocol",
    "protocol_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A clinic's treatment protocol file for the app [default: the built-in protocol].",
)
@settings_option
@click.pass_context
def demo_command(
    ctx: click.Context,
    db_url: str | None,
    ble: bool,
    monitor: bool,
    as_json: bool,
    with_hex: bool,
    heartbeats: bool,
    duration: float | None,
    rate: float | None,
    seed: int | None,
    protocol_file: Path | None,
    settings_file: str | None,
) -> None:
    """Run the chairside app against a simulated stamp, storing every stamp in the demo's own database.

    Without --db the demo's records go into the demo's own database (the first line says
    where), never into the clinic's: $STAMPSIDE_DB is not used.

    The simulator runs in its own process on a pty and stamps at a human rate once armed.
    With --ble it is a Bluetooth LE peripheral on bumble's virtual link instead (no radio,
    no Bluetooth needed), and the app reaches it through bleak as on a real stamp.
    In the app: sign in (ctrl+n adds you as practitioner; choose a PIN, typed twice; the demo
    data's practitioners have the PIN 1234), create a patient (n), start the session (s) and
    switch zones with f m v l r while the stamps come in; ctrl+d finishes stamping.
    With --monitor you see the link's frames instead (stamps, acknowledgements, replays, bad
    frames). Any other option is passed to the simulator, so its faults work here too, e.g.

    \b
      stampside demo --corrupt 0.01 --drop-every 10 --drop-for 3
      stampside demo --scenario flaky_link --monitor
      stampside demo --ble --ble-drop-notify 0.01 --ble-cut-every 20

    See `stampside sim --help` for them all. Quit the app with q; stop the monitor with Ctrl-C.
    """
    sim_args = list(ctx.args)
    if rate is not None:
        sim_args += ["--rate", str(rate)]
    if seed is not None:
        sim_args += ["--seed", str(seed)]
    if not any(a in ("-v", "--verbose") for a in sim_args):
        sim_args.append("--quiet")
    try:  # a bad protocol file is reported before the simulator starts
        protocol = None if protocol_file is None else load_protocol(protocol_file)
    except ProtocolFileError as exc:
        raise CliError(str(exc)) from None
    settings = read_settings(settings_file)
    database = resolve_demo_database_url(db_url, data_folder=settings.data_folder)
    click.echo(f"demo: storing into {'' if db_url else 'the demo database '}{database}", err=True)
    with tempfile.TemporaryDirectory(prefix="stampside-demo-") as tmp:
        proc, link = start_simulator(None if ble else Path(tmp) / "stamp", sim_args)
        try:
            if not monitor:
                run_app(link.url, database, protocol, link.hci, settings)
                return
            if not as_json:
                click.echo(f"demo: simulated stamp {link}; Ctrl-C to stop", err=True)
            ctx.invoke(
                monitor_command,
                url=link.url,
                hci=link.hci,
                as_json=as_json,
                with_hex=with_hex,
                arm=True,
                db_url=database,
                store=False,
                hide_heartbeats=not heartbeats,
                duration=duration,
                link_timeout=2.0,
                verbose=0,
            )
        finally:
            stop_simulator(proc)
