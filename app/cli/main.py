"""Entry point of the ``stampside`` console script.

Each subcommand's module is imported only when that command runs (or when a listing such as
``stampside --help`` needs its one-line help), so ``stampside app`` does not pay for the
database, report, BLE and simulator modules before its first screen.
"""

from __future__ import annotations

import io
import sys
from importlib import import_module

import click

#: Command name → "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "sim": "stampside.simulator.cli:sim_command",
    "link": "stampside.app.cli.link:link_group",
    "export": "stampside.app.cli.export:export_command",
    "demo": "stampside.app.cli.demo:demo_command",
    "protocol": "stampside.app.cli.protocol:protocol_group",
    "app": "stampside.app.cli.app_command:app_command",
    "report": "stampside.app.cli.report:report_group",
    "demo-data": "stampside.app.cli.demo_data:demo_data_command",
    "config": "stampside.app.cli.config_command:config_group",
    "settings": "stampside.app.cli.config_command:settings_alias",
    "audit": "stampside.app.cli.audit:audit_group",
    "practitioner": "stampside.app.cli.practitioner:practitioner_group",
    "docs": "stampside.app.cli.docs_command:docs_command",
    "db": "stampside.app.cli.db_command:db_group",
    "board": "stampside.app.cli.board_command:board_command",
}


class LazyGroup(click.Group):
    """A group whose :data:`COMMANDS` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMANDS:
            return command
        module_name, _, attribute = COMMANDS[cmd_name].partition(":")
        loaded = getattr(import_module(module_name), attribute)
        if not isinstance(loaded, click.Command):  # pragma: no cover - a wrong COMMANDS entry
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        self.add_command(loaded, cmd_name)
        return loaded


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="stampside")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Stampside: chairside companion for a connected microneedling derma stamp.

    \b
    Quick tour:
      stampside demo                      the chairside app against a simulated stamp (--ble, --monitor)
      stampside sim --pty /tmp/stamp      a simulated stamp on a pty (see --help for faults)
      stampside link monitor /tmp/stamp   decoded frames, both directions
      stampside link record URL --db URL  headless collector (what QA scripts use)
      stampside export --db URL           stored stamps as JSONL or CSV
      stampside protocol show             the treatment protocol's steps
      stampside report cohort --db URL    reports: session, course, cohort, lot (HTML, JSON, CSV, PDF)
      stampside demo-data                 a demo cohort for QA and screenshots, in the demo's own database
      stampside config show               the clinic's settings in effect, and where each came from
      stampside audit verify --db URL     check the audit trail; audit show: who changed what, when
      stampside practitioner add NAME     a practitioner and their PIN (sign-in, signatures); set-pin, events
      stampside db backup FILE --db URL   the database: current, upgrade, history, backup
      stampside board --db URL            every chair's open session, live (read only)
      stampside docs [TOPIC]              the documentation: protocol, link, simulator, app, course, reports …
    """
    from stampside.app.storage.audit_actor import set_actor

    # The audit trail's actor until something more specific is known (the app's practitioner).
    set_actor(f"cli:{ctx.invoked_subcommand}" if ctx.invoked_subcommand else None)
    pass_undecodable_names_through(sys.stdout)


def pass_undecodable_names_through(stream: object) -> None:
    """Write a name that came in as bytes that are not UTF-8 back out as those bytes.

    Such a name can be a file name from the shell, which Python holds with surrogate escapes.
    ``ls`` prints it the same way. Without this, a UTF-8 locale's strict stdout fails on it with
    a traceback. stderr already escapes it.
    """
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="surrogateescape")
