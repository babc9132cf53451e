"""``stampside protocol``: check and show treatment protocol files."""

from __future__ import annotations

from pathlib import Path

import click

from stampside.app.cli.errors import CliError
from stampside.app.domain.treatment_protocol import (
    DEFAULT_PROTOCOL_PATH,
    ProtocolFileError,
    TreatmentProtocol,
    default_protocol,
    load_protocol,
)


def _load(file: Path | None) -> TreatmentProtocol:
    try:
        return default_protocol() if file is None else load_protocol(file)
    except ProtocolFileError as exc:
        raise CliError(str(exc)) from None


@click.group("protocol")
def protocol_group() -> None:
    """Treatment protocol files: the steps, timers, volumes and gates of a session.

    Stampside ships the mission's protocol as its default. A clinic can write its own
    ('stampside docs treatment-protocol' describes the format field by field) and check it here
    before using it with `--protocol FILE`.
    """


@protocol_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def check_command(file: Path) -> None:
    """Validate FILE; a problem is reported with its line and field (exit code 2)."""
    protocol = _load(file)
    click.echo(f"{file}: OK — {protocol.label}, {len(protocol.steps)} steps")


@protocol_group.command("show")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def show_command(file: Path | None) -> None:
    """Print the steps of FILE (default: the built-in protocol)."""
    protocol = _load(file)
    click.echo(f"{protocol.label}  ({file or DEFAULT_PROTOCOL_PATH})")
    if protocol.description:
        click.echo(protocol.description)
    for number, step in enumerate(protocol.steps, start=1):
        extras = []
        if step.volume_ml:
            extras.append(f"{step.volume_ml:g} ml")
        if step.timer is not None:
            extras.append(f"timer {step.timer.seconds} s")
        if step.requires_lot:
            extras.append("lot and expiry")
        if step.gates:
            extras.append("gates: " + ", ".join(str(g.value) for g in step.gates))
        detail = f"  [{'; '.join(extras)}]" if extras else ""
        click.echo(f"{number}. {step.title} ({step.kind.value}){detail}")
    rules = protocol.aftercare
    click.echo(
        f"Aftercare: no hair wash for at least {rules.no_hair_wash_min_hours} h, "
        f"ideally {rules.no_hair_wash_ideal_hours} h. Course: {protocol.course.sessions} sessions, "
        f"every {protocol.course.interval_days} days."
    )
