"""``stampside app``: the chairside Textual app."""

from __future__ import annotations

from pathlib import Path

import click

from stampside.app.cli.errors import CliError
from stampside.app.cli.options import db_option, read_settings_file, settings_option


@click.command("app")
@click.option(
    "--device",
    "device_url",
    metavar="URL",
    help="The stamp's link URL: a serial port or pty path, or ble, ble:NAME, ble:ADDRESS for Bluetooth LE.",
)
@click.option(
    "--hci",
    "ble_hci",
    metavar="SPEC",
    envvar="STAMPSIDE_BLE_HCI",
    help="BLE only: reach the stamp through bumble's host stack on this HCI transport (tcp-client:HOST:PORT "
    "for the simulator's virtual link, usb:0 for a dongle) instead of the OS Bluetooth. Env: STAMPSIDE_BLE_HCI.",
)
@db_option
@click.option(
    "--protocol",
    "protocol_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A clinic's treatment protocol file [default: the built-in protocol].",
)
@settings_option
def app_command(
    device_url: str | None,
    ble_hci: str | None,
    db_url: str | None,
    protocol_file: Path | None,
    settings_file: str | None,
) -> None:
    """The chairside app: sign in with your PIN, choose the patient, then run a treatment session.

    The app locks after the settings' idle_lock_minutes without a key (the PIN unlocks it);
    overrides, screening verdicts, outcome entries and closing a session are signed with the
    PIN. PINs: `stampside practitioner add|set-pin`, or chosen at the first sign-in.

    A protocol file that does not validate is reported with its line and field (exit code 2);
    `stampside protocol check FILE` checks one without starting the app. So is a wrong setting
    (in the settings file or a STAMPSIDE_ variable), once the app has drawn its first frame;
    `stampside config show` checks them without starting it.

    A stamp on Bluetooth LE: --device ble:SS000001 (its advertised name), or plain ble for the
    first stamp found; add --hci tcp-client:HOST:PORT for the simulator's virtual link
    (`stampside sim --ble virtual --hci-serve ...` prints the spec; `stampside demo --ble` does
    it all). A link that cannot be opened is shown in the app as one message.
    """
    protocol = None  # the built-in one, which the app builds after its first paint
    if protocol_file is not None:
        from stampside.app.domain.treatment_protocol import ProtocolFileError, load_protocol

        try:
            protocol = load_protocol(protocol_file)
        except ProtocolFileError as exc:
            raise CliError(str(exc)) from None
    # The file is read here (a missing or malformed one stops the command at once); its values are
    # checked with the environment's in the app's worker, after the first paint (pydantic-settings).
    settings = read_settings_file(settings_file)
    # Textual is imported only when the app really starts, so `--help` and errors stay fast.
    from stampside.app.tui.app import AppConfig, create_app

    app = create_app(
        AppConfig(database=db_url, device_url=device_url, protocol=protocol, ble_hci=ble_hci, settings=settings)
    )
    app.run()
    if app.settings_problem:
        raise CliError(app.settings_problem)
    if app.return_code:
        raise SystemExit(app.return_code)
